//! ONNX Runtime's streaming histograms, which grow their range as new data arrives.
//!
//! Followed: `onnxruntime/python/tools/quantization/calibrate.py`, class `HistogramCollector`
//! (methods `collect_value`, `merge_histogram`, `collect_absolute_value`), in the version with
//! `str | Path` annotations and per-channel MinMax (ORT 1.20-era main); the algorithms are
//! unchanged since microsoft/onnxruntime@b15ffcdd9e36.
//!
//! **[`RealHistogram`]** (`collect_value`, used by Entropy and by non-symmetric Percentile):
//! bins span `[-t, t]` with `t = max(|min|, |max|)` of the first batch. A later batch with
//! `t' <= t` is binned on the same edges and added. A batch with `t' > t` grows the histogram by
//! whole bins of the **same width** on both sides: `k = floor((t' - t) / stride) + 1` bins per
//! side, new `t = t + k·stride`; the new batch is binned on the wider edges and the old counts are
//! added to the central bins. Existing counts are never re-distributed, so growth is exact;
//! memory grows only with the range (in units of the first batch's bin width), never with the
//! number of samples.
//!
//! **[`AbsHistogram`]** (`collect_absolute_value`, used by symmetric Percentile): a histogram of
//! `|x|` whose edges start at the **first batch's** `min|x|` and end at its `max|x|`; a later
//! batch with a larger `max|x|` appends bins of the same width (`np.arange`). Values below the
//! first edge are **dropped** (ORT's behaviour, reproduced).
//!
//! **Whole-set binning.** ONNX Runtime's `HistogramCalibrater.collect_data` runs the *whole*
//! calibration reader first and then calls `collect_value` / `collect_absolute_value` **once**
//! with the list of all batches (stacked by `np.asarray`), so `quantize_static` never takes the
//! growth paths above: the histogram spans the whole set's range from the start. Streaming
//! reproduces this exactly when the whole set's [`Extent`] is known in advance (a first pass over
//! the calibration set): [`RealHistogram::with_extent`] / [`AbsHistogram::with_extent`] bin every
//! batch on the edges `np.histogram` would use for the concatenated data (binning is element-wise,
//! so the sum of per-batch counts equals the histogram of the concatenation).
//!
//! Binning reproduces `np.histogram` for float32 data: edges from `np.linspace` in float32
//! (numpy 2 semantics), a value `v` goes to bin `i` with `e[i] <= v < e[i+1]`, the last bin is
//! closed, values outside the edges are ignored.

use super::{batch_min_max, Observer};
use crate::error::{QuantError, Result};
use crate::params::Range;

/// Upper bound on the number of bins a growing histogram may reach (ORT has none; beyond this
/// the histogram would cost more than 128 MiB and the O(bins²) entropy search would never end).
pub const MAX_HISTOGRAM_BINS: usize = 1 << 24;

fn too_many_bins(what: &str, bins: f64) -> QuantError {
    QuantError::InvalidArgument(format!(
        "{what}: growing the histogram to cover the new batch would need {bins} bins (limit {MAX_HISTOGRAM_BINS}); the first batch's range is far narrower than later ones"
    ))
}

/// Python/numpy/PyTorch floor division for floats (`npy_divmod`, `c10::div_floor_floating`).
pub(crate) fn floor_div_f32(a: f32, b: f32) -> f32 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut fd = div.floor();
        if div - fd > 0.5 {
            fd += 1.0;
        }
        fd
    } else {
        0.0f32.copysign(a / b)
    }
}

/// `np.linspace(start, stop, num, dtype=float32)` with float32 operands (numpy 2):
/// `e[k] = k·step + start` in `f32` with `step = (stop - start) / (num - 1)`, last = `stop`.
pub(crate) fn linspace_f32(start: f32, stop: f32, num: usize) -> Vec<f32> {
    if num == 0 {
        return Vec::new();
    }
    if num == 1 {
        return vec![start];
    }
    let div = (num - 1) as f32;
    let delta = stop - start;
    let step = delta / div;
    let mut y: Vec<f32> = if step == 0.0 {
        (0..num).map(|k| (k as f32 / div) * delta).collect()
    } else {
        (0..num).map(|k| k as f32 * step).collect()
    };
    for v in &mut y {
        *v += start;
    }
    y[num - 1] = stop;
    y
}

