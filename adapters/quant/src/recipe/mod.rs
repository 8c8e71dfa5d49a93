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

/// One batch's tensors as `(name, values)`, in the order the source produced them.
pub type Tensors<'a> = [(&'a str, &'a [f32])];

/// Runs the FP32 model over the calibration split and shows every tensor to a sink:
/// `sink(name, values)` once per batch for the graph input and each node output.
pub trait ActivationSource {
    fn visit(&mut self, sink: &mut dyn FnMut(&str, &[f32]) -> Result<()>) -> Result<()>;

    /// Like [`ActivationSource::visit`], with the tensors of one batch handed over together
    /// (`sink` once per batch), so that their observers can run in parallel. Sources that produce
    /// a batch's tensors one at a time keep this default: one tensor per call.
    fn visit_batches(&mut self, sink: &mut dyn FnMut(&Tensors) -> Result<()>) -> Result<()> {
        self.visit(&mut |name, values| sink(&[(name, values)]))
    }

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
    /// The format of the artifact it writes (known before quantizing: `compare --shard`
    /// estimates each cell's cost from it).
    fn format(&self) -> Format;
    /// How many candidate models it scores on the calibration split while quantizing, at most
    /// (an accuracy search; 0 for most): `compare --shard` counts them in the expected cost of
    /// every shard that quantizes the technique.
    fn scored_models(&self) -> usize {
        0
    }
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
    make: impl FnMut(&str) -> Result<Box<dyn Observer>>,
) -> Result<HashMap<String, Range>> {
    observe_all(calib, make)?
        .into_iter()
        .map(|(name, o)| {
            o.range()
                .map(|r| (name.clone(), r))
                .map_err(|e| e.context(name))
        })
        .collect()
}

/// Streams the calibration split through one observer per tensor (made by `make` at the
/// tensor's first non-empty batch) and returns them. The observers of one batch's tensors run
/// in parallel on rayon's pool: a histogram pass is otherwise one core binning while the other
/// idles (the runtime has finished the batch by then). Each observer still sees its batches in
/// order, so results do not depend on the number of threads.
pub fn observe_all<S, O>(
    calib: &mut S,
    make: impl FnMut(&str) -> Result<O>,
) -> Result<Vec<(String, O)>>
where
    S: ActivationSource + ?Sized,
    O: Observer + Send,
{
    observe_keyed(calib, None, make)
}

/// Like [`observe_all`], with one observer per group of tensors: `groups[t]` names the observer
/// tensor `t` feeds (tensors not in `groups` are not observed), and an observer sees each
/// batch's member tensors in the order the source produced them, as a PyTorch observer shared
/// by several tensors does. Observers are named by their group and made at their first
/// non-empty batch.
pub fn observe_grouped<S, O>(
    calib: &mut S,
    groups: &HashMap<String, String>,
    make: impl FnMut(&str) -> Result<O>,
) -> Result<Vec<(String, O)>>
where
    S: ActivationSource + ?Sized,
    O: Observer + Send,
{
    observe_keyed(calib, Some(groups), make)
}

