//! Techniques: each named recipe reproduces one framework's quantization of an FP32 model.

pub mod caffe;
pub mod ggml;
mod ort_dynamic;
mod ort_static;
pub mod packed;
pub mod pytorch;
pub mod tflite;
pub mod uniform;
pub mod weights;

pub use caffe::{CaffeDfp, CaffeDfpSearch, DfpWidths};
pub use ggml::{GgmlType, GgmlWeightOnly};
pub use ort_dynamic::OrtDynamic;
pub use ort_static::{OrtCalibration, OrtStatic};
pub use pytorch::{PytorchDynamic, PytorchStatic, TorchEngine};
pub use tflite::{TfliteDynamicRange, TfliteFloat16, TfliteFullInteger};
pub use uniform::{Tread, Uniform4};

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

    /// Global min/max of every tensor over the calibration split (the MinMax observer most
    /// recipes share). Sources may cache it across techniques.
    fn global_minmax(&mut self) -> Result<HashMap<String, Range>> {
        global_minmax(self)
    }

    /// Top-1 accuracy (0..=1) of `model` on the labelled calibration split, for recipes that
    /// search against an accuracy margin (Ristretto). Sources without labels refuse.
    fn accuracy(&mut self, _model: &Model) -> Result<f64> {
        Err(crate::error::QuantError::Unsupported {
            framework: "calibration source",
            what: "scoring a model on the calibration split".into(),
        })
    }
}

/// The output of a technique.
#[derive(Clone, Debug)]
pub struct Quantized {
    pub model: Model,
    pub format: Format,
    /// Settings worth showing next to the row (e.g. the calibration method).
    pub notes: Vec<String>,
    /// Bytes of the weights packed at their true bit width, when the artifact stores them in
    /// wider containers (sub-8-bit schemes).
    pub packed_bytes: Option<u64>,
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

/// One pass of the global MinMax observer over every tensor (what [`ActivationSource`]'s default
/// `global_minmax` computes; caching sources call it once).
pub fn global_minmax<S: ActivationSource + ?Sized>(
    calib: &mut S,
) -> Result<HashMap<String, Range>> {
    calibrate(
        calib,
        || Box::new(crate::observer::MinMaxObserver::global()),
    )
}

/// Streams the calibration split through one observer per tensor and returns the ranges.
/// Memory is bounded by the observers, not by the number of batches.
pub fn calibrate<S: ActivationSource + ?Sized>(
    calib: &mut S,
    mut make: impl FnMut() -> Box<dyn Observer>,
) -> Result<HashMap<String, Range>> {
    calibrate_named(calib, |_| Ok(make()))
}

/// Like [`calibrate`], with an observer chosen per tensor name (created at the tensor's first
/// non-empty batch).
pub fn calibrate_named<S: ActivationSource + ?Sized>(
    calib: &mut S,
    mut make: impl FnMut(&str) -> Result<Box<dyn Observer>>,
) -> Result<HashMap<String, Range>> {
    let mut observers: HashMap<String, Box<dyn Observer>> = HashMap::new();
    calib.visit(&mut |name, values| {
        // Look up before allocating a key: this runs for every tensor of every batch.
        let obs = match observers.get_mut(name) {
            Some(o) => o,
            None if values.is_empty() => return Ok(()),
            None => match observers.entry(name.to_string()) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(make(name)?),
            },
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
