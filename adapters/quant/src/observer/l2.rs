//! PyTorch's `HistogramObserver`: a 2048-bin histogram whose range follows the data, and an
//! L2-error search for the clipping range.
//!
//! Followed: `torch/ao/quantization/observer.py` `HistogramObserver` as in current PyTorch main
//! (2.5+: `upsample_rate = 16`, `_upscale_histogram`, `_combine_histograms(orig, orig_min,
//! orig_max, update, update_min, update_max)`), methods `forward`, `reset_histogram`,
//! `_get_norm`, `_compute_quantization_error`, `_non_linear_param_search`.
//!
//! * **Streaming.** The histogram always has `bins` bins over `[min_val, max_val]`. A batch
//!   inside the current range is binned (`torch.histc`) and added. A batch that widens it is
//!   binned on the new range; the old histogram is re-binned onto the new one by splitting each
//!   old bin into 16 equal sub-bins carrying 1/16 of its count and dropping each sub-bin's mass
//!   into the new bin containing the sub-bin's midpoint (`torch.bucketize(right=True)`); an old
//!   histogram of a single value is moved as a whole. Memory: `bins` floats.
//! * **Search.** `_non_linear_param_search` (after caffe2 `NormMinimization`): starting from the
//!   full range, repeatedly move the start bin or the end bin (whichever quantile gap is larger)
//!   inwards in 1e-5 cumulative-mass steps; stop as soon as the L2 quantization error of the
//!   candidate range `[start, end]` with `dst_nbins = 2^bits` levels **increases**. The error
//!   assumes a uniform density inside each source bin and integrates `(x - level)^2` exactly
//!   (`_get_norm`).
//! * The scale and zero point are then computed by [`crate::convention::pytorch`].
//!
//! Arithmetic follows PyTorch: histogram and per-bin error terms in `f32` (Python scalars cast to
//! `f32`), `cumsum` accumulated in `f64` and stored as `f32`, loop bounds and the bin width of the
//! error in Python `f64`. Reductions (`sum`) are done in `f64` here; this can only matter for
//! exact ties between two candidate errors. PyTorch silently drops ±Inf; here they are rejected.

use super::histogram::floor_div_f32;
use super::{batch_min_max, Observer};
use crate::error::{QuantError, Result};
use crate::params::Range;
use crate::scheme::QType;

/// Upsampling factor used when an old histogram is re-binned (`self.upsample_rate = 16`).
pub const UPSAMPLE_RATE: usize = 16;

/// `torch.histc(x, bins, min=lo, max=hi)` on float32 data (linear bin computation without local
/// search, as `histc` uses): empty ranges take the data's extrema, then `±1`.
fn histc(x: &[f32], bins: usize, lo: f32, hi: f32) -> Vec<f32> {
    let (mut lo64, mut hi64) = (lo as f64, hi as f64);
    if lo64 == hi64 && !x.is_empty() {
        let (a, b) = x
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        lo64 = a as f64;
        hi64 = b as f64;
    }
    if lo64 == hi64 {
        lo64 -= 1.0;
        hi64 += 1.0;
    }
    let (lo, hi) = (lo64 as f32, hi64 as f32);
    let mut h = vec![0.0f32; bins];
    let width = hi - lo;
    for &v in x {
        if !(v >= lo && v <= hi) {
            continue;
        }
        let mut pos = (((v - lo) * bins as f32) / width) as usize;
        if pos >= bins {
            pos = bins - 1;
        }
        h[pos] += 1.0;
    }
    h
}

/// `torch.linspace(start, end, steps)` for float32 (scalar kernel: from the start for the first
/// half, from the end for the second half).
fn torch_linspace(start: f32, end: f32, steps: usize) -> Vec<f32> {
    if steps == 0 {
        return Vec::new();
    }
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                start + step * i as f32
            } else {
                end - step * (steps - i - 1) as f32
            }
        })
        .collect()
}

/// PyTorch's `HistogramObserver` (range part; parameters via the PyTorch convention).
#[derive(Debug, Clone)]
pub struct TorchHistogramObserver {
    bins: usize,
    dst_nbins: usize,
    histogram: Vec<f32>,
    min_val: f32,
    max_val: f32,
    batches: usize,
}

impl TorchHistogramObserver {
    /// `bins` histogram bins (PyTorch default 2048) and `dst_bits` target bits:
    /// `dst_nbins = 2^dst_bits` (PyTorch uses the dtype's width, 8, even with `reduce_range` or a
    /// custom `quant_min/quant_max`).
    pub fn new(bins: usize, dst_bits: u32) -> Result<Self> {
        if bins == 0 {
            return Err(QuantError::InvalidArgument(
                "histogram needs at least 1 bin".into(),
            ));
        }
        if !(1..=16).contains(&dst_bits) {
            return Err(QuantError::UnsupportedBits {
                what: "HistogramObserver dst_nbins".into(),
                bits: dst_bits,
                min: 1,
                max: 16,
            });
        }
        Ok(TorchHistogramObserver {
            bins,
            dst_nbins: 1 << dst_bits,
            histogram: vec![0.0; bins],
            min_val: f32::INFINITY,
            max_val: f32::NEG_INFINITY,
            batches: 0,
        })
    }

