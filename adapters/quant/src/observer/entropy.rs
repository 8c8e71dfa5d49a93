//! Entropy (KL-divergence) calibration, TensorRT-style, exactly as ONNX Runtime implements it.
//!
//! Followed: `onnxruntime/python/tools/quantization/calibrate.py`, `HistogramCollector.
//! get_entropy_threshold` and `quant_utils.py` `smooth_distribution` (ORT 1.20-era main; same
//! algorithm since microsoft/onnxruntime@b15ffcdd9e36). The histogram is ORT's real-value
//! histogram ([`RealHistogram`], *not* an absolute-value one).
//!
//! For `i` from `num_quantized_bins / 2` to `num_bins / 2` (zero bin index `z = num_bins / 2`):
//! candidate thresholds `(edges[z - i], edges[min(z + i + 1, num_bins)])`; `p` = the sliced
//! histogram with the outliers added to its first and last bins; the slice (without outliers) is
//! merged into `num_quantized_bins` bins of `len / num_quantized_bins` source bins (the remainder
//! goes into the last quantized bin), then expanded back: every position of a group gets
//! `trunc(group_sum / nonzero_count_of_p_in_group)` (ORT writes into an int64 array and fills
//! zero positions too; positions past `num_quantized_bins · merged` stay 0). Both are smoothed
//! (`eps = 1e-4`) and `scipy.stats.entropy(p, q)` is evaluated in `f32`; the first minimum wins
//! and the thresholds are clamped to the observed `[min, max]`.
//!
//! With ORT's defaults (128 bins, 128 quantized bins) there is a single candidate, the whole
//! histogram, so Entropy equals MinMax — as long as the histogram has not grown: once a later
//! batch widens the range, the histogram has more than 128 bins and several candidates compete.
//! ORT's `quantize_static` histograms the whole calibration set at once, so there its histogram
//! never grows and Entropy with the defaults is exactly MinMax ([`EntropyObserver::with_extent`]
//! reproduces this when streaming). [`EntropyObserver::recommended`] (2048 / 255) is the
//! meaningful setting. The search costs
//! O(bins²) (as in ORT): a far outlier arriving after the first batch multiplies the bin count. Sums follow numpy's pairwise float32 summation; tiny differences from
//! numpy's float32 `log` path can only matter for exact ties between candidates.

use super::histogram::{numpy_sum_f32, Extent, RealHistogram};
use super::{ort_clamp_thresholds, Observer};
use crate::error::{QuantError, Result};
use crate::params::Range;

/// `smooth_distribution(p, eps=0.0001)`: zeros become `eps`, non-zeros lose
/// `eps · n_zeros / n_nonzeros`; `None` if all entries are zero.
fn smooth_distribution(p: &[i64]) -> Result<Option<Vec<f32>>> {
    let eps = 0.0001f64;
    let n_zeros = p.iter().filter(|&&v| v == 0).count();
    let n_nonzeros = p.len() - n_zeros;
    if n_nonzeros == 0 {
        return Ok(None);
    }
    let eps1 = eps * n_zeros as f64 / n_nonzeros as f64;
    if eps1 >= 1.0 {
        return Err(QuantError::InvalidArgument(format!(
            "entropy calibration: smoothing failed (n_zeros={n_zeros}, n_nonzeros={n_nonzeros}, eps1={eps1}); ONNX Runtime asserts here too, use fewer bins"
        )));
    }
    let (eps32, eps1_32) = (eps as f32, (-eps1) as f32);
    Ok(Some(
        p.iter()
            .map(|&v| if v == 0 { eps32 } else { v as f32 + eps1_32 })
            .collect(),
    ))
}

/// `scipy.stats.entropy(p, q)` on float32 arrays: both normalised, `sum(p · ln(p / q))`.
fn kl_f32(p: &[f32], q: &[f32]) -> f32 {
    let sp = numpy_sum_f32(p);
    let sq = numpy_sum_f32(q);
    let terms: Vec<f32> = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (x, y) = ((a / sp) as f64, (b / sq) as f64);
            if x > 0.0 && y > 0.0 {
                (x * (x / y).ln()) as f32
            } else if x == 0.0 && y >= 0.0 {
                0.0
            } else {
                f32::INFINITY
            }
        })
        .collect();
    numpy_sum_f32(&terms)
}

/// One candidate of the threshold search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropyCandidate {
    /// `(edges[start], edges[end])` before clamping.
    pub thresholds: (f32, f32),
    /// KL divergence (infinite when a distribution is all zero).
    pub kl: f32,
}

