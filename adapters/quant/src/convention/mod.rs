//! Which framework's rule turns a calibrated range into a scale and a zero point.
//!
//! The same name ("int8 symmetric") means different numbers in different frameworks
//! (ONNX Runtime's symmetric int8 scale is absmax / 127 over [-127, 127]; PyTorch's is
//! absmax / 127.5 over [-128, 127]; `reduce_range` narrows ORT's weights but PyTorch's
//! activations); a result row records the [`Convention`] that produced its parameters.

pub mod onnxruntime;
pub mod pytorch;
pub mod tflite;

use crate::error::{QuantError, Result};
use crate::params::{QuantParams, Range};
use crate::quantize::Rounding;
use crate::scheme::QType;

/// What to produce: storage type, symmetry and range reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantSpec {
    /// Integer storage type.
    pub qtype: QType,
    /// Symmetric (`[-absmax, absmax]`) rather than affine.
    pub symmetric: bool,
    /// Framework's `reduce_range` (ORT: weights; PyTorch: activations; TFLite: none).
    pub reduce_range: bool,
}

impl QuantSpec {
    /// Shorthand constructor.
    pub fn new(qtype: QType, symmetric: bool, reduce_range: bool) -> Self {
        QuantSpec {
            qtype,
            symmetric,
            reduce_range,
        }
    }
}

/// A framework's scale / zero-point rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Convention {
    /// ONNX Runtime's quantization tool ([`onnxruntime::compute_scale_zp`]).
    OnnxRuntime,
    /// PyTorch observers ([`pytorch::calculate_qparams`], default eps).
    PyTorch,
    /// TFLite converter ([`tflite::params`], legacy float scale).
    TfLite,
}

impl Convention {
    /// Every convention.
    pub const ALL: [Convention; 3] = [
        Convention::OnnxRuntime,
        Convention::PyTorch,
        Convention::TfLite,
    ];

    /// Computes the parameters for a calibrated range.
    pub fn params(self, range: Range, spec: &QuantSpec) -> Result<QuantParams> {
        match self {
            Convention::OnnxRuntime => {
                onnxruntime::params(range, spec.qtype, spec.symmetric, spec.reduce_range)
            }
            Convention::PyTorch => pytorch::params(
                range,
                &pytorch::TorchQConfig {
                    qtype: spec.qtype,
                    symmetric: spec.symmetric,
                    reduce_range: spec.reduce_range,
                    custom_range: None,
                    eps: pytorch::DEFAULT_EPS,
                },
            ),
            Convention::TfLite => {
                if spec.reduce_range {
                    return Err(QuantError::Unsupported {
                        framework: "TFLite",
                        what: "reduce_range".into(),
                    });
                }
                tflite::params(range, spec.qtype, spec.symmetric)
            }
        }
    }

    /// Short machine-friendly name (`onnxruntime`, `pytorch`, `tflite`).
    pub fn name(self) -> &'static str {
        match self {
            Convention::OnnxRuntime => "onnxruntime",
            Convention::PyTorch => "pytorch",
            Convention::TfLite => "tflite",
        }
    }

    /// The framework source file and function the rule reproduces.
    pub fn source(self) -> &'static str {
        match self {
            Convention::OnnxRuntime => {
                "onnxruntime/python/tools/quantization/quant_utils.py: compute_scale_zp, get_qmin_qmax_for_qType"
            }
            Convention::PyTorch => {
                "torch/ao/quantization/observer.py: UniformQuantizationObserverBase._calculate_qparams"
            }
            Convention::TfLite => {
                "tensorflow/compiler/mlir/quantization/common/quantization_lib/quantization_utils.cc: GetQuantizedType + DownCastScale (legacy_float_scale)"
            }
        }
    }

    /// How the framework itself rounds when it quantizes values.
    pub fn rounding(self) -> Rounding {
        match self {
            Convention::OnnxRuntime | Convention::PyTorch => Rounding::HalfEven,
            Convention::TfLite => Rounding::HalfAwayFromZero,
        }
    }
}

impl std::fmt::Display for Convention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_different_numbers() {
        // "int8 symmetric" for absmax 1: ORT 1/127 on [-127,127], PyTorch 1/127.5 on [-128,127],
        // TFLite 2/254 = 1/127 on [-127,127].
        let r = Range::new(-1.0, 0.25).unwrap();
        let spec = QuantSpec::new(QType::INT8, true, false);
        let ort = Convention::OnnxRuntime.params(r, &spec).unwrap();
        let pt = Convention::PyTorch.params(r, &spec).unwrap();
        let tfl = Convention::TfLite.params(r, &spec).unwrap();
        assert_eq!((ort.scale, ort.qmin), (1.0 / 127.0, -127));
        assert_eq!((pt.scale, pt.qmin), (1.0 / 127.5, -128));
        assert_eq!((tfl.scale, tfl.qmin), (1.0 / 127.0, -127));
        assert!(ort.zero_point == 0 && pt.zero_point == 0 && tfl.zero_point == 0);
    }

    #[test]
    fn asymmetric_tie_differs_between_frameworks() {
        // Zero point -124.5 before rounding: ORT and PyTorch -> -124, TFLite -> -125.
        let r = Range::new(-0.0546875, 3.9296875).unwrap();
        let spec = QuantSpec::new(QType::INT8, false, false);
        let z: Vec<i32> = Convention::ALL
            .iter()
            .map(|c| c.params(r, &spec).unwrap().zero_point)
            .collect();
        assert_eq!(z, vec![-124, -124, -125]);
    }

    #[test]
    fn reduce_range_means_different_things() {
        let r = Range::new(-1.0, 1.0).unwrap();
        // ORT int8 reduce_range: [-64, 64]; PyTorch qint8: [-64, 63]; TFLite: unsupported.
        let spec = QuantSpec::new(QType::INT8, true, true);
        let ort = Convention::OnnxRuntime.params(r, &spec).unwrap();
        let pt = Convention::PyTorch.params(r, &spec).unwrap();
        assert_eq!((ort.qmin, ort.qmax), (-64, 64));
        assert_eq!((pt.qmin, pt.qmax), (-64, 63));
        assert!(Convention::TfLite.params(r, &spec).is_err());
    }

    #[test]
    fn metadata() {
        assert_eq!(Convention::OnnxRuntime.to_string(), "onnxruntime");
        assert!(Convention::PyTorch.source().contains("_calculate_qparams"));
        assert_eq!(Convention::TfLite.rounding(), Rounding::HalfAwayFromZero);
        assert_eq!(Convention::OnnxRuntime.rounding(), Rounding::HalfEven);
    }
}