/// `np.arange(start, stop, step)` for float32 scalars.
pub(crate) fn arange_f32(start: f32, stop: f32, step: f32) -> Vec<f32> {
    let len = ((stop - start) / step) as f64;
    if !(len.is_finite() && len > 0.0) {
        return Vec::new();
    }
    let len = len.ceil() as usize;
    let mut out = Vec::with_capacity(len);
    out.push(start);
    if len > 1 {
        let second = start + step;
        out.push(second);
        let delta = second - start;
        for i in 2..len {
            out.push(start + i as f32 * delta);
        }
    }
    out
}

/// numpy's pairwise summation of a float32 array (`FLOAT_pairwise_sum`, blocks of 128,
/// 8 accumulators), as used by `np.sum` on a contiguous 1-D array: `a[0] + pairwise(a[1..])`.
pub(crate) fn numpy_sum_f32(a: &[f32]) -> f32 {
    fn pairwise(a: &[f32]) -> f32 {
        let n = a.len();
        if n < 8 {
            let mut res = 0.0f32;
            for &v in a {
                res += v;
            }
            res
        } else if n <= 128 {
            let mut r = [0.0f32; 8];
            r.copy_from_slice(&a[..8]);
            let mut i = 8;
            while i < n - (n % 8) {
                for j in 0..8 {
                    r[j] += a[i + j];
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            while i < n {
                res += a[i];
                i += 1;
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            pairwise(&a[..n2]) + pairwise(&a[n2..])
        }
    }
    match a.split_first() {
        None => 0.0,
        Some((first, rest)) => *first + pairwise(rest),
    }
}

/// `np.histogram(data, bins=n, range=(lo, hi))` for float32 data: counts and float32 edges.
/// An empty range is widened to `(lo - 0.5, hi + 0.5)` as numpy does.
pub(crate) fn histogram_uniform(data: &[f32], n: usize, lo: f32, hi: f32) -> (Vec<u64>, Vec<f32>) {
    histogram_uniform_of(data, n, lo, hi, false)
}

/// [`histogram_uniform`] of `|x|` (without materializing the absolute values).
pub(crate) fn histogram_uniform_abs(
    data: &[f32],
    n: usize,
    lo: f32,
    hi: f32,
) -> (Vec<u64>, Vec<f32>) {
    histogram_uniform_of(data, n, lo, hi, true)
}

fn histogram_uniform_of(
    data: &[f32],
    n: usize,
    lo: f32,
    hi: f32,
    abs: bool,
) -> (Vec<u64>, Vec<f32>) {
    let (mut first, mut last) = (lo, hi);
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let edges = linspace_f32(first, last, n + 1);
    let counts = if abs {
        count_bins::<true>(data, &edges)
    } else {
        count_bins::<false>(data, &edges)
    };
    (counts, edges)
}

/// `np.histogram(data, bins=edges)` (explicit, increasing edges): bin `i` counts
/// `e[i] <= x < e[i+1]`, the last bin is closed, values outside are ignored.
pub(crate) fn histogram_edges(data: &[f32], edges: &[f32]) -> Vec<u64> {
    count_bins::<false>(data, edges)
}

/// Counts of `x` (or `|x|` when `ABS`) in bins `e[i] <= x < e[i+1]` of increasing `edges`, the
/// last bin closed, values outside (and NaN) ignored: numpy's bin for every value.
fn count_bins<const ABS: bool>(data: &[f32], edges: &[f32]) -> Vec<u64> {
    let n = edges.len().saturating_sub(1);
    let mut counts = vec![0u64; n];
    if n == 0 {
        return counts;
    }
    let (first, last) = (edges[0], edges[n]);
    // numpy's guess, `((x - first) / (last - first)) * n` (its formula: a value in the middle
    // of a symmetric range, such as the zeros of a ReLU output, lands exactly on its bin; a
    // multiplication by the reciprocal missed it by one for some ranges, and the correction
    // became a branch as unpredictable as the data), then steps until
    // `edges[i] <= x < edges[i + 1]`: numpy's bin exactly, O(1) per value for the near-uniform
    // edges the observers use, exact for any increasing edges. The guess converts through `i32`
    // (one instruction; bins never exceed `MAX_HISTOGRAM_BINS`): the saturating conversion to
    // `usize` made binning a third slower.
    let (width, bins) = (last - first, n as f32);
    let top = i32::try_from(n - 1).unwrap_or(i32::MAX);
    for &v in data {
        let x = if ABS { v.abs() } else { v };
        if !(x >= first && x <= last) {
            continue;
        }
        let mut idx = (((x - first) / width * bins) as i32).clamp(0, top) as usize;
        // `edges[0] <= x`, so this loop needs no `idx > 0` test (which split the zeros of a
        // ReLU output from the rest); the last bin is closed.
        while x < edges[idx] {
            idx -= 1;
        }
        while x >= edges[idx + 1] && idx + 1 < n {
            idx += 1;
        }
        counts[idx] += 1;
    }
    counts
}

/// Extent of a tensor over the whole calibration set: raw min/max and min/max of `|x|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    pub min: f32,
    pub max: f32,
    pub min_abs: f32,
    pub max_abs: f32,
}

impl Extent {
    /// Extent of one batch (`None` if empty; values are assumed finite).
    pub fn of(batch: &[f32]) -> Option<Extent> {
        batch.first()?;
        // Independent lanes so the compiler vectorizes the pass (values are finite here).
        const LANES: usize = 16;
        let mut lo = [f32::INFINITY; LANES];
        let mut hi = [f32::NEG_INFINITY; LANES];
        let mut alo = [f32::INFINITY; LANES];
        let mut ahi = [0f32; LANES];
        let mut step = |i: usize, v: f32| {
            let a = v.abs();
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
            alo[i] = if a < alo[i] { a } else { alo[i] };
            ahi[i] = if a > ahi[i] { a } else { ahi[i] };
        };
        let chunks = batch.chunks_exact(LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for (i, &v) in c.iter().enumerate() {
                step(i, v);
            }
        }
        for (i, &v) in rest.iter().enumerate() {
            step(i, v);
        }
        let fold =
            |a: &[f32; LANES], init: f32, f: fn(f32, f32) -> f32| a.iter().copied().fold(init, f);
        Some(Extent {
            min: fold(&lo, f32::INFINITY, f32::min),
            max: fold(&hi, f32::NEG_INFINITY, f32::max),
            min_abs: fold(&alo, f32::INFINITY, f32::min),
            max_abs: fold(&ahi, 0.0, f32::max),
        })
    }

    /// Union of two extents.
    pub fn merge(self, o: Extent) -> Extent {
        Extent {
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            min_abs: self.min_abs.min(o.min_abs),
            max_abs: self.max_abs.max(o.max_abs),
        }
    }
}

/// First pass of whole-set calibration: the [`Extent`] of every batch seen.
#[derive(Debug, Clone, Default)]
pub struct ExtentObserver {
    extent: Option<Extent>,
    batches: usize,
}

impl ExtentObserver {
    pub fn new() -> Self {
        Self::default()
    }

    /// The extent so far (`None` before any data).
    pub fn extent(&self) -> Option<Extent> {
        self.extent
    }
}

impl Observer for ExtentObserver {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        if batch_min_max(self.name(), self.batches, batch)?.is_none() {
            return Ok(());
        }
        let e = Extent::of(batch).expect("non-empty batch");
        self.extent = Some(match self.extent {
            Some(old) => old.merge(e),
            None => e,
        });
        self.batches += 1;
        Ok(())
    }

    fn range(&self) -> Result<Range> {
        self.extent
            .map(|e| Range {
                min: e.min,
                max: e.max,
            })
            .ok_or(QuantError::NoData {
                observer: self.name(),
            })
    }

    fn name(&self) -> &'static str {
        "extent"
    }

    fn batches(&self) -> usize {
        self.batches
    }
}

