//! The AVA frame-mAP@0.5 against the ActivityNet evaluator PySlowFast ships (SEVERE's copy, run
//! by `tests/reference/make_ava_map_fixture.py` on random frames with duplicates and false
//! positives, distinct and tied scores): mAP and every class's AP to 1e-9, and the order NumPy's
//! argsort gives ties, which the AP follows.

use serde_json::Value;
use vpipe::metrics::ava::{frame_map, numpy_argsort, Detection, GroundTruth};

fn b(v: &Value) -> [f64; 4] {
    let a: Vec<f64> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    [a[0], a[1], a[2], a[3]]
}

#[test]
fn frame_map_equals_the_activitynet_evaluators() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ava/reference.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (i, c) in f["cases"].as_array().unwrap().iter().enumerate() {
        let gt: Vec<GroundTruth> = c["gt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().into(), b(&r[1]), r[2].as_u64().unwrap() as usize))
            .collect();
        let det: Vec<Detection> = c["det"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().into(), b(&r[1]), r[2].as_u64().unwrap() as usize, r[3].as_f64().unwrap()))
            .collect();
        let classes: Vec<usize> = (1..=c["classes"].as_u64().unwrap() as usize).collect();
        let (map, per_class) = frame_map(&gt, &det, &classes, 0.5);
        let m = &c["metrics"];
        let want = m["PascalBoxes_Precision/mAP@0.5IOU"].as_f64().unwrap();
        assert!((map - want).abs() < 1e-9, "case {i}: mAP {map}, evaluator {want}");
        for (cls, ap) in per_class {
            let key = format!("PascalBoxes_PerformanceByCategory/AP@0.5IOU/action {cls}");
            assert_eq!(ap.is_none(), m[&key].is_null(), "case {i} class {cls}");
            if let Some(ap) = ap {
                assert!((ap - m[&key].as_f64().unwrap()).abs() < 1e-9, "case {i} class {cls}: {ap} vs {}", m[&key]);
            }
        }
    }
}

#[test]
fn ties_sort_as_numpys_argsort() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ava/reference.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for c in f["argsort"].as_array().unwrap() {
        let v: Vec<f64> = c["values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let want: Vec<usize> = c["order"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        assert_eq!(numpy_argsort(&v), want, "{} values", v.len());
    }
}
