//! ONNX Runtime `quantize_static` recipes: QDQ, int8 activations (asymmetric) and int8 weights
//! (symmetric), per tensor unless `per_channel`, with ORT's calibrators.
//!
//! ORT's histogram calibrators (Entropy, Percentile) collect the whole calibration reader before
//! building one histogram over all of it (`HistogramCalibrater.collect_data`), so their bins span
//! the whole set's range. We reproduce that with two streaming passes: the first finds every
//! tensor's whole-set [`Extent`], the second bins each batch on the whole set's edges.

use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::Model;

use super::{calibrate_named, observe_all, ActivationSource, Quantized, Technique};
use crate::error::{QuantError, Result};
use crate::observer::histogram::{Extent, ExtentObserver};
use crate::observer::{EntropyObserver, Observer, PercentileObserver};
use crate::params::Range;
use crate::qdq::{ort_qdq, OrtQdqConfig};
use crate::scheme::QType;

/// ORT's calibration methods, with ORT's default parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrtCalibration {
    /// Global min/max over the calibration set.
    MinMax,
    /// KL-divergence threshold search, ORT defaults (128 bins / 128 quantized bins) over one
    /// histogram of the whole set — a single candidate, hence the whole set's MinMax range.
    Entropy,
    /// Percentile 99.999 over a 2048-bin histogram of `|x|` over the whole set (ORT defaults).
    Percentile,
}

/// One `quantize_static` configuration (QDQ format).
#[derive(Clone, Debug)]
pub struct OrtStatic {
    pub name: &'static str,
    pub calibration: OrtCalibration,
    pub per_channel: bool,
    /// `activation_type`: int8 by default (S8S8); uint8 gives ONNX Runtime's U8S8 / U8U8.
    pub activation: QType,
    /// `weight_type`: int8 by default; uint8 weights are asymmetric (ORT's `WeightSymmetric`
    /// defaults to true only for signed weight types).
    pub weight: QType,
    /// `reduce_range`: 7-bit weights (int8 [-64, 64], uint8 [0, 127]).
    pub reduce_range: bool,
}

impl OrtStatic {
    /// ONNX Runtime's defaults (S8S8, per tensor, no reduce_range) with this calibration method.
    pub const fn defaults(name: &'static str, calibration: OrtCalibration) -> Self {
        OrtStatic {
            name,
            calibration,
            per_channel: false,
            activation: QType::INT8,
            weight: QType::INT8,
            reduce_range: false,
        }
    }
}

impl OrtStatic {
    /// Per-tensor activation ranges, as ORT's calibrator for this method computes them.
    fn ranges(&self, calib: &mut dyn ActivationSource) -> Result<HashMap<String, Range>> {
        let whole_set: fn(Extent) -> Box<dyn Observer> = match self.calibration {
            OrtCalibration::MinMax => return calib.global_minmax(),
            OrtCalibration::Entropy => |e| Box::new(EntropyObserver::ort_whole_set(e)),
            OrtCalibration::Percentile => |e| Box::new(PercentileObserver::ort_whole_set(e)),
        };
        // Pass 1: the whole set's extent of every tensor.
        let extents: HashMap<String, ExtentObserver> =
            observe_all(calib, |_| Ok(ExtentObserver::new()))?
                .into_iter()
                .collect();
        // Pass 2: histograms on the whole set's edges.
        calibrate_named(calib, |name| {
            let extent = extents.get(name).and_then(|o| o.extent()).ok_or_else(|| {
                QuantError::InvalidArgument(format!(
                    "calibration source showed tensor {name} only on its second pass"
                ))
            })?;
            Ok(whole_set(extent))
        })
    }
}

impl Technique for OrtStatic {
    fn format(&self) -> Format {
        Format::Qdq
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn framework(&self) -> &'static str {
        "onnxruntime"
    }

    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized> {
        let ranges = self.ranges(calib)?;
        if self.per_channel && self.weight != QType::INT8 {
            // ORT's QDQ quantizer forces per-channel weights to int8 with uint8 activations;
            // qbench keeps the recipe rows unambiguous instead.
            return Err(QuantError::InvalidArgument(format!(
                "{}: per-channel weights are int8 in ONNX Runtime's QDQ quantizer",
                self.name
            )));
        }
        let cfg = OrtQdqConfig {
            per_channel: self.per_channel,
            activation: self.activation,
            weight: self.weight,
            weight_symmetric: self.weight.is_signed(),
            reduce_range: self.reduce_range,
            ..OrtQdqConfig::default()
        };
        let model = ort_qdq(model, &ranges, &cfg)?;
        let kind = |q: QType| if q.is_signed() { "s8" } else { "u8" };
        Ok(Quantized {
            model,
            format: Format::Qdq,
            notes: vec![format!(
                "{} asym act, {} {} {} weights{}, {:?}",
                kind(self.activation),
                kind(self.weight),
                if cfg.weight_symmetric { "sym" } else { "asym" },
                if self.per_channel {
                    "per-channel"
                } else {
                    "per-tensor"
                },
                if self.reduce_range {
                    " (reduce_range: 7-bit)"
                } else {
                    ""
                },
                self.calibration
            )],
            packed_bytes: None,
        })
    }
}