/// Histogram of real values over `[-t, t]` that grows by whole bins (ORT `collect_value`).
#[derive(Debug, Clone)]
pub struct RealHistogram {
    /// Whole-set threshold known in advance (`max(|min|, |max|)` of the whole set).
    preset: Option<f32>,
    num_bins: usize,
    counts: Vec<u64>,
    edges: Vec<f32>,
    min: f32,
    max: f32,
    threshold: f32,
    batches: usize,
}

impl RealHistogram {
    /// Starts with `num_bins` bins (ORT: 128 for Entropy by default, 2048 for Percentile).
    pub fn new(num_bins: usize) -> Result<Self> {
        if num_bins == 0 {
            return Err(QuantError::InvalidArgument(
                "histogram needs at least 1 bin".into(),
            ));
        }
        Ok(RealHistogram {
            preset: None,
            num_bins,
            counts: Vec::new(),
            edges: Vec::new(),
            min: 0.0,
            max: 0.0,
            threshold: 0.0,
            batches: 0,
        })
    }

    /// `num_bins` bins over `[-t, t]` with `t = max(|min|, |max|)` of the whole calibration
    /// set: every batch is binned as ORT bins the concatenated set (see the module docs).
    pub fn with_extent(num_bins: usize, extent: Extent) -> Result<Self> {
        let mut h = Self::new(num_bins)?;
        h.preset = Some(extent.min.abs().max(extent.max.abs()));
        Ok(h)
    }

