//! PySlowFast's Charades mAP (SEVERE's `get_map`: classes with a positive, scikit-learn's
//! `average_precision_score`, their mean) equals vpipe's `mean_average_precision` on fixtures made
//! by `tests/reference/make_charades_map_fixture.py` with scikit-learn itself, tied scores
//! included.

use serde_json::Value;

#[test]
fn charades_map_equals_sklearns() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/charades/map.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (i, c) in f["cases"].as_array().unwrap().iter().enumerate() {
        let scores: Vec<Vec<f32>> = c["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect())
            .collect();
        let labels: Vec<Vec<usize>> = c["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect())
            .collect();
        let got = vpipe::metrics::mean_average_precision(&scores, &labels);
        let want = c["map"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-9, "case {i}: {got} vs sklearn {want}");
    }
}
