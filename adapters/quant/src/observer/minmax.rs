//! Min/max calibration: global, exponential moving average, or mean of per-batch extremes.
//!
//! Followed: ONNX Runtime `calibrate.py` `MinMaxCalibrater.compute_data` / `merge_range`
//! (`averaging_constant` default 0.01) and PyTorch `MinMaxObserver` /
//! `MovingAverageMinMaxObserver.forward` (same update rule).
//!
//! Note on ONNX Runtime's `moving_average=True`: inside one `collect_data` call ORT takes the
//! arithmetic mean of the per-batch minima and maxima ([`MinMaxMode::BatchMean`]); the EMA
//! `old + c·(new - old)` is only applied between successive `collect_data` calls (or, in versions
//! that honour it, between chunks of `max_intermediate_outputs` batches). Feeding ORT one batch
//! per `collect_data` call gives [`MinMaxMode::MovingAverage`], which is also PyTorch's rule.

use super::{batch_min_max, Observer};
use crate::error::{QuantError, Result};
use crate::params::Range;

/// How per-batch extremes are merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinMaxMode {
    /// `min(all mins)`, `max(all maxes)`.
    Global,
    /// `running += c · (batch - running)`, the first batch initialises (ORT/PyTorch, c = 0.01).
    MovingAverage {
        /// Smoothing constant in `[0, 1]`.
        averaging_constant: f32,
    },
    /// Mean of per-batch mins and maxes (ORT `moving_average=True` within one `collect_data`).
    BatchMean,
}

impl MinMaxMode {
    /// EMA with ORT's and PyTorch's default constant 0.01.
    pub const ORT_MOVING_AVERAGE: MinMaxMode = MinMaxMode::MovingAverage {
        averaging_constant: 0.01,
    };
}

/// Streaming min/max observer (O(1) memory).
#[derive(Debug, Clone)]
pub struct MinMaxObserver {
    mode: MinMaxMode,
    symmetric: bool,
    running: Option<(f32, f32)>,
    sums: (f64, f64),
    batches: usize,
}

impl MinMaxObserver {
    /// A new observer. With `symmetric`, ORT's calibrator-level option: each batch range (or,
    /// for [`MinMaxMode::BatchMean`], the mean range) becomes `[-absmax, absmax]`.
    pub fn new(mode: MinMaxMode, symmetric: bool) -> Result<Self> {
        if let MinMaxMode::MovingAverage { averaging_constant } = mode {
            if !(0.0..=1.0).contains(&averaging_constant) {
                return Err(QuantError::InvalidArgument(format!(
                    "averaging constant must be in [0, 1], got {averaging_constant}"
                )));
            }
        }
        Ok(MinMaxObserver {
            mode,
            symmetric,
            running: None,
            sums: (0.0, 0.0),
            batches: 0,
        })
    }

    /// Global min/max, not symmetric.
    pub fn global() -> Self {
        Self::new(MinMaxMode::Global, false).expect("valid mode")
    }

    /// EMA with constant `c`.
    pub fn moving_average(c: f32) -> Result<Self> {
        Self::new(
            MinMaxMode::MovingAverage {
                averaging_constant: c,
            },
            false,
        )
    }

    fn sym(&self, lo: f32, hi: f32) -> (f32, f32) {
        if self.symmetric {
            let a = lo.abs().max(hi.abs());
            (-a, a)
        } else {
            (lo, hi)
        }
    }
}