    /// Bin counts (empty before the first batch).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Bin edges (`counts().len() + 1` of them).
    pub fn edges(&self) -> &[f32] {
        &self.edges
    }

    /// Current half-width `t` of the histogram.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Observed `(min, max)` of the raw values.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        (self.batches > 0).then_some((self.min, self.max))
    }

    /// Bins requested at construction.
    pub fn initial_bins(&self) -> usize {
        self.num_bins
    }
}

impl Observer for RealHistogram {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        let Some((bmin, bmax)) = batch_min_max(self.name(), self.batches, batch)? else {
            return Ok(());
        };
        let batch_t = bmin.abs().max(bmax.abs());
        // With a whole-set preset the first batch sets up the whole set's edges; a batch beyond
        // the preset (a source that changed between the passes) falls back to growing.
        let t = match self.preset {
            Some(p) if self.batches == 0 && batch_t <= p => p,
            _ => batch_t,
        };
        if self.batches == 0 {
            let (c, e) = histogram_uniform(batch, self.num_bins, -t, t);
            self.counts = c;
            self.edges = e;
            self.min = bmin;
            self.max = bmax;
            self.threshold = t;
        } else {
            let old_t = self.threshold;
            let old_n = self.counts.len();
            if t <= old_t {
                let (c, _) = histogram_uniform(batch, old_n, -old_t, old_t);
                for (a, b) in self.counts.iter_mut().zip(c) {
                    *a += b;
                }
            } else if old_t == 0.0 {
                let (mut c, e) = histogram_uniform(batch, old_n, -t, t);
                for (a, b) in c.iter_mut().zip(&self.counts) {
                    *a += b;
                }
                self.counts = c;
                self.edges = e;
                self.threshold = t;
            } else {
                let stride = 2.0 * old_t / old_n as f32;
                let half_f = floor_div_f32(t - old_t, stride) + 1.0;
                let total = old_n as f64 + 2.0 * half_f as f64;
                if !(stride > 0.0 && total.is_finite() && total <= MAX_HISTOGRAM_BINS as f64) {
                    return Err(too_many_bins(self.name(), total));
                }
                let half = half_f as usize;
                let new_n = old_n + 2 * half;
                let new_t = half as f32 * stride + old_t;
                let (mut c, e) = histogram_uniform(batch, new_n, -new_t, new_t);
                for (a, b) in c[half..new_n - half].iter_mut().zip(&self.counts) {
                    *a += b;
                }
                self.counts = c;
                self.edges = e;
                self.threshold = new_t;
            }
            self.min = self.min.min(bmin);
            self.max = self.max.max(bmax);
        }
        self.batches += 1;
        Ok(())
    }

    /// The observed min and max (the histogram itself is used by Entropy / Percentile).
    fn range(&self) -> Result<Range> {
        self.min_max()
            .map(|(min, max)| Range { min, max })
            .ok_or(QuantError::NoData {
                observer: self.name(),
            })
    }

    fn name(&self) -> &'static str {
        "histogram"
    }

    fn batches(&self) -> usize {
        self.batches
    }
}

/// Histogram of `|x|` anchored at the first batch's `min|x|` (ORT `collect_absolute_value`).
#[derive(Debug, Clone)]
pub struct AbsHistogram {
    /// Whole-set `(min|x|, max|x|)` known in advance.
    preset: Option<(f32, f32)>,
    /// A batch fell outside the preset: from then on ORT's streaming growth rules apply.
    grown: bool,
    num_bins: usize,
    counts: Vec<u64>,
    edges: Vec<f32>,
    min: f32,
    max: f32,
    batches: usize,
}

