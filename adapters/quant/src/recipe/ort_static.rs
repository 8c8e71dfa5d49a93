//! ONNX Runtime `quantize_static` recipes: QDQ, int8 activations (asymmetric) and int8 weights
//! (symmetric), per tensor unless `per_channel`, with ORT's calibrators.

use qbench_core::Format;
use qbench_onnx::Model;

use super::{calibrate, ActivationSource, Quantized, Technique};
use crate::error::Result;
use crate::observer::{EntropyObserver, MinMaxObserver, Observer, PercentileObserver};
use crate::qdq::{ort_qdq, OrtQdqConfig};

/// ORT's calibration methods, with ORT's default parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrtCalibration {
    /// Global min/max over the calibration set.
    MinMax,
    /// KL-divergence threshold search, ORT defaults (128 bins / 128 quantized bins).
    Entropy,
    /// Percentile 99.999 over a 2048-bin histogram (ORT defaults).
    Percentile,
}

/// One `quantize_static` configuration.
#[derive(Clone, Debug)]
pub struct OrtStatic {
    pub name: &'static str,
    pub calibration: OrtCalibration,
    pub per_channel: bool,
}

impl OrtStatic {
    fn observer(&self) -> Box<dyn Observer> {
        match self.calibration {
            OrtCalibration::MinMax => Box::new(MinMaxObserver::global()),
            OrtCalibration::Entropy => Box::new(EntropyObserver::ort_default()),
            OrtCalibration::Percentile => Box::new(PercentileObserver::ort_default()),
        }
    }
}

impl Technique for OrtStatic {
    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "onnxruntime"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let ranges = calibrate(calib, || self.observer())?;
        let cfg = OrtQdqConfig {
            per_channel: self.per_channel,
            ..OrtQdqConfig::default()
        };
        let model = ort_qdq(model, &ranges, &cfg)?;
        Ok(Quantized {
            model,
            format: Format::Qdq,
            notes: vec![format!(
                "s8 asym act, s8 sym {} weights, {:?}",
                if self.per_channel {
                    "per-channel"
                } else {
                    "per-tensor"
                },
                self.calibration
            )],
        })
    }
}
