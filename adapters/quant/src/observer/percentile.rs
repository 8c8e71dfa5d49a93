//! Percentile calibration, as ONNX Runtime implements it.
//!
//! Followed: `onnxruntime/python/tools/quantization/calibrate.py`,
//! `HistogramCollector.compute_percentile` and `create_calibrator` defaults
//! (`num_bins=2048`, `percentile=99.999`, `symmetric=True`).
//!
//! * symmetric (default): histogram of `|x|` ([`AbsHistogram`]);
//!   `cdf = cumsum(hist / total)`, `idx = searchsorted(cdf, percentile / 100)` (first bin whose
//!   cumulative share reaches the percentile), threshold `t = edges[idx]` — the **left** edge of
//!   that bin — and the range `(-t, t)`;
//! * otherwise: real-value histogram ([`RealHistogram`]), `(edges[searchsorted(cdf, c)],
//!   edges[searchsorted(cdf, 1 - c)])` with `c = (100 - percentile) / 200`;
//! * finally clamped to the observed `[min, max]`.
//!
//! `quantize_static` histograms the whole calibration set at once (see
//! [`super::histogram`]); [`PercentileObserver::with_extent`] reproduces that when streaming.

use super::histogram::{AbsHistogram, Extent, RealHistogram};
use super::{ort_clamp_thresholds, Observer};
use crate::error::{QuantError, Result};
use crate::params::Range;

#[derive(Debug, Clone)]
enum Hist {
    Abs(AbsHistogram),
    Real(RealHistogram),
}

/// Streaming percentile calibration (ORT `CalibrationMethod.Percentile`).
#[derive(Debug, Clone)]
pub struct PercentileObserver {
    hist: Hist,
    percentile: f64,
}

/// `np.searchsorted(cdf, v)` (side left): first index with `cdf[i] >= v`, or `len`.
fn searchsorted_left(cdf: &[f64], v: f64) -> usize {
    cdf.partition_point(|&c| c < v)
}

impl PercentileObserver {
    /// `num_bins` bins, `percentile` in `[0, 100]`, symmetric (|x| histogram) or not.
    pub fn new(num_bins: usize, percentile: f64, symmetric: bool) -> Result<Self> {
        if !(0.0..=100.0).contains(&percentile) {
            return Err(QuantError::InvalidArgument(format!(
                "percentile must be in [0, 100], got {percentile}"
            )));
        }
        let hist = if symmetric {
            Hist::Abs(AbsHistogram::new(num_bins)?)
        } else {
            Hist::Real(RealHistogram::new(num_bins)?)
        };
        Ok(PercentileObserver { hist, percentile })
    }

    /// ORT's defaults: 2048 bins, 99.999, symmetric.
    pub fn ort_default() -> Self {
        Self::new(2048, 99.999, true).expect("valid defaults")
    }

    /// As [`PercentileObserver::new`], binning every batch on the edges of the whole calibration
    /// set's `extent` — what ORT's `quantize_static` does (it histograms all batches at once).
    pub fn with_extent(
        num_bins: usize,
        percentile: f64,
        symmetric: bool,
        extent: Extent,
    ) -> Result<Self> {
        let mut o = Self::new(num_bins, percentile, symmetric)?;
        o.hist = if symmetric {
            Hist::Abs(AbsHistogram::with_extent(num_bins, extent)?)
        } else {
            Hist::Real(RealHistogram::with_extent(num_bins, extent)?)
        };
        Ok(o)
    }

    /// ORT's `quantize_static` defaults over a whole set of known `extent`.
    pub fn ort_whole_set(extent: Extent) -> Self {
        Self::with_extent(2048, 99.999, true, extent).expect("valid defaults")
    }

    /// The configured percentile.
    pub fn percentile(&self) -> f64 {
        self.percentile
    }

    fn parts(&self) -> (&[u64], &[f32], Option<(f32, f32)>) {
        match &self.hist {
            Hist::Abs(h) => (h.counts(), h.edges(), h.min_max()),
            Hist::Real(h) => (h.counts(), h.edges(), h.min_max()),
        }
    }
}