impl AbsHistogram {
    /// Starts with `num_bins` bins (ORT Percentile default: 2048).
    pub fn new(num_bins: usize) -> Result<Self> {
        if num_bins == 0 {
            return Err(QuantError::InvalidArgument(
                "histogram needs at least 1 bin".into(),
            ));
        }
        Ok(AbsHistogram {
            preset: None,
            grown: false,
            num_bins,
            counts: Vec::new(),
            edges: Vec::new(),
            min: 0.0,
            max: 0.0,
            batches: 0,
        })
    }

    /// `num_bins` bins of `|x|` over the whole calibration set's `[min|x|, max|x|]`: every batch
    /// is binned as ORT bins the concatenated set (`np.histogram(|x|, bins=num_bins)`).
    pub fn with_extent(num_bins: usize, extent: Extent) -> Result<Self> {
        let mut h = Self::new(num_bins)?;
        h.preset = Some((extent.min_abs, extent.max_abs));
        Ok(h)
    }

    /// Bin counts of `|x|`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Bin edges.
    pub fn edges(&self) -> &[f32] {
        &self.edges
    }

    /// Observed `(min, max)` of the raw (signed) values.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        (self.batches > 0).then_some((self.min, self.max))
    }
}

impl Observer for AbsHistogram {
    fn observe(&mut self, batch: &[f32]) -> Result<()> {
        let Some((bmin, bmax)) = batch_min_max(self.name(), self.batches, batch)? else {
            return Ok(());
        };
        let (amin, amax) = match Extent::of(batch) {
            Some(e) => (e.min_abs, e.max_abs),
            None => (f32::INFINITY, f32::NEG_INFINITY),
        };
        let preset = self
            .preset
            .filter(|&(lo, hi)| !self.grown && lo <= amin && amax <= hi);
        if let Some((lo, hi)) = preset {
            // Whole-set edges: the uniform binning of `np.histogram(bins=n)` on every batch.
            let (c, e) = histogram_uniform_abs(batch, self.num_bins, lo, hi);
            if self.batches == 0 {
                self.counts = c;
                self.edges = e;
                self.min = bmin;
                self.max = bmax;
            } else {
                for (a, b) in self.counts.iter_mut().zip(c) {
                    *a += b;
                }
                self.min = self.min.min(bmin);
                self.max = self.max.max(bmax);
            }
            self.batches += 1;
            return Ok(());
        }
        // Outside the preset (a source that changed between the passes): ORT's streaming rules
        // from here on.
        self.grown = self.preset.is_some();
        let abs: Vec<f32> = batch.iter().map(|v| v.abs()).collect();
        if self.batches == 0 {
            let (c, e) = histogram_uniform(&abs, self.num_bins, amin, amax);
            self.counts = c;
            self.edges = e;
            self.min = bmin;
            self.max = bmax;
        } else {
            let last = *self.edges.last().expect("edges exist after first batch");
            if amax > last {
                let width = self.edges[1] - self.edges[0];
                let extra_len = ((amax + width - (last + width)) / width) as f64;
                let total = self.edges.len() as f64 + extra_len;
                if !(width > 0.0 && total.is_finite() && total <= MAX_HISTOGRAM_BINS as f64 + 1.0) {
                    return Err(too_many_bins(self.name(), total));
                }
                let extra = arange_f32(last + width, amax + width, width);
                self.edges.extend(extra);
            }
            let mut c = histogram_edges(&abs, &self.edges);
            for (a, b) in c.iter_mut().zip(&self.counts) {
                *a += b;
            }
            self.counts = c;
            self.min = self.min.min(bmin);
            self.max = self.max.max(bmax);
        }
        self.batches += 1;
        Ok(())
    }

    /// The observed min and max of the raw values.
    fn range(&self) -> Result<Range> {
        self.min_max()
            .map(|(min, max)| Range { min, max })
            .ok_or(QuantError::NoData {
                observer: self.name(),
            })
    }

