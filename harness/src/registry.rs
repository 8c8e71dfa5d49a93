//! The one place where backends and techniques are listed.

use qbench_core::Backend;
use qbench_quant::recipe::{OrtCalibration, OrtDynamic, OrtStatic, Technique};

/// Every backend qbench knows, in table order.
pub fn backends() -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(qbench_ort::OrtBackend::default()),
        Box::new(qbench_tract::TractBackend::default()),
        Box::new(qbench_candle::CandleBackend),
    ]
}

/// The backend with this name.
pub fn backend(name: &str) -> Option<Box<dyn Backend>> {
    backends().into_iter().find(|b| b.name() == name)
}

/// Names of all backends.
pub fn backend_names() -> Vec<&'static str> {
    backends().iter().map(|b| b.name()).collect()
}

/// The FP32 baseline's row name; it is always run first.
pub const FP32: &str = "fp32";

/// Every quantization technique, in table order (the FP32 baseline comes before them).
pub fn techniques() -> Vec<Box<dyn Technique>> {
    let ort = |name, calibration, per_channel| -> Box<dyn Technique> {
        Box::new(OrtStatic {
            name,
            calibration,
            per_channel,
        })
    };
    vec![
        ort("ort-static-minmax", OrtCalibration::MinMax, false),
        ort("ort-static-entropy", OrtCalibration::Entropy, false),
        ort("ort-static-percentile", OrtCalibration::Percentile, false),
        ort(
            "ort-static-minmax-per-channel",
            OrtCalibration::MinMax,
            true,
        ),
        Box::new(OrtDynamic),
    ]
}

/// Names of all techniques, the FP32 baseline first.
pub fn technique_names() -> Vec<&'static str> {
    std::iter::once(FP32)
        .chain(techniques().iter().map(|t| t.name()))
        .collect()
}