/// The threshold search of `get_entropy_threshold` on explicit histogram counts and edges.
pub(crate) fn entropy_candidates(
    hist: &[u64],
    edges: &[f32],
    num_quantized_bins: usize,
) -> Result<Vec<EntropyCandidate>> {
    let num_bins = hist.len();
    let zero = num_bins / 2;
    let half_q = num_quantized_bins / 2;
    if zero < half_q || num_quantized_bins == 0 {
        return Err(QuantError::InvalidArgument(format!(
            "entropy calibration needs num_bins/2 >= num_quantized_bins/2 (histogram has {num_bins} bins, {num_quantized_bins} quantized bins)"
        )));
    }
    let hist: Vec<i64> = hist.iter().map(|&v| v as i64).collect();
    let mut out = Vec::with_capacity(zero - half_q + 1);
    for i in half_q..=zero {
        let start = zero - i;
        let end = (zero + i + 1).min(num_bins);
        let thresholds = (edges[start], edges[end]);
        let sliced = &hist[start..end];
        let mut p = sliced.to_vec();
        p[0] += hist[..start].iter().sum::<i64>();
        let last = p.len() - 1;
        p[last] += hist[end..].iter().sum::<i64>();
        let nonzero: Vec<i64> = p.iter().map(|&v| (v != 0) as i64).collect();
        let merged = sliced.len() / num_quantized_bins;
        let mut qb = vec![0i64; num_quantized_bins];
        for (idx, b) in qb.iter_mut().enumerate() {
            let s = (idx * merged).min(sliced.len());
            let e = (s + merged).min(sliced.len());
            *b = sliced[s..e].iter().sum();
        }
        let rest = (num_quantized_bins * merged).min(sliced.len());
        qb[num_quantized_bins - 1] += sliced[rest..].iter().sum::<i64>();
        let mut q = vec![0i64; p.len()];
        for (idx, &b) in qb.iter().enumerate() {
            let s = (idx * merged).min(p.len());
            let e = (s + merged).min(p.len());
            let norm: i64 = nonzero[s..e].iter().sum();
            if norm != 0 {
                let v = (b as f64 / norm as f64) as i64;
                q[s..e].iter_mut().for_each(|x| *x = v);
            }
        }
        let kl = match (smooth_distribution(&p)?, smooth_distribution(&q)?) {
            (Some(ps), Some(qs)) => kl_f32(&ps, &qs),
            _ => f32::INFINITY,
        };
        out.push(EntropyCandidate { thresholds, kl });
    }
    Ok(out)
}

/// Streaming entropy calibration (ORT `CalibrationMethod.Entropy`).
#[derive(Debug, Clone)]
pub struct EntropyObserver {
    hist: RealHistogram,
    num_quantized_bins: usize,
}

impl EntropyObserver {
    /// `num_bins` histogram bins (the histogram may grow), `num_quantized_bins` target bins.
    pub fn new(num_bins: usize, num_quantized_bins: usize) -> Result<Self> {
        if num_quantized_bins == 0 || num_bins / 2 < num_quantized_bins / 2 {
            return Err(QuantError::InvalidArgument(format!(
                "entropy calibration needs num_bins/2 >= num_quantized_bins/2 > 0, got {num_bins}/{num_quantized_bins}"
            )));
        }
        Ok(EntropyObserver {
            hist: RealHistogram::new(num_bins)?,
            num_quantized_bins,
        })
    }

    /// ORT's defaults: 128 bins, 128 quantized bins (equivalent to MinMax).
    pub fn ort_default() -> Self {
        Self::new(128, 128).expect("valid defaults")
    }

    /// As [`EntropyObserver::new`], binning every batch on the edges of the whole calibration
    /// set's `extent` — what ORT's `quantize_static` does (it histograms all batches at once, so
    /// its histogram never grows).
    pub fn with_extent(num_bins: usize, num_quantized_bins: usize, extent: Extent) -> Result<Self> {
        let mut o = Self::new(num_bins, num_quantized_bins)?;
        o.hist = RealHistogram::with_extent(num_bins, extent)?;
        Ok(o)
    }

    /// ORT's `quantize_static` defaults (128 / 128) over a whole set of known `extent`: a single
    /// candidate, so the result is the whole set's MinMax range.
    pub fn ort_whole_set(extent: Extent) -> Self {
        Self::with_extent(128, 128, extent).expect("valid defaults")
    }

