//! The one place where backends and techniques are listed.

use qbench_core::Backend;
use qbench_quant::recipe::{
    CaffeDfp, CaffeDfpSearch, DfpWidths, GgmlType, GgmlWeightOnly, OrtCalibration, OrtDynamic,
    OrtStatic, PytorchDynamic, PytorchStatic, Technique, TfliteDynamicRange, TfliteFloat16,
    TfliteFullInteger, TorchEngine, Tread, Uniform4,
};
use qbench_quant::QType;

/// Every backend qbench knows, in table order.
pub fn backends() -> Vec<Box<dyn Backend>> {
    vec![
        Box::new(qbench_ort::OrtBackend),
        Box::new(qbench_tract::TractBackend),
        Box::new(qbench_candle::CandleBackend),
    ]
}

/// The backend with this name.
pub fn backend(name: &str) -> Option<Box<dyn Backend>> {
    backends().into_iter().find(|b| b.name() == name)
}

/// The backend with this name, usable on this machine (`check` passed); an unknown name lists
/// the known ones.
pub fn available_backend(name: &str) -> anyhow::Result<Box<dyn Backend>> {
    let b = backend(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown backend '{name}' (known: {})",
            backend_names().join(", ")
        )
    })?;
    b.check()?;
    Ok(b)
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
            per_channel,
            ..OrtStatic::defaults(name, calibration)
        })
    };
    // ONNX Runtime's other documented options: uint8 activations (U8S8, U8U8) and reduce_range.
    let ort_u8 = |name, weight, per_channel, reduce_range| -> Box<dyn Technique> {
        Box::new(OrtStatic {
            per_channel,
            activation: QType::UINT8,
            weight,
            reduce_range,
            ..OrtStatic::defaults(name, OrtCalibration::MinMax)
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
        ort_u8("ort-static-u8s8", QType::INT8, false, false),
        ort_u8("ort-static-u8s8-per-channel", QType::INT8, true, false),
        ort_u8("ort-static-u8u8", QType::UINT8, false, false),
        ort_u8(
            "ort-static-u8s8-reduce-range-per-channel",
            QType::INT8,
            true,
            true,
        ),
        Box::new(OrtDynamic),
        Box::new(TfliteDynamicRange),
        Box::new(TfliteFullInteger {
            name: "tflite-full-int8",
            activation: QType::INT8,
        }),
        Box::new(TfliteFullInteger {
            name: "tflite-int16x8",
            activation: QType::INT16,
        }),
        Box::new(TfliteFloat16),
        Box::new(PytorchStatic {
            name: "pytorch-fbgemm",
            engine: TorchEngine::Fbgemm,
        }),
        Box::new(PytorchStatic {
            name: "pytorch-qnnpack",
            engine: TorchEngine::Qnnpack,
        }),
        Box::new(PytorchDynamic),
        Box::new(CaffeDfp {
            name: "caffe-dfp8",
            widths: DfpWidths {
                conv_weights: Some(8),
                fc_weights: Some(8),
                activations: Some(8),
            },
        }),
        Box::new(CaffeDfpSearch { margin_points: 2.0 }),
        Box::new(CaffeDfp {
            name: "caffe-weight-only",
            widths: DfpWidths {
                conv_weights: Some(8),
                fc_weights: Some(8),
                activations: None,
            },
        }),
        Box::new(GgmlWeightOnly {
            name: "weight-only-q4_0",
            kind: GgmlType::Q4_0,
        }),
        Box::new(GgmlWeightOnly {
            name: "weight-only-q8_0",
            kind: GgmlType::Q8_0,
        }),
        Box::new(Uniform4 {
            name: "uniform-midtread-4bit",
            kind: Tread::MidTread,
        }),
        Box::new(Uniform4 {
            name: "uniform-midrise-4bit",
            kind: Tread::MidRise,
        }),
    ]
}

/// Names of all techniques, the FP32 baseline first.
pub fn technique_names() -> Vec<&'static str> {
    std::iter::once(FP32)
        .chain(techniques().iter().map(|t| t.name()))
        .collect()
}
