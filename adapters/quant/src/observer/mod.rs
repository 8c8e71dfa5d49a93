//! Calibration observers that stream over batches.
//!
//! Every observer is fed with [`Observer::observe`] once per calibration batch and answers
//! [`Observer::range`] at any time. Memory is bounded by the observer's histogram (or a few
//! scalars), never by the number of samples seen. Batches are flat `f32` slices; an empty batch
//! is ignored; a batch holding NaN or Inf is rejected with [`crate::QuantError::NonFinite`]
//! naming the observer and the batch number (wrap with `.context(tensor_name)`).
//! ONNX Runtime's `nanmin`/`nanmax` would skip NaN and PyTorch's HistogramObserver drops ±Inf;
//! here a non-finite activation during calibration is treated as a broken model.
//!
//! | observer | reproduces |
//! |---|---|
//! | [`MinMaxObserver`] | ORT `MinMaxCalibrater` (global, moving average), PyTorch `MinMaxObserver` / `MovingAverageMinMaxObserver` |
//! | [`RealHistogram`], [`AbsHistogram`] | ORT `HistogramCollector.collect_value` / `collect_absolute_value` |
//! | [`EntropyObserver`] | ORT `HistogramCollector.get_entropy_threshold` (KL divergence) |
//! | [`PercentileObserver`] | ORT `HistogramCollector.compute_percentile` |
//! | [`TorchHistogramObserver`] | PyTorch `HistogramObserver` (L2 `_non_linear_param_search`) |
//! | [`MaxAbsObserver`] | max \|x\| for dynamic fixed point (Ristretto) |

pub mod entropy;
pub mod histogram;
pub mod l2;
pub mod maxabs;
pub mod minmax;
pub mod percentile;

pub use entropy::EntropyObserver;
pub use histogram::{AbsHistogram, RealHistogram};
pub use l2::TorchHistogramObserver;
pub use maxabs::MaxAbsObserver;
pub use minmax::{MinMaxMode, MinMaxObserver};
pub use percentile::PercentileObserver;

use crate::error::{check_finite, Result};
use crate::params::Range;

/// A streaming range estimator (`Send`: the observers of one batch's tensors run in parallel).
pub trait Observer: Send {
    /// Feeds one batch of values (any shape, flattened).
    fn observe(&mut self, batch: &[f32]) -> Result<()>;
    /// The calibrated range; fails with [`crate::QuantError::NoData`] before any data.
    fn range(&self) -> Result<Range>;
    /// Short name used in messages and result rows.
    fn name(&self) -> &'static str;
    /// Number of non-empty batches observed so far.
    fn batches(&self) -> usize;
}

impl<O: Observer + ?Sized> Observer for Box<O> {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        (**self).observe(batch)
    }
    fn range(&self) -> Result<Range> {
        (**self).range()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn batches(&self) -> usize {
        (**self).batches()
    }
}

/// Finite check of batch number `index` (0-based) for observer `name`; returns the batch's
/// min and max, or `None` for an empty batch.
#[allow(clippy::eq_op)] // `v - v` is the finiteness test, on purpose (see below)
pub(crate) fn batch_min_max(name: &str, index: usize, batch: &[f32]) -> Result<Option<(f32, f32)>> {
    if batch.is_empty() {
        return Ok(None);
    }
    // One pass in independent lanes (the compiler vectorizes it); `v - v` is 0 for finite values
    // and NaN for NaN and infinities, so `bad` stays 0 only when every value is finite.
    const LANES: usize = 16;
    let (mut lo, mut hi, mut bad) = (
        [f32::INFINITY; LANES],
        [f32::NEG_INFINITY; LANES],
        [0f32; LANES],
    );
    let chunks = batch.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let v = c[i];
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
            bad[i] += v - v;
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
        bad[i] += v - v;
    }
    if bad.iter().any(|b| *b != 0.0) {
        // Name the first offending value.
        check_finite(&format!("{name} observer, batch #{}", index + 1), batch)?;
    }
    let lo = lo.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = hi.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    Ok(Some((lo, hi)))
}

/// ORT's final clamp of histogram thresholds to the observed `[min, max]`. When the threshold
/// lies entirely outside the data (e.g. positive-only data above the chosen threshold) ORT ends up
/// with `lowest > highest`; since every convention then widens the range to contain 0, the
/// zero-widened range is returned, which gives ORT's exact scale and zero point.
pub(crate) fn ort_clamp_thresholds(lo: f32, hi: f32, min: f32, max: f32) -> Range {
    let lo = if lo < min { min } else { lo };
    let hi = if hi > max { max } else { hi };
    if lo <= hi {
        Range { min: lo, max: hi }
    } else {
        Range {
            min: lo.min(0.0),
            max: hi.max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QuantError;

    #[test]
    fn batch_min_max_reports_observer_and_batch() {
        assert_eq!(
            batch_min_max("x", 0, &[2.0, -1.0]).unwrap(),
            Some((-1.0, 2.0))
        );
        assert_eq!(batch_min_max("x", 0, &[]).unwrap(), None);
        let err = batch_min_max("entropy", 2, &[0.0, f32::NAN]).unwrap_err();
        match err {
            QuantError::NonFinite { what, index, .. } => {
                assert_eq!(what, "entropy observer, batch #3");
                assert_eq!(index, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clamp_thresholds() {
        // Threshold (-2, 2) inside data [-4, 3] stays; (-5, 5) is clamped to (-4, 3).
        assert_eq!(
            ort_clamp_thresholds(-2.0, 2.0, -4.0, 3.0),
            Range {
                min: -2.0,
                max: 2.0
            }
        );
        assert_eq!(
            ort_clamp_thresholds(-5.0, 5.0, -4.0, 3.0),
            Range {
                min: -4.0,
                max: 3.0
            }
        );
        // Inverted (data [0.9, 1.0], threshold 0.5): ORT has (0.9, 0.5) -> widened (0, 0.5).
        assert_eq!(
            ort_clamp_thresholds(0.5, 0.5, 0.9, 1.0),
            Range { min: 0.0, max: 0.5 }
        );
    }
}
