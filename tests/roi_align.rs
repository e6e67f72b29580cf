//! RoIAlign built from libtorch tensor ops against `torchvision.ops.roi_align`: values and the
//! gradients to the features, on random features and boxes (some crossing the border), with
//! PySlowFast's settings (7×7, scale 1/16, adaptive sampling, aligned) and others. The fixture
//! is written by `tests/reference/make_roi_align_fixture.py`.

use serde_json::Value;
use tch::{Kind, Tensor};
use vpipe::model::roi_align::RoiAlign;

/// A nested JSON array of numbers as a float32 tensor of its shape.
fn tensor(v: &Value) -> Tensor {
    let mut shape = Vec::new();
    let mut cur = v;
    while let Some(a) = cur.as_array() {
        shape.push(a.len() as i64);
        cur = &a[0];
    }
    let mut flat = Vec::new();
    fn walk(v: &Value, out: &mut Vec<f32>) {
        match v.as_array() {
            Some(a) => a.iter().for_each(|x| walk(x, out)),
            None => out.push(v.as_f64().unwrap() as f32),
        }
    }
    walk(v, &mut flat);
    Tensor::from_slice(&flat).reshape(shape.as_slice())
}

#[test]
fn values_and_gradients_equal_torchvisions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/roi_align/reference.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (i, c) in f["cases"].as_array().unwrap().iter().enumerate() {
        let input = tensor(&c["input"]).set_requires_grad(true);
        let rois = tensor(&c["rois"]);
        let out = c["output_size"].as_u64().unwrap() as usize;
        let op = RoiAlign {
            output_size: (out, out),
            spatial_scale: c["spatial_scale"].as_f64().unwrap() as f32,
            sampling_ratio: c["sampling_ratio"].as_u64().unwrap() as usize,
            aligned: c["aligned"].as_bool().unwrap(),
        };
        let y = op.forward(&input, &rois).unwrap();
        let want = tensor(&c["output"]);
        assert_eq!(y.size(), want.size(), "case {i}");
        let err = (&y - &want).abs().max().double_value(&[]);
        assert!(err < 1e-5, "case {i}: values differ by {err}");
        (&y * tensor(&c["grad_output"])).sum(Kind::Float).backward();
        let gerr = (input.grad() - tensor(&c["grad_input"])).abs().max().double_value(&[]);
        assert!(gerr < 1e-5, "case {i}: gradients differ by {gerr}");
        assert!(want.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
}