    /// PyTorch's default: 2048 bins, `dst_nbins = 2^bits` of `qtype`.
    pub fn for_qtype(qtype: QType) -> Self {
        Self::new(2048, qtype.bits()).expect("valid defaults")
    }

    /// Current histogram.
    pub fn histogram(&self) -> &[f32] {
        &self.histogram
    }

    /// Current `(min_val, max_val)` of the histogram, if any data was seen.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        (self.batches > 0).then_some((self.min_val, self.max_val))
    }

    fn upscale_histogram(
        &self,
        orig_min: f32,
        orig_max: f32,
        new_min: f32,
        new_max: f32,
    ) -> Vec<f32> {
        let u = UPSAMPLE_RATE;
        let n = self.bins * u;
        let bin_size = (orig_max - orig_min) / n as f32;
        let mids: Vec<f32> = torch_linspace(orig_min, orig_max, n + 1)[..n]
            .iter()
            .map(|&m| m + 0.5 * bin_size)
            .collect();
        let bounds = torch_linspace(new_min, new_max, self.bins + 1);
        let mut out = vec![0.0f32; self.bins];
        for (k, &m) in mids.iter().enumerate() {
            let b = bounds.partition_point(|&e| e <= m) as isize - 1;
            let b = b.clamp(0, self.bins as isize - 1) as usize;
            out[b] += self.histogram[k / u] / u as f32;
        }
        out
    }

    /// `_compute_quantization_error(next_start_bin, next_end_bin)`.
    pub(crate) fn quantization_error(&self, start: usize, end: usize) -> f64 {
        let bin_width = (self.max_val as f64 - self.min_val as f64) / self.bins as f64;
        let dst_bin_width = bin_width * (end as f64 - start as f64 + 1.0) / self.dst_nbins as f64;
        if dst_bin_width == 0.0 {
            return 0.0;
        }
        let (bw, dbw) = (bin_width as f32, dst_bin_width as f32);
        let half = (dst_bin_width / 2.0) as f32;
        let last = (self.dst_nbins - 1) as f32;
        let norm = |b: f32, e: f32, density: f32| density * ((e * e * e - b * b * b) / 3.0);
        let full = |density: f32| norm(-half, half, density);
        let mut total = 0.0f64;
        for (i, &h) in self.histogram.iter().enumerate() {
            let src_begin = (i as f32 - start as f32) * bw;
            let src_end = src_begin + bw;
            let dst_begin = floor_div_f32(src_begin, dbw).clamp(0.0, last);
            let dst_begin_center = (dst_begin + 0.5) * dbw;
            let dst_end = floor_div_f32(src_end, dbw).clamp(0.0, last);
            let density = h / bw;
            let mut v = norm(src_begin - dst_begin_center, half, density);
            v += (dst_end - dst_begin - 1.0) * full(density);
            let dst_end_center = dst_end * dbw + half;
            v += norm(-half, src_end - dst_end_center, density);
            total += v as f64;
        }
        total as f32 as f64
    }

    /// `_non_linear_param_search`: the clipping range `(new_min, new_max)`.
    fn non_linear_param_search(&self) -> (f32, f32) {
        let bin_width = (self.max_val - self.min_val) / self.bins as f32;
        let total = self.histogram.iter().map(|&v| v as f64).sum::<f64>() as f32 as f64;
        let mut acc = 0.0f64;
        let csum: Vec<f32> = self
            .histogram
            .iter()
            .map(|&v| {
                acc += v as f64;
                acc as f32
            })
            .collect();
        let stepsize = 1e-5f64;
        let (mut alpha, mut beta) = (0.0f64, 1.0f64);
        let (mut start_bin, mut end_bin) = (0usize, self.bins - 1);
        let mut norm_min = f64::INFINITY;
        while alpha < beta {
            let next_alpha = alpha + stepsize;
            let next_beta = beta - stepsize;
            let (a_thr, b_thr) = ((next_alpha * total) as f32, (next_beta * total) as f32);
            let mut l = start_bin;
            let mut r = end_bin;
            while l < end_bin && csum[l] < a_thr {
                l += 1;
            }
            while r > start_bin && csum[r] > b_thr {
                r -= 1;
            }
            let (mut next_start, mut next_end) = (start_bin, end_bin);
            if (l - start_bin) as i64 > end_bin as i64 - r as i64 {
                next_start = l;
                alpha = next_alpha;
            } else {
                next_end = r;
                beta = next_beta;
            }
            if next_start == start_bin && next_end == end_bin {
                continue;
            }
            let norm = self.quantization_error(next_start, next_end);
            if norm > norm_min {
                break;
            }
            norm_min = norm;
            start_bin = next_start;
            end_bin = next_end;
        }
        (
            self.min_val + bin_width * start_bin as f32,
            self.min_val + bin_width * (end_bin + 1) as f32,
        )
    }
}