    fn name(&self) -> &'static str {
        "abs-histogram"
    }

    fn batches(&self) -> usize {
        self.batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_helpers_by_hand() {
        // linspace(-1, 1, 5) = [-1, -0.5, 0, 0.5, 1]
        assert_eq!(linspace_f32(-1.0, 1.0, 5), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        // arange(5, 7.5, 1) = [5, 6, 7]  (ceil(2.5) = 3 values)
        assert_eq!(arange_f32(5.0, 7.5, 1.0), vec![5.0, 6.0, 7.0]);
        assert!(arange_f32(5.0, 5.0, 1.0).is_empty());
        // floor division: 7 // 2 = 3, -7 // 2 = -4, 2.0 // 0.5 = 4, 0.3 // 0.1 = 2 (fmod-based)
        assert_eq!(floor_div_f32(7.0, 2.0), 3.0);
        assert_eq!(floor_div_f32(-7.0, 2.0), -4.0);
        assert_eq!(floor_div_f32(2.0, 0.5), 4.0);
        // pairwise sum: 1..=20 = 210; [0.1; 10] sums in f32 pairwise order.
        let v: Vec<f32> = (1..=20).map(|i| i as f32).collect();
        assert_eq!(numpy_sum_f32(&v), 210.0);
        assert_eq!(numpy_sum_f32(&[]), 0.0);
        let big: Vec<f32> = vec![1.0; 1000];
        assert_eq!(numpy_sum_f32(&big), 1000.0);
    }

    #[test]
    fn histogram_binning_rules() {
        // 4 bins on [-1, 1]: -1 -> 0, -0.5 -> 1 ([-0.5, 0)), 0 -> 2, 0.5 -> 3, 1 -> 3 (closed).
        let (c, e) = histogram_uniform(&[-1.0, -0.5, 0.0, 0.5, 1.0], 4, -1.0, 1.0);
        assert_eq!(c, vec![1, 1, 1, 2]);
        assert_eq!(e, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        // Empty range (0, 0) -> (-0.5, 0.5): 0 falls in bin 2 of 4.
        let (c, e) = histogram_uniform(&[0.0, 0.0], 4, 0.0, 0.0);
        assert_eq!(c, vec![0, 0, 2, 0]);
        assert_eq!((e[0], e[4]), (-0.5, 0.5));
        // Explicit edges: outside values ignored, last edge closed.
        let c = histogram_edges(&[-1.0, 0.0, 0.99, 1.0, 2.0, 2.5], &[0.0, 1.0, 2.0]);
        assert_eq!(c, vec![2, 2]);
    }

    /// numpy's rule by its definition: the last edge `<= x` (`searchsorted(side="right") - 1`).
    fn reference_counts(data: &[f32], edges: &[f32]) -> Vec<u64> {
        let n = edges.len() - 1;
        let mut counts = vec![0u64; n];
        for &x in data {
            if !(x >= edges[0] && x <= edges[n]) {
                continue;
            }
            let i = edges
                .partition_point(|&e| e <= x)
                .saturating_sub(1)
                .min(n - 1);
            counts[i] += 1;
        }
        counts
    }

    #[test]
    fn sub_histogram_counting_matches_the_definition() {
        // Runs of equal values (ReLU zeros), values on edges, outside, NaN, a ragged tail, and
        // edges that are uniform, grown by arange, or uneven.
        let mut s = 7u32;
        let mut data: Vec<f32> = (0..10_003)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match i % 7 {
                    0..=2 => 0.0,
                    3 => (s >> 8) as f32 / (1u32 << 24) as f32 * 6.0 - 3.0,
                    4 => ((s >> 28) as f32) * 0.25 - 1.0,
                    5 => -((s >> 9) as f32 / (1u32 << 23) as f32),
                    _ => (s >> 20) as f32,
                }
            })
            .collect();
        data.push(f32::NAN);
        let uniform = linspace_f32(-2.0, 2.0, 129);
        let mut grown = linspace_f32(0.0, 1.0, 33);
        grown.extend(arange_f32(1.0 + 1.0 / 32.0, 3.0, 1.0 / 32.0));
        let uneven = vec![-1.0, -0.3, 0.0, 0.0, 0.001, 0.5, 2.5];
        for edges in [uniform, grown, uneven] {
            assert_eq!(
                histogram_edges(&data, &edges),
                reference_counts(&data, &edges)
            );
            let abs: Vec<f32> = data.iter().map(|v| v.abs()).collect();
            let (c, e) = histogram_uniform_abs(&data, 64, 0.0, 2.0);
            assert_eq!(c, reference_counts(&abs, &e));
            let (c, e) = histogram_uniform(&data, 2048, -3.0, 3.0);
            assert_eq!(c, reference_counts(&data, &e));
        }
    }

    #[test]
    fn real_histogram_grows_by_whole_bins() {
        let mut h = RealHistogram::new(4).unwrap();
        h.observe(&[-1.0, -0.5, 0.0, 0.5, 1.0]).unwrap();
        assert_eq!(h.counts(), &[1, 1, 1, 2]);
        assert_eq!(h.threshold(), 1.0);
        // New batch [3]: stride = 2·1/4 = 0.5, k = floor((3-1)/0.5) + 1 = 5 bins per side,
        // 14 bins, t = 5·0.5 + 1 = 3.5; 3.0 -> bin (3+3.5)/0.5 = 13; old counts into bins 5..9.
        h.observe(&[3.0]).unwrap();
        assert_eq!(h.threshold(), 3.5);
        assert_eq!(h.counts(), &[0, 0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(h.edges()[5], -1.0);
        assert_eq!(h.edges()[9], 1.0);
        // Smaller batch [0.2] on the same edges: (0.2 + 3.5)/0.5 = 7.4 -> bin 7.
        h.observe(&[0.2]).unwrap();
        assert_eq!(h.counts()[7], 2);
        assert_eq!(
            h.range().unwrap(),
            Range {
                min: -1.0,
                max: 3.0
            }
        );
        assert_eq!(h.batches(), 3);
    }

    #[test]
    fn real_histogram_from_all_zero_start() {
        // All zeros first: t = 0 -> range (-0.5, 0.5), zeros in bin 2 of 4.
        // Then [2]: old t == 0 branch -> rebinned on [-2, 2] (width 1), old counts added
        // position-wise: bin 2 (= [0, 1)) keeps the 3 zeros, 2.0 -> bin 3.
        let mut h = RealHistogram::new(4).unwrap();
        h.observe(&[0.0, 0.0, 0.0]).unwrap();
        assert_eq!(h.counts(), &[0, 0, 3, 0]);
        h.observe(&[2.0]).unwrap();
        assert_eq!(h.counts(), &[0, 0, 3, 1]);
        assert_eq!(h.threshold(), 2.0);
        assert_eq!(h.range().unwrap(), Range { min: 0.0, max: 2.0 });
    }

    #[test]
    fn abs_histogram_by_hand() {
        // |x| of [-4, -1, 0, 1, 2, 3] = [4, 1, 0, 1, 2, 3]; range (0, 4), 4 bins of width 1:
        // counts [1 (0), 2 (1, 1), 1 (2), 2 (3, 4)].
        let mut h = AbsHistogram::new(4).unwrap();
        h.observe(&[-4.0, -1.0, 0.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(h.counts(), &[1, 2, 1, 2]);
        assert_eq!(h.edges(), &[0.0, 1.0, 2.0, 3.0, 4.0]);
        // [6.5]: arange(5, 7.5, 1) = [5, 6, 7] appended; 6.5 in [6, 7].
        h.observe(&[6.5]).unwrap();
        assert_eq!(h.edges().len(), 8);
        assert_eq!(h.counts(), &[1, 2, 1, 2, 0, 0, 1]);
        assert_eq!(
            h.range().unwrap(),
            Range {
                min: -4.0,
                max: 6.5
            }
        );
    }

    #[test]
    fn abs_histogram_drops_values_below_first_edge() {
        // First batch |x| in [2, 3] -> edges [2, 2.5, 3]; a later 0.1 is below the first edge and
        // is dropped from the counts (ORT behaviour) but still updates min/max.
        let mut h = AbsHistogram::new(2).unwrap();
        h.observe(&[2.0, -3.0]).unwrap();
        assert_eq!(h.counts(), &[1, 1]);
        h.observe(&[0.1]).unwrap();
        assert_eq!(h.counts(), &[1, 1]);
        assert_eq!(
            h.range().unwrap(),
            Range {
                min: -3.0,
                max: 2.0
            }
        );
    }

    #[test]
    fn whole_set_extent_equals_one_histogram_of_the_concatenation() {
        // ORT's quantize_static bins the concatenated set once; two batches binned on the whole
        // set's edges must give exactly that histogram (the growing path would not: batch 1's
        // range [-1, 1] is narrower than the set's).
        let a = [-1.0f32, -0.3, 0.0, 0.2, 1.0];
        let b = [-2.5f32, 0.7, 3.0, -0.05];
        let all: Vec<f32> = a.iter().chain(&b).copied().collect();
        let ext = Extent::of(&a).unwrap().merge(Extent::of(&b).unwrap());
        assert_eq!(ext, Extent::of(&all).unwrap());
        assert_eq!(
            (ext.min, ext.max, ext.min_abs, ext.max_abs),
            (-2.5, 3.0, 0.0, 3.0)
        );

        let mut one = RealHistogram::new(16).unwrap();
        one.observe(&all).unwrap();
        let mut two = RealHistogram::with_extent(16, ext).unwrap();
        two.observe(&a).unwrap();
        two.observe(&b).unwrap();
        assert_eq!(two.counts(), one.counts());
        assert_eq!(two.edges(), one.edges());
        assert_eq!(two.range().unwrap(), one.range().unwrap());

        let mut one = AbsHistogram::new(16).unwrap();
        one.observe(&all).unwrap();
        let mut two = AbsHistogram::with_extent(16, ext).unwrap();
        two.observe(&a).unwrap();
        two.observe(&b).unwrap();
        assert_eq!(two.counts(), one.counts());
        assert_eq!(two.edges(), one.edges());
        assert_eq!(two.range().unwrap(), one.range().unwrap());
        // Streaming without the extent: edges from batch 1's [0, 1], grown by whole bins of
        // width 1/16 up to 3 — not the one-shot histogram's edges over [0, 3].
        let mut grown = AbsHistogram::new(16).unwrap();
        grown.observe(&a).unwrap();
        grown.observe(&b).unwrap();
        assert_ne!(grown.edges(), one.edges());

        // A batch outside the preset (the source changed between passes) falls back to growing.
        let mut off = AbsHistogram::with_extent(4, Extent::of(&a).unwrap()).unwrap();
        off.observe(&a).unwrap();
        off.observe(&[5.0]).unwrap();
        assert_eq!(off.counts().iter().sum::<u64>(), 6);
        let mut off = RealHistogram::with_extent(4, Extent::of(&a).unwrap()).unwrap();
        off.observe(&b).unwrap();
        assert_eq!(off.threshold(), 3.0);
    }

    #[test]
    fn extent_observer() {
        let mut o = ExtentObserver::new();
        assert!(o.range().is_err());
        o.observe(&[]).unwrap();
        assert_eq!(o.batches(), 0);
        o.observe(&[0.5, -2.0]).unwrap();
        o.observe(&[1.0, 0.25]).unwrap();
        assert_eq!(
            o.extent().unwrap(),
            Extent {
                min: -2.0,
                max: 1.0,
                min_abs: 0.25,
                max_abs: 2.0
            }
        );
        assert_eq!(
            o.range().unwrap(),
            Range {
                min: -2.0,
                max: 1.0
            }
        );
        assert!(o.observe(&[f32::INFINITY]).is_err());
    }

    #[test]
    fn runaway_growth_is_refused() {
        // First batch spans ±1e-30 with 2048 bins (stride ~1e-33); a batch at 1.0 would need
        // ~2e33 bins: refused with a clear error instead of exhausting memory.
        let mut h = RealHistogram::new(2048).unwrap();
        h.observe(&[1e-30, -1e-30]).unwrap();
        let err = h.observe(&[1.0]).unwrap_err();
        assert!(err.to_string().contains("bins"), "{err}");
        let mut a = AbsHistogram::new(2048).unwrap();
        a.observe(&[1e-30, 2e-30]).unwrap();
        assert!(a.observe(&[1.0]).is_err());
    }

    #[test]
    fn errors_and_empty() {
        assert!(RealHistogram::new(0).is_err());
        assert!(AbsHistogram::new(0).is_err());
        let mut h = RealHistogram::new(8).unwrap();
        assert!(h.range().is_err());
        h.observe(&[]).unwrap();
        assert_eq!(h.batches(), 0);
        assert!(h.observe(&[f32::NAN]).is_err());
        let mut a = AbsHistogram::new(8).unwrap();
        assert!(a.observe(&[1.0, f32::NEG_INFINITY]).is_err());
        // Single value: |x| range (5, 5) -> (4.5, 5.5).
        a.observe(&[-5.0]).unwrap();
        assert_eq!((a.edges()[0], a.edges()[8]), (4.5, 5.5));
    }
}