impl Observer for PercentileObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        let r = match &mut self.hist {
            Hist::Abs(h) => h.observe(batch),
            Hist::Real(h) => h.observe(batch),
        };
        r.map_err(|e| match e {
            QuantError::NonFinite { what, index, value } => QuantError::NonFinite {
                what: what
                    .replace("abs-histogram", "percentile")
                    .replace("histogram", "percentile"),
                index,
                value,
            },
            other => other,
        })
    }

    fn range(&self) -> Result<Range> {
        let (hist, edges, mm) = self.parts();
        let (min, max) = mm.ok_or(QuantError::NoData {
            observer: self.name(),
        })?;
        let total: u64 = hist.iter().sum();
        if total == 0 {
            return Err(QuantError::NoData {
                observer: self.name(),
            });
        }
        let mut acc = 0.0f64;
        let cdf: Vec<f64> = hist
            .iter()
            .map(|&h| {
                acc += h as f64 / total as f64;
                acc
            })
            .collect();
        let (lo, hi) = match self.hist {
            Hist::Abs(_) => {
                let t = edges[searchsorted_left(&cdf, self.percentile / 100.0)];
                (-t, t)
            }
            Hist::Real(_) => {
                let cut = (100.0 - self.percentile) / 200.0;
                let r = edges[searchsorted_left(&cdf, 1.0 - cut)];
                let l = edges[searchsorted_left(&cdf, cut)];
                (l, r)
            }
        };
        Ok(ort_clamp_thresholds(lo, hi, min, max))
    }

    fn name(&self) -> &'static str {
        "percentile"
    }

    fn batches(&self) -> usize {
        match &self.hist {
            Hist::Abs(h) => h.batches(),
            Hist::Real(h) => h.batches(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_by_hand() {
        // |x| of [-4, -1, 0, 1, 2, 3]: 4 bins on [0, 4], counts [1, 2, 1, 2], total 6,
        // cdf = [1/6, 3/6, 4/6, 1].
        let data = [-4.0f32, -1.0, 0.0, 1.0, 2.0, 3.0];
        // 60th percentile: first cdf >= 0.6 is index 2 -> t = edges[2] = 2 -> (-2, 2).
        let mut o = PercentileObserver::new(4, 60.0, true).unwrap();
        o.observe(&data).unwrap();
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -2.0,
                max: 2.0
            }
        );
        // 99.999: index 3 -> t = edges[3] = 3 (the left edge: the value 4 is cut) -> (-3, 3).
        let mut o = PercentileObserver::new(4, 99.999, true).unwrap();
        o.observe(&data).unwrap();
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -3.0,
                max: 3.0
            }
        );
        // 10th percentile: index 0 -> t = 0 -> (0, 0)... clamped to [min, max] = (-0, 0).
        let mut o = PercentileObserver::new(4, 10.0, true).unwrap();
        o.observe(&data).unwrap();
        let r = o.range().unwrap();
        assert_eq!((r.min, r.max), (0.0, 0.0));
    }

    #[test]
    fn asymmetric_by_hand() {
        // 4 bins on [-1, 1]: counts [1, 1, 1, 2], cdf [0.2, 0.4, 0.6, 1.0].
        // 80th percentile: cut = 0.1 -> left idx 0 (-1), right: first cdf >= 0.9 is 3 -> 0.5.
        let mut o = PercentileObserver::new(4, 80.0, false).unwrap();
        o.observe(&[-1.0, -0.5, 0.0, 0.5, 1.0]).unwrap();
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -1.0,
                max: 0.5
            }
        );
    }

    #[test]
    fn clamped_to_observed_range() {
        // Positive-only data [1, 2, 3] (|x| = x): 4 bins on [1, 3] with edges
        // [1, 1.5, 2, 2.5, 3], counts [1, 0, 1, 1], cdf [1/3, 1/3, 2/3, 1]; 99.999 -> idx 3
        // -> t = 2.5 -> (-2.5, 2.5) clamped to [1, 3] -> (1, 2.5).
        let mut o = PercentileObserver::new(4, 99.999, true).unwrap();
        o.observe(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(o.range().unwrap(), Range { min: 1.0, max: 2.5 });
        // Negative-only [-3, -2, -1]: same |x| histogram, (-2.5, 2.5) clamped to [-3, -1] -> (-2.5, -1).
        let mut n = PercentileObserver::new(4, 99.999, true).unwrap();
        n.observe(&[-3.0, -2.0, -1.0]).unwrap();
        assert_eq!(
            n.range().unwrap(),
            Range {
                min: -2.5,
                max: -1.0
            }
        );
    }

    #[test]
    fn streaming_growth() {
        // First batch as in symmetric_by_hand, then [6.5]: bins appended up to 7, counts
        // [1, 2, 1, 2, 0, 0, 1], total 7; 90th percentile: cdf = [1/7, 3/7, 4/7, 6/7, 6/7, 6/7, 1]
        // -> first >= 0.9 is index 6 -> t = 6 -> (-6, 6) clamped to [-4, 6.5] -> (-4, 6).
        let mut o = PercentileObserver::new(4, 90.0, true).unwrap();
        o.observe(&[-4.0, -1.0, 0.0, 1.0, 2.0, 3.0]).unwrap();
        o.observe(&[6.5]).unwrap();
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -4.0,
                max: 6.0
            }
        );
        assert_eq!(o.batches(), 2);
    }

    #[test]
    fn whole_set_extent_equals_one_shot() {
        // Batches binned on the whole set's |x| edges give the one-shot percentile exactly.
        let a: Vec<f32> = (0..500).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..500).map(|i| 3.0 * (i as f32 * 0.11).cos()).collect();
        let all: Vec<f32> = a.iter().chain(&b).copied().collect();
        let mut one = PercentileObserver::new(64, 99.0, true).unwrap();
        one.observe(&all).unwrap();
        let ext = Extent::of(&all).unwrap();
        let mut two = PercentileObserver::with_extent(64, 99.0, true, ext).unwrap();
        two.observe(&a).unwrap();
        two.observe(&b).unwrap();
        assert_eq!(two.range().unwrap(), one.range().unwrap());
        assert_eq!(PercentileObserver::ort_whole_set(ext).percentile(), 99.999);
    }

    #[test]
    fn edge_cases() {
        // All zeros: |x| range (0, 0) -> (-0.5, 0.5); t = edges[idx] clamped to [0, 0].
        let mut o = PercentileObserver::ort_default();
        o.observe(&[0.0; 5]).unwrap();
        let r = o.range().unwrap();
        assert_eq!((r.min, r.max), (0.0, 0.0));
        // Single value 2: |x| range (2, 2) -> (1.5, 2.5), 99.999 -> t = edges[1024] = 2.0.
        let mut s = PercentileObserver::ort_default();
        s.observe(&[2.0]).unwrap();
        assert_eq!(s.range().unwrap(), Range { min: 2.0, max: 2.0 });
        assert!(PercentileObserver::new(8, 101.0, true).is_err());
        assert!(PercentileObserver::ort_default().range().is_err());
        let err = PercentileObserver::ort_default()
            .observe(&[f32::NAN])
            .unwrap_err();
        assert!(err.to_string().contains("percentile observer"), "{err}");
    }
}
