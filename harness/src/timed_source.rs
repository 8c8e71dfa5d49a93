//! Splits a technique's quantize time into calibration (streaming the calibration split through
//! the FP32 model and its observers), scoring (candidate models in accuracy searches) and the
//! rest (the graph rewrite), so rows can report each part and calibration throughput.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use qbench_onnx::Model;
use qbench_quant::recipe::{ActivationSource, Tensors};
use qbench_quant::Range;

/// Wraps a calibration source and times what goes through it.
pub struct TimedSource<'a> {
    inner: &'a mut dyn ActivationSource,
    /// Global min/max ranges shared by the techniques of one run (computed once).
    shared_minmax: Option<&'a mut Option<HashMap<String, Range>>>,
    images_per_pass: usize,
    /// Time spent in calibration passes.
    pub calibration: Duration,
    /// Images streamed (passes x split size).
    pub images: u64,
    /// Time spent scoring candidate models.
    pub scoring: Duration,
}

impl<'a> TimedSource<'a> {
    pub fn new(inner: &'a mut dyn ActivationSource, images_per_pass: usize) -> Self {
        TimedSource {
            inner,
            shared_minmax: None,
            images_per_pass,
            calibration: Duration::ZERO,
            images: 0,
            scoring: Duration::ZERO,
        }
    }
}

impl<'a> TimedSource<'a> {
    /// Times one calibration pass of the inner source.
    fn pass<R>(&mut self, f: impl FnOnce(&mut dyn ActivationSource) -> R) -> R {
        let start = Instant::now();
        let r = f(&mut *self.inner);
        self.calibration += start.elapsed();
        self.images += self.images_per_pass as u64;
        r
    }

    /// Shares global min/max ranges through `cache` (filled by the first technique that asks).
    pub fn sharing_minmax(mut self, cache: &'a mut Option<HashMap<String, Range>>) -> Self {
        self.shared_minmax = Some(cache);
        self
    }
}

impl ActivationSource for TimedSource<'_> {
    fn global_minmax(&mut self) -> qbench_quant::Result<HashMap<String, Range>> {
        if let Some(Some(r)) = self.shared_minmax.as_deref() {
            return Ok(r.clone());
        }
        let r = qbench_quant::recipe::global_minmax(self)?;
        if let Some(cache) = self.shared_minmax.as_deref_mut() {
            *cache = Some(r.clone());
        }
        Ok(r)
    }

    fn visit(
        &mut self,
        sink: &mut dyn FnMut(&str, &[f32]) -> qbench_quant::Result<()>,
    ) -> qbench_quant::Result<()> {
        self.pass(|inner| inner.visit(sink))
    }

    fn visit_batches(
        &mut self,
        sink: &mut dyn FnMut(&Tensors) -> qbench_quant::Result<()>,
    ) -> qbench_quant::Result<()> {
        self.pass(|inner| inner.visit_batches(sink))
    }

    fn accuracy(&mut self, model: &Model) -> qbench_quant::Result<f64> {
        let start = Instant::now();
        let r = self.inner.accuracy(model);
        self.scoring += start.elapsed();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Two;
    impl ActivationSource for Two {
        fn visit(
            &mut self,
            sink: &mut dyn FnMut(&str, &[f32]) -> qbench_quant::Result<()>,
        ) -> qbench_quant::Result<()> {
            std::thread::sleep(Duration::from_millis(5));
            sink("x", &[1.0, 2.0])
        }
    }

    #[test]
    fn counts_passes_and_time_and_forwards_refusals() {
        let mut inner = Two;
        let mut t = TimedSource::new(&mut inner, 10);
        let mut seen = 0;
        t.visit(&mut |_, v| {
            seen += v.len();
            Ok(())
        })
        .unwrap();
        t.visit(&mut |_, _| Ok(())).unwrap();
        assert_eq!((seen, t.images), (2, 20));
        assert!(t.calibration >= Duration::from_millis(10));
        // Shared min/max: computed by the first source (one pass), reused by the next (none).
        let mut cache = None;
        let mut inner = Two;
        let mut a = TimedSource::new(&mut inner, 10).sharing_minmax(&mut cache);
        assert_eq!(a.global_minmax().unwrap()["x"].max, 2.0);
        assert_eq!(a.images, 10);
        let mut inner = Two;
        let mut b = TimedSource::new(&mut inner, 10).sharing_minmax(&mut cache);
        assert_eq!(b.global_minmax().unwrap()["x"].min, 1.0);
        assert_eq!(b.images, 0);
        // The default scorer refuses; the refusal passes through.
        assert!(t.accuracy(&Model::new(Default::default(), 13)).is_err());
    }
}