impl Observer for TorchHistogramObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        let Some((x_min, x_max)) = batch_min_max(self.name(), self.batches, batch)? else {
            return Ok(());
        };
        if self.batches == 0 {
            self.min_val = x_min;
            self.max_val = x_max;
            self.histogram = histc(batch, self.bins, x_min, x_max);
        } else {
            let (cur_min, cur_max) = (self.min_val, self.max_val);
            let new_min = cur_min.min(x_min);
            let new_max = cur_max.max(x_max);
            let update = histc(batch, self.bins, new_min, new_max);
            if new_min == cur_min && new_max == cur_max {
                for (a, b) in self.histogram.iter_mut().zip(update) {
                    *a += b;
                }
            } else {
                let transformed = if cur_min == cur_max {
                    let bin_value = self.histogram.iter().map(|&v| v as f64).sum::<f64>() as f32;
                    histc(&[cur_min], self.bins, new_min, new_max)
                        .into_iter()
                        .map(|v| v * bin_value)
                        .collect()
                } else {
                    self.upscale_histogram(cur_min, cur_max, new_min, new_max)
                };
                self.histogram = update
                    .into_iter()
                    .zip(transformed)
                    .map(|(a, b)| a + b)
                    .collect();
                self.min_val = new_min;
                self.max_val = new_max;
            }
        }
        self.batches += 1;
        Ok(())
    }

    /// The L2-optimal clipping range (`_non_linear_param_search`).
    fn range(&self) -> Result<Range> {
        if self.batches == 0 {
            return Err(QuantError::NoData {
                observer: self.name(),
            });
        }
        let (lo, hi) = self.non_linear_param_search();
        Ok(Range { min: lo, max: hi })
    }

    fn name(&self) -> &'static str {
        "pytorch-histogram"
    }

    fn batches(&self) -> usize {
        self.batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convention::pytorch::{calculate_qparams, TorchQConfig};

    /// 4 bins on [0, 4] with one value at each end: histogram [1, 0, 0, 1].
    fn two_ends(dst_bits: u32) -> TorchHistogramObserver {
        let mut o = TorchHistogramObserver::new(4, dst_bits).unwrap();
        o.observe(&[0.0, 4.0]).unwrap();
        assert_eq!(o.histogram(), &[1.0, 0.0, 0.0, 1.0]);
        o
    }

    #[test]
    fn quantization_error_by_hand() {
        // bins of width 1, density 1 in [0,1] and [3,4]; dst_nbins = 2.
        let o = two_ends(1);
        // Range [0,4] (bins 0..3): dst width 2, levels at 1 and 3:
        //   ∫_0^1 (x-1)^2 dx + ∫_3^4 (x-3)^2 dx = 1/3 + 1/3 = 2/3
        assert!((o.quantization_error(0, 3) - 2.0 / 3.0).abs() < 1e-6);
        // Range [0,3] (bins 0..2): dst width 1.5, levels 0.75 and 2.25:
        //   ∫_0^1 (x-0.75)^2 = (0.25^3 + 0.75^3)/3 = 0.1458333; ∫_3^4 (x-2.25)^2 = (1.75^3 - 0.75^3)/3
        //   = 1.6458333 -> 1.7916667
        assert!((o.quantization_error(0, 2) - 1.7916667).abs() < 1e-5);
        // Range [0,1] (bin 0): dst width 0.5, levels 0.25 and 0.75:
        //   ∫_0^1 = 2·∫_{-1/4}^{1/4} x^2 = 0.0208333; ∫_3^4 (x-0.75)^2 = (3.25^3 - 2.25^3)/3 = 7.6458333
        assert!((o.quantization_error(0, 0) - 7.6666667).abs() < 1e-5);
    }

    #[test]
    fn search_by_hand() {
        // total 2, cSum [1, 1, 1, 2]. First step: l stays 0, r drops to 2 (cSum[3] = 2 > 2·(1-1e-5)),
        // the end gap (1) is larger -> try [0, 2]: error 1.79 < inf, accept. The end bin then
        // stays until beta < 0.5, when r falls to 0: error([0,0]) = 7.67 > 1.79 -> stop.
        // Result: [min + 0·1, min + (2+1)·1] = [0, 3].
        let o = two_ends(1);
        assert_eq!(o.range().unwrap(), Range { min: 0.0, max: 3.0 });
    }

    #[test]
    fn combine_histograms_by_hand() {
        // [1, 0, 0, 1] on [0, 4], then a batch [8]: new range [0, 8] (bins of width 2).
        // New batch: histc([8]) = [0, 0, 0, 1]. Old bins split into 16 sub-bins of 1/16 each:
        // midpoints of old bin 0 lie in [0, 1) -> new bin 0; of old bin 3 in [3, 4) -> new bin 1.
        // Result [1, 1, 0, 1].
        let mut o = two_ends(8);
        o.observe(&[8.0]).unwrap();
        assert_eq!(o.histogram(), &[1.0, 1.0, 0.0, 1.0]);
        assert_eq!(o.min_max(), Some((0.0, 8.0)));
        // A batch inside the range is simply added: 5 -> bin 2.
        o.observe(&[5.0]).unwrap();
        assert_eq!(o.histogram(), &[1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn single_value_history_moves_as_a_whole() {
        // Three 2s: histc with min == max uses the data extrema, still equal -> range [1, 3]:
        // 2 -> (2-1)·4/2 = 2 -> bin 2. Then [0, 4]: the old mass 3 moves to histc(2 on [0,4]) = bin 2.
        let mut o = TorchHistogramObserver::new(4, 8).unwrap();
        o.observe(&[2.0, 2.0, 2.0]).unwrap();
        assert_eq!(o.histogram(), &[0.0, 0.0, 3.0, 0.0]);
        assert_eq!(o.min_max(), Some((2.0, 2.0)));
        o.observe(&[0.0, 4.0]).unwrap();
        assert_eq!(o.histogram(), &[1.0, 0.0, 3.0, 1.0]);
    }

    #[test]
    fn all_zero_gives_pytorch_eps_scale() {
        // All zeros: min = max = 0 -> bin width 0 -> every error is 0, the search returns [0, 0]
        // and _calculate_qparams gives scale = eps, zero_point = 0 (quint8, reduce_range).
        let mut o = TorchHistogramObserver::for_qtype(QType::UINT8);
        o.observe(&[0.0; 16]).unwrap();
        let r = o.range().unwrap();
        assert_eq!(r, Range { min: 0.0, max: 0.0 });
        let p = calculate_qparams(r.min, r.max, &TorchQConfig::quint8_affine(true)).unwrap();
        assert_eq!((p.scale, p.zero_point), (f32::EPSILON, 0));
    }

    #[test]
    fn l2_search_clips_only_when_it_pays() {
        // 1000 values evenly over [-1, 1] plus one at 3.
        let bulk: Vec<f32> = (0..1000).map(|i| -1.0 + 2.0 * i as f32 / 999.0).collect();
        // 2-bit target (4 levels): keeping [-1, 3] costs about 1000·1²/12 = 83 in L2 terms,
        // clipping to [-1, 1] about 1000·0.5²/12 + (3 - 0.75)² = 26: the search clips near 1.
        let mut o = TorchHistogramObserver::new(2048, 2).unwrap();
        o.observe(&bulk).unwrap();
        o.observe(&[3.0]).unwrap();
        let r = o.range().unwrap();
        assert!(r.max < 2.0 && r.max > 0.5, "{r:?}");
        assert!(r.min < -0.5, "{r:?}");
        // 8-bit target: the outlier's clipping error (~4) exceeds the resolution gain, and the
        // first accepted step only drops the last (empty above 3) bin: the range stays near 3.
        let mut o8 = TorchHistogramObserver::new(2048, 8).unwrap();
        o8.observe(&bulk).unwrap();
        o8.observe(&[3.0]).unwrap();
        let r8 = o8.range().unwrap();
        assert!(r8.max > 2.9, "{r8:?}");
    }

    #[test]
    fn negative_only_and_errors() {
        let mut o = TorchHistogramObserver::new(8, 8).unwrap();
        assert!(matches!(o.range(), Err(QuantError::NoData { .. })));
        o.observe(&[-3.0, -1.0, -2.0]).unwrap();
        let r = o.range().unwrap();
        assert!(r.min >= -3.0 && r.max <= -1.0 && r.min <= r.max, "{r:?}");
        assert!(o.observe(&[f32::INFINITY]).is_err());
        assert!(TorchHistogramObserver::new(0, 8).is_err());
        assert!(TorchHistogramObserver::new(8, 0).is_err());
    }

    #[test]
    fn helpers() {
        // torch.linspace(0, 1, 5) = [0, .25, .5, .75, 1]; histc of 1.0 on [0, 1] -> last bin.
        assert_eq!(torch_linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(histc(&[1.0, 0.0, 2.0], 2, 0.0, 1.0), vec![1.0, 1.0]);
    }
}