    /// The meaningful setting: 2048 bins, 255 quantized bins.
    pub fn recommended() -> Self {
        Self::new(2048, 255).expect("valid defaults")
    }

    /// The underlying histogram.
    pub fn histogram(&self) -> &RealHistogram {
        &self.hist
    }

    /// Every candidate with its KL divergence (for inspection and reports).
    pub fn candidates(&self) -> Result<Vec<EntropyCandidate>> {
        if self.hist.batches() == 0 {
            return Err(QuantError::NoData {
                observer: self.name(),
            });
        }
        entropy_candidates(
            self.hist.counts(),
            self.hist.edges(),
            self.num_quantized_bins,
        )
    }
}

impl Observer for EntropyObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        self.hist.observe(batch).map_err(|e| match e {
            QuantError::NonFinite { what, index, value } => QuantError::NonFinite {
                what: what.replace("histogram", "entropy"),
                index,
                value,
            },
            other => other,
        })
    }

    fn range(&self) -> Result<Range> {
        let cands = self.candidates()?;
        let mut best = 0;
        for (k, c) in cands.iter().enumerate() {
            if c.kl < cands[best].kl {
                best = k;
            }
        }
        let (lo, hi) = cands[best].thresholds;
        let (min, max) = self.hist.min_max().expect("data observed");
        Ok(ort_clamp_thresholds(lo, hi, min, max))
    }

    fn name(&self) -> &'static str {
        "entropy"
    }

    fn batches(&self) -> usize {
        self.hist.batches()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_by_hand() {
        // [0, 2, 4, 2, 0]: 2 zeros, 3 non-zeros, eps1 = 1e-4·2/3.
        let s = smooth_distribution(&[0, 2, 4, 2, 0]).unwrap().unwrap();
        let eps1 = (1e-4f64 * 2.0 / 3.0) as f32;
        assert_eq!(s, vec![1e-4, 2.0 - eps1, 4.0 - eps1, 2.0 - eps1, 1e-4]);
        assert!(smooth_distribution(&[0, 0]).unwrap().is_none());
        // eps1 = 1e-4·29999/2 >= 1 is refused, as ORT asserts.
        let mut many = vec![0i64; 30001];
        many[0] = 1;
        many[1] = 1;
        assert!(smooth_distribution(&many).is_err());
    }

    #[test]
    fn kl_search_by_hand() {
        // 8 bins on [-4, 4] (stride 1), 4 quantized bins; counts [0, 0, 3, 5, 5, 3, 0, 1]
        // from the data below (min -1.5, max 4). z = 4, candidates i = 2, 3, 4:
        //
        // i=2: slice [2, 7) = [3,5,5,3,0], p = [3,5,5,3,0+1] (right outlier), merged = 1,
        //   q = [3,5,5,3,0] -> smoothed q = [3-e,5-e,5-e,3-e,1e-4] (e = 2.5e-5), |p| = 17, |q| = 16:
        //   KL = 2·(3/17)ln((3/17)/((3-e)/16)) + 2·(5/17)ln((5/17)/((5-e)/16)) + (1/17)ln((1/17)/(1e-4/16))
        //      = 2·(-0.010697) + 2·(-0.017829) + 0.538225 = 0.481173
        // i=3: slice [1, 8) = [0,3,5,5,3,0,1], p equal (no outliers left of bin 1 except 0),
        //   merged = 1, quantized = [0,3,5,5+(3+0+1)] = [0,3,5,9], q = [0,3,5,9,0,0,0]
        //   -> KL = 2.18810 (the remainder is dumped into one quantized bin: ORT's expansion)
        // i=4: whole histogram, merged = 2, quantized = [0, 8, 8, 1],
        //   q = [0,0,4,4,4,4,1,1] (every position of a group, zero or not, gets sum/nonzeros)
        //   -> KL = 0.086828 (minimum)
        let mut o = EntropyObserver::new(8, 4).unwrap();
        let mut data = vec![-1.5f32; 3];
        data.extend([-0.5f32; 5]);
        data.extend([0.5f32; 5]);
        data.extend([1.5f32; 3]);
        data.push(4.0);
        o.observe(&data).unwrap();
        assert_eq!(o.histogram().counts(), &[0, 0, 3, 5, 5, 3, 0, 1]);
        let c = o.candidates().unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].thresholds, (-2.0, 3.0));
        assert_eq!(c[1].thresholds, (-3.0, 4.0));
        assert_eq!(c[2].thresholds, (-4.0, 4.0));
        for (got, want) in c.iter().zip([0.481173f32, 2.18810, 0.086828]) {
            assert!((got.kl - want).abs() < 2e-4, "{} vs {want}", got.kl);
        }
        // Best is i = 4 -> (-4, 4) clamped to the data's [min, max] = [-1.5, 4].
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -1.5,
                max: 4.0
            }
        );
    }

    #[test]
    fn ort_defaults_equal_minmax_until_the_histogram_grows() {
        // 128/128 on one batch: a single candidate (edges[0], edges[128]) = (-t, t), clamped to
        // the data's [min, max] -> exactly MinMax.
        let mut o = EntropyObserver::ort_default();
        o.observe(&[-1.0, 0.5, 2.0]).unwrap();
        assert_eq!(o.candidates().unwrap().len(), 1);
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -1.0,
                max: 2.0
            }
        );
        // A later batch widens t from 2 to 3: stride 4/128 = 0.03125, floor(1/0.03125) + 1 = 33
        // bins per side -> 194 bins, z = 97, candidates i = 64..=97: 34 of them. From here on
        // the "defaults equal MinMax" rule no longer holds.
        o.observe(&[3.0, -0.25]).unwrap();
        assert_eq!(o.histogram().counts().len(), 194);
        assert_eq!(o.candidates().unwrap().len(), 34);
        let r = o.range().unwrap();
        assert!(r.min >= -1.0 && r.max <= 3.0, "{r:?}");
        // Positive-only data: (-t, t) clamped -> (min, max) of the data.
        let mut p = EntropyObserver::ort_default();
        p.observe(&[1.0, 2.0]).unwrap();
        assert_eq!(p.range().unwrap(), Range { min: 1.0, max: 2.0 });
    }

    #[test]
    fn whole_set_defaults_are_minmax() {
        // Two batches, the second wider: with the whole set's extent the histogram keeps 128
        // bins (one candidate) and the range is the whole set's min/max, as in quantize_static.
        let (a, b) = ([-1.0f32, 0.5, 2.0], [3.0f32, -0.25]);
        let ext = Extent::of(&a).unwrap().merge(Extent::of(&b).unwrap());
        let mut o = EntropyObserver::ort_whole_set(ext);
        o.observe(&a).unwrap();
        o.observe(&b).unwrap();
        assert_eq!(o.histogram().counts().len(), 128);
        assert_eq!(o.candidates().unwrap().len(), 1);
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -1.0,
                max: 3.0
            }
        );
    }

    #[test]
    fn recommended_setting_cuts_an_outlier() {
        // 20000 triangular values in (-1, 1) (sum of two uniforms - 1) plus one outlier at 3:
        // the KL search keeps a threshold near the bulk, well below 3.
        let mut o = EntropyObserver::recommended();
        let mut state = 12345u32;
        let mut uniform = move || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1u32 << 24) as f32 // [0, 1)
        };
        for b in 0..2 {
            let mut batch: Vec<f32> = (0..10000).map(|_| uniform() + uniform() - 1.0).collect();
            if b == 0 {
                batch.push(3.0);
            }
            o.observe(&batch).unwrap();
        }
        let r = o.range().unwrap();
        assert!(r.max < 2.0 && r.max > 0.5, "{r:?}");
        assert!(r.min < -0.5, "{r:?}");
        assert_eq!(o.batches(), 2);
    }

    #[test]
    fn edge_cases() {
        // All zeros: histogram on (-0.5, 0.5); thresholds clamped to [0, 0].
        let mut o = EntropyObserver::ort_default();
        o.observe(&[0.0; 10]).unwrap();
        assert_eq!(o.range().unwrap(), Range { min: 0.0, max: 0.0 });
        // Single value, negative-only.
        let mut n = EntropyObserver::new(16, 8).unwrap();
        n.observe(&[-2.0]).unwrap();
        let r = n.range().unwrap();
        assert!(r.min >= -2.0 && r.max <= 0.0, "{r:?}");
        // No data, NaN, bad configuration.
        assert!(matches!(
            EntropyObserver::recommended().range(),
            Err(QuantError::NoData { .. })
        ));
        let err = EntropyObserver::ort_default()
            .observe(&[f32::NAN])
            .unwrap_err();
        assert!(err.to_string().contains("entropy observer"), "{err}");
        assert!(EntropyObserver::new(4, 16).is_err());
        assert!(EntropyObserver::new(16, 0).is_err());
    }
}