fn observe_keyed<S, O>(
    calib: &mut S,
    groups: Option<&HashMap<String, String>>,
    mut make: impl FnMut(&str) -> Result<O>,
) -> Result<Vec<(String, O)>>
where
    S: ActivationSource + ?Sized,
    O: Observer + Send,
{
    let mut observers: Vec<(String, O)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    calib.visit_batches(&mut |tensors| {
        // This batch's values for each observer, by the observer's index.
        let mut work: Vec<Vec<&[f32]>> = vec![Vec::new(); observers.len()];
        for &(name, values) in tensors {
            let key = match groups {
                None => name,
                Some(g) => match g.get(name) {
                    Some(k) => k.as_str(),
                    None => continue,
                },
            };
            // Look up before allocating a key: this runs for every tensor of every batch.
            let i = match index.get(key) {
                Some(&i) => i,
                None if values.is_empty() => continue,
                None => match index.entry(key.to_string()) {
                    Entry::Occupied(o) => *o.get(),
                    Entry::Vacant(v) => {
                        observers.push((key.to_string(), make(key)?));
                        work.push(Vec::new());
                        *v.insert(observers.len() - 1)
                    }
                },
            };
            work[i].push(values);
        }
        let run = |((name, o), v): (&mut (String, O), &Vec<&[f32]>)| -> Result<()> {
            v.iter()
                .try_for_each(|v| o.observe(v).map_err(|e| e.context(name.clone())))
        };
        // The first failure in tensor order, whichever thread met it.
        let results: Vec<Result<()>> = if tensors.len() > 1 {
            use rayon::prelude::*;
            observers
                .par_iter_mut()
                .zip(work.par_iter())
                .map(run)
                .collect()
        } else {
            observers.iter_mut().zip(work.iter()).map(run).collect()
        };
        results.into_iter().collect()
    })?;
    Ok(observers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::MinMaxObserver;
    use crate::QuantError;

    /// Three tensors per batch, handed over together or one at a time.
    struct Batches {
        together: bool,
        batches: Vec<Vec<(&'static str, Vec<f32>)>>,
    }

    impl ActivationSource for Batches {
        fn visit(&mut self, sink: &mut dyn FnMut(&str, &[f32]) -> Result<()>) -> Result<()> {
            for b in &self.batches {
                for (name, v) in b {
                    sink(name, v)?;
                }
            }
            Ok(())
        }

        fn visit_batches(&mut self, sink: &mut dyn FnMut(&Tensors) -> Result<()>) -> Result<()> {
            if !self.together {
                return self.visit(&mut |name, values| sink(&[(name, values)]));
            }
            for b in &self.batches {
                let t: Vec<(&str, &[f32])> = b.iter().map(|(n, v)| (*n, v.as_slice())).collect();
                sink(&t)?;
            }
            Ok(())
        }
    }

    fn source(together: bool, poison: bool) -> Batches {
        let batches = (0..4)
            .map(|k| {
                let k = k as f32;
                let mut c = vec![k, -2.0 * k];
                if poison && k == 2.0 {
                    c.push(f32::NAN);
                }
                vec![
                    ("a", vec![k, k + 1.0]),
                    (
                        "b",
                        if poison && k == 2.0 {
                            vec![f32::INFINITY]
                        } else {
                            vec![-k]
                        },
                    ),
                    ("c", c),
                    // Appears from the second batch on, and empty in the first.
                    ("d", if k == 0.0 { vec![] } else { vec![k * 10.0] }),
                ]
            })
            .collect();
        Batches { together, batches }
    }

    #[test]
    fn parallel_observers_give_the_sequential_ranges() {
        let make = || Box::new(MinMaxObserver::global()) as Box<dyn Observer>;
        let par = calibrate(&mut source(true, false), make).unwrap();
        let seq = calibrate(&mut source(false, false), make).unwrap();
        assert_eq!(par, seq);
        assert_eq!(par["a"], Range::new(0.0, 4.0).unwrap());
        assert_eq!(par["c"], Range::new(-6.0, 3.0).unwrap());
        assert_eq!(par["d"], Range::new(10.0, 30.0).unwrap());
        assert_eq!(par.len(), 4);
    }

    /// Sees every batch in order (the observer's state depends on it).
    #[derive(Default)]
    struct Log(Vec<f32>);

    impl Observer for Log {
        fn observe(&mut self, values: &[f32]) -> Result<()> {
            self.0.extend_from_slice(values);
            Ok(())
        }

        fn range(&self) -> Result<Range> {
            Range::new(0.0, 1.0)
        }

        fn name(&self) -> &'static str {
            "log"
        }

        fn batches(&self) -> usize {
            0
        }
    }

    #[test]
    fn a_shared_observer_sees_its_tensors_in_source_order() {
        // a and c feed one observer, d another; b is not observed.
        let groups: HashMap<String, String> = [("a", "a"), ("c", "a"), ("d", "d")]
            .into_iter()
            .map(|(t, o)| (t.to_string(), o.to_string()))
            .collect();
        for together in [true, false] {
            let obs = observe_grouped(
                &mut source(together, false),
                &groups,
                |_| Ok(Log::default()),
            )
            .unwrap();
            let names: Vec<&str> = obs.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["a", "d"]);
            // Batch k: a = [k, k + 1], then c = [k, -2k].
            assert_eq!(
                obs[0].1 .0,
                [
                    0.0, 1.0, 0.0, -0.0, 1.0, 2.0, 1.0, -2.0, 2.0, 3.0, 2.0, -4.0, 3.0, 4.0, 3.0,
                    -6.0
                ]
            );
            assert_eq!(obs[1].1 .0, [10.0, 20.0, 30.0]);
        }
    }

    #[test]
    fn the_first_bad_tensor_of_a_batch_is_named_whichever_thread_met_it() {
        for together in [true, false] {
            let err = calibrate(&mut source(together, true), || {
                Box::new(MinMaxObserver::global())
            })
            .unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("b: "), "{msg}");
            assert!(matches!(err, QuantError::Context { .. }), "{err:?}");
        }
    }
}
