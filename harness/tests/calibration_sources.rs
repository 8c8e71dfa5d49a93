//! The two calibration sources see the same tensors with the same values: ONNX Runtime (every
//! float tensor exposed as a graph output, the default) and candle (the fallback).

mod common;

use qbench::calibration::CandleCalibration;
use qbench::ort_calibration::OrtCalibration;
use qbench::scenario::Scenario;
use qbench_quant::recipe::ActivationSource;

#[test]
fn ort_and_candle_calibration_agree_on_every_range() {
    let sc = Scenario::load_resolved(&common::scenarios(), "resnet").unwrap();
    let fp32 = sc.fp32_artifact().unwrap();
    let model = qbench_onnx::Model::load(&fp32.path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut ort = OrtCalibration::new(&fp32, &model, &sc, dir.path()).unwrap();
    let mut candle = CandleCalibration::new(&fp32, sc.calib_data().unwrap()).unwrap();
    let a = ort.global_minmax().unwrap();
    let b = candle.global_minmax().unwrap();
    // Every tensor candle shows that a recipe can quantize (node outputs and the input) is
    // observed on ONNX Runtime too.
    for name in b.keys() {
        assert!(a.contains_key(name), "ONNX Runtime did not show {name}");
    }
    assert!(a.len() >= 10, "{} tensors", a.len());
    for (name, r) in &a {
        let c = b
            .get(name)
            .unwrap_or_else(|| panic!("candle did not show {name}"));
        let tol = 1e-4 * (c.max - c.min).abs().max(1.0);
        assert!(
            (r.min - c.min).abs() <= tol && (r.max - c.max).abs() <= tol,
            "{name}: ort [{}, {}] vs candle [{}, {}]",
            r.min,
            r.max,
            c.min,
            c.max
        );
    }
}