impl Observer for MinMaxObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        let Some((lo, hi)) = batch_min_max(self.name(), self.batches, batch)? else {
            return Ok(());
        };
        self.batches += 1;
        match self.mode {
            MinMaxMode::BatchMean => {
                self.sums.0 += lo as f64;
                self.sums.1 += hi as f64;
            }
            MinMaxMode::Global => {
                let (lo, hi) = self.sym(lo, hi);
                self.running = Some(match self.running {
                    None => (lo, hi),
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                });
            }
            MinMaxMode::MovingAverage {
                averaging_constant: c,
            } => {
                let (lo, hi) = self.sym(lo, hi);
                self.running = Some(match self.running {
                    None => (lo, hi),
                    Some((a, b)) => (a + c * (lo - a), b + c * (hi - b)),
                });
            }
        }
        Ok(())
    }

    fn range(&self) -> Result<Range> {
        if self.batches == 0 {
            return Err(QuantError::NoData {
                observer: self.name(),
            });
        }
        let (lo, hi) = match self.mode {
            MinMaxMode::BatchMean => {
                let n = self.batches as f64;
                self.sym((self.sums.0 / n) as f32, (self.sums.1 / n) as f32)
            }
            _ => self.running.expect("set with batches > 0"),
        };
        Ok(Range { min: lo, max: hi })
    }

    fn name(&self) -> &'static str {
        match self.mode {
            MinMaxMode::Global => "minmax",
            MinMaxMode::MovingAverage { .. } => "minmax-ema",
            MinMaxMode::BatchMean => "minmax-batch-mean",
        }
    }

    fn batches(&self) -> usize {
        self.batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(o: &mut MinMaxObserver, batches: &[&[f32]]) {
        for b in batches {
            o.observe(b).unwrap();
        }
    }

    #[test]
    fn global_by_hand() {
        // batches [1, -2, 3] and [0.5, 4] -> min -2, max 4
        let mut o = MinMaxObserver::global();
        feed(&mut o, &[&[1.0, -2.0, 3.0], &[0.5, 4.0]]);
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -2.0,
                max: 4.0
            }
        );
        assert_eq!(o.batches(), 2);
    }

    #[test]
    fn ema_by_hand() {
        // first batch initialises (-2, 3); second (0.5, 4):
        // min = -2 + 0.01·(0.5 - (-2)) = -1.975, max = 3 + 0.01·(4 - 3) = 3.01
        let mut o = MinMaxObserver::new(MinMaxMode::ORT_MOVING_AVERAGE, false).unwrap();
        feed(&mut o, &[&[1.0, -2.0, 3.0], &[0.5, 4.0]]);
        let r = o.range().unwrap();
        assert_eq!(r.min, -2.0f32 + 0.01f32 * (0.5f32 - -2.0f32));
        assert!(
            (r.min - -1.975).abs() < 1e-6 && (r.max - 3.01).abs() < 1e-6,
            "{r:?}"
        );
    }

    #[test]
    fn batch_mean_by_hand() {
        // mins -2, 0.5 -> -0.75; maxes 3, 4 -> 3.5. Symmetric: max(|-0.75|, 3.5) = 3.5.
        let mut o = MinMaxObserver::new(MinMaxMode::BatchMean, false).unwrap();
        feed(&mut o, &[&[1.0, -2.0, 3.0], &[0.5, 4.0]]);
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -0.75,
                max: 3.5
            }
        );
        let mut s = MinMaxObserver::new(MinMaxMode::BatchMean, true).unwrap();
        feed(&mut s, &[&[1.0, -2.0, 3.0], &[0.5, 4.0]]);
        assert_eq!(
            s.range().unwrap(),
            Range {
                min: -3.5,
                max: 3.5
            }
        );
    }

    #[test]
    fn symmetric_per_batch_for_ema() {
        // symmetric batches (-3, 3) then (-4, 4): EMA -> (-3.01, 3.01)
        let mut o = MinMaxObserver::new(MinMaxMode::ORT_MOVING_AVERAGE, true).unwrap();
        feed(&mut o, &[&[1.0, -2.0, 3.0], &[0.5, 4.0]]);
        let r = o.range().unwrap();
        assert_eq!(r.min, -r.max);
        assert!((r.max - 3.01).abs() < 1e-6);
    }

    #[test]
    fn edge_cases() {
        let mut o = MinMaxObserver::global();
        assert!(matches!(o.range(), Err(QuantError::NoData { .. })));
        o.observe(&[]).unwrap(); // ignored
        assert_eq!(o.batches(), 0);
        // All zeros, single value, negative-only, positive-only.
        o.observe(&[0.0, 0.0]).unwrap();
        assert_eq!(o.range().unwrap(), Range { min: 0.0, max: 0.0 });
        let mut n = MinMaxObserver::global();
        n.observe(&[-3.0]).unwrap();
        n.observe(&[-1.0, -2.0]).unwrap();
        assert_eq!(
            n.range().unwrap(),
            Range {
                min: -3.0,
                max: -1.0
            }
        );
        let mut p = MinMaxObserver::moving_average(0.5).unwrap();
        p.observe(&[2.0]).unwrap();
        p.observe(&[4.0]).unwrap();
        assert_eq!(p.range().unwrap(), Range { min: 3.0, max: 3.0 });
        // A non-finite value in the third batch is reported as batch #3.
        let err = n.observe(&[1.0, f32::INFINITY]).unwrap_err();
        assert!(err.to_string().contains("batch #3"), "{err}");
        assert!(MinMaxObserver::moving_average(1.5).is_err());
    }
}
