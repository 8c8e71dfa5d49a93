//! Techniques: each named recipe reproduces one framework's quantization of an FP32 model.

mod ort_dynamic;
mod ort_static;

pub use ort_dynamic::OrtDynamic;
pub use ort_static::{OrtCalibration, OrtStatic};

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use qbench_core::Format;
use qbench_onnx::Model;

use crate::error::Result;
use crate::observer::Observer;
use crate::params::Range;

/// Runs the FP32 model over the calibration split and shows every tensor to a sink:
/// `sink(name, values)` once per batch for the graph input and each node output.
pub trait ActivationSource {
    fn visit(&mut self, sink: &mut dyn FnMut(&str, &[f32]) -> Result<()>) -> Result<()>;
}

/// The output of a technique.
#[derive(Clone, Debug)]
pub struct Quantized {
    pub model: Model,
    pub format: Format,
    /// Settings worth showing next to the row (e.g. the calibration method).
    pub notes: Vec<String>,
}

/// A quantization technique (one table row per backend).
pub trait Technique: Send + Sync {
    /// Row name, e.g. `ort-static-minmax`.
    fn name(&self) -> &'static str;
    /// The framework whose behaviour it reproduces.
    fn framework(&self) -> &'static str;
    /// Quantizes `model`, calibrating on `calib` where needed.
    fn apply(&self, model: &Model, calib: &mut dyn ActivationSource) -> Result<Quantized>;
}

/// Streams the calibration split through one observer per tensor and returns the ranges.
/// Memory is bounded by the observers, not by the number of batches.
pub fn calibrate(
    calib: &mut dyn ActivationSource,
    mut make: impl FnMut() -> Box<dyn Observer>,
) -> Result<HashMap<String, Range>> {
    calibrate_named(calib, |_| Ok(make()))
}

/// Like [`calibrate`], with an observer chosen per tensor name (created at the tensor's first
/// non-empty batch).
pub fn calibrate_named(
    calib: &mut dyn ActivationSource,
    mut make: impl FnMut(&str) -> Result<Box<dyn Observer>>,
) -> Result<HashMap<String, Range>> {
    let mut observers: HashMap<String, Box<dyn Observer>> = HashMap::new();
    calib.visit(&mut |name, values| {
        let obs = match observers.entry(name.to_string()) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(_) if values.is_empty() => return Ok(()),
            Entry::Vacant(v) => v.insert(make(name)?),
        };
        obs.observe(values).map_err(|e| e.context(name.to_string()))
    })?;
    observers
        .into_iter()
        .map(|(name, o)| {
            o.range()
                .map(|r| (name.clone(), r))
                .map_err(|e| e.context(name))
        })
        .collect()
}
