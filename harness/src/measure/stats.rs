//! Summary statistics of latency samples.

use serde::{Deserialize, Serialize};

/// Percentiles and moments of a set of latencies, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
    /// Coefficient of variation, `std / mean`.
    #[serde(default)]
    pub cv: f64,
    /// 95% confidence interval of the median: the order-statistic interval of the pooled
    /// samples, widened to cover the spread of the rounds' medians (see [`rounds_median_ci`]).
    #[serde(default)]
    pub p50_ci95: [f64; 2],
    /// Measurement rounds pooled (each in its own process, interleaved with other cells).
    #[serde(default = "one_round")]
    pub rounds: usize,
    /// Median of each round, in measurement order.
    #[serde(default)]
    pub round_p50: Vec<f64>,
}

/// Serde default of round counts: results written before rounds existed measured one.
pub(crate) fn one_round() -> usize {
    1
}

/// Distribution-free interval for the median from `k` independent round medians: the widest
/// pair of order statistics `(m_(j), m_(k+1-j))` whose coverage `1 - 2·P[Bin(k, 1/2) < j]`
/// is at least 95%; with fewer than six rounds no pair reaches 95% and the full range
/// (coverage `1 - 2^(1-k)`) is returned. `None` for fewer than two rounds.
pub fn rounds_median_ci(medians: &[f64]) -> Option<[f64; 2]> {
    let k = medians.len();
    if k < 2 {
        return None;
    }
    let mut m = medians.to_vec();
    m.sort_by(|a, b| a.total_cmp(b));
    // P[Bin(k, 1/2) < j] for growing j while the coverage stays >= 95%.
    let total = 2f64.powi(k as i32);
    let mut choose = 1.0f64; // C(k, 0)
    let mut below = 0.0f64; // sum of C(k, i) for i < j
    let mut j = 1usize; // 1-based order statistic
    loop {
        below += choose;
        choose = choose * (k - (j - 1)) as f64 / j as f64;
        let next_cov = 1.0 - 2.0 * (below + choose) / total;
        if j + 1 > k / 2 || next_cov < 0.95 {
            break;
        }
        j += 1;
    }
    Some([m[j - 1], m[k - j]])
}

/// 95% confidence interval of the median of sorted samples from order statistics: the ranks
/// `n/2 ∓ 1.96·sqrt(n)/2` (normal approximation of the binomial(n, 1/2) rank distribution),
/// widened to the whole range when n is too small for that.
pub fn median_ci95(sorted: &[f64]) -> [f64; 2] {
    let n = sorted.len();
    if n == 0 {
        return [f64::NAN, f64::NAN];
    }
    let half = 1.959_963_984_540_054 * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor() as isize).max(0) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    [sorted[lo], sorted[hi]]
}

/// The q-quantile (0..=1) of sorted samples, linearly interpolated between order statistics.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl LatencyStats {
    /// Summarises samples (any order). Returns `None` for an empty set.
    pub fn from_samples(samples: &[f64]) -> Option<LatencyStats> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(LatencyStats {
            p50: quantile(&s, 0.5),
            p90: quantile(&s, 0.9),
            p99: quantile(&s, 0.99),
            mean,
            std: var.sqrt(),
            min: s[0],
            max: s[n - 1],
            n,
            cv: if mean > 0.0 { var.sqrt() / mean } else { 0.0 },
            p50_ci95: median_ci95(&s),
            rounds: 1,
            round_p50: vec![quantile(&s, 0.5)],
        })
    }

    /// Summarises rounds of samples measured at different times (and in different processes):
    /// percentiles and moments of the pooled samples, and an interval of the median that
    /// covers both the pooled order statistics and the between-round spread, so that slow
    /// drifts of a shared machine widen it rather than hide in it. Empty rounds are skipped.
    pub fn from_rounds(rounds: &[Vec<f64>]) -> Option<LatencyStats> {
        let rounds: Vec<&Vec<f64>> = rounds.iter().filter(|r| !r.is_empty()).collect();
        let pooled: Vec<f64> = rounds.iter().flat_map(|r| r.iter().copied()).collect();
        let mut stats = LatencyStats::from_samples(&pooled)?;
        let medians: Vec<f64> = rounds
            .iter()
            .map(|r| {
                let mut s = r.to_vec();
                s.sort_by(|a, b| a.total_cmp(b));
                quantile(&s, 0.5)
            })
            .collect();
        if let Some([lo, hi]) = rounds_median_ci(&medians) {
            stats.p50_ci95 = [stats.p50_ci95[0].min(lo), stats.p50_ci95[1].max(hi)];
        }
        stats.rounds = medians.len();
        stats.round_p50 = medians;
        Some(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let s = LatencyStats::from_samples(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!(s.p50, 3.0);
        assert!((s.p90 - 4.6).abs() < 1e-12);
        assert!((s.p99 - 4.96).abs() < 1e-12);
        assert_eq!(s.mean, 3.0);
        assert!((s.std - 2.5f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.n), (1.0, 5.0, 5));
    }

    #[test]
    fn single_and_empty() {
        let s = LatencyStats::from_samples(&[7.0]).unwrap();
        assert_eq!((s.p50, s.p99, s.std), (7.0, 7.0, 0.0));
        assert!(LatencyStats::from_samples(&[]).is_none());
    }

    #[test]
    fn median_interval_brackets_the_median_and_narrows_with_n() {
        let s: Vec<f64> = (0..100).map(f64::from).collect();
        // n = 100: ranks 50 -+ 9.8 -> [40, 60].
        assert_eq!(median_ci95(&s), [40.0, 60.0]);
        let big: Vec<f64> = (0..10_000).map(|i| i as f64 / 100.0).collect();
        let [lo, hi] = median_ci95(&big);
        assert!(lo < 50.0 && hi > 50.0 && hi - lo < 2.0, "{lo} {hi}");
        assert_eq!(median_ci95(&[3.0]), [3.0, 3.0]);
        let st = LatencyStats::from_samples(&[1.0, 2.0, 3.0]).unwrap();
        assert!((st.cv - 0.5).abs() < 1e-12);
    }

    #[test]
    fn rounds_interval_uses_order_statistics_of_round_medians() {
        assert_eq!(rounds_median_ci(&[1.0]), None);
        // Fewer than six rounds: the full range.
        assert_eq!(rounds_median_ci(&[3.0, 1.0, 2.0]), Some([1.0, 3.0]));
        // Six rounds: (min, max) covers 1 - 2/64 = 96.9%; (2nd, 5th) only 78%.
        assert_eq!(
            rounds_median_ci(&[6.0, 1.0, 5.0, 2.0, 4.0, 3.0]),
            Some([1.0, 6.0])
        );
        // Twenty rounds: P[Bin(20, 1/2) <= 5] = 2.07%, so (6th, 15th) covers 95.9%.
        let m: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(rounds_median_ci(&m), Some([6.0, 15.0]));
    }

    #[test]
    fn pooled_rounds_widen_the_interval_by_the_drift() {
        // Two rounds at different machine speeds: the pooled interval alone is narrow.
        let slow: Vec<f64> = (0..1000).map(|i| 1.1 + (i % 10) as f64 * 1e-3).collect();
        let fast: Vec<f64> = (0..1000).map(|i| 1.0 + (i % 10) as f64 * 1e-3).collect();
        let s = LatencyStats::from_rounds(&[fast, vec![], slow]).unwrap();
        assert_eq!((s.rounds, s.n), (2, 2000));
        assert!(
            (s.p50_ci95[0] - 1.0045).abs() < 1e-9 && (s.p50_ci95[1] - 1.1045).abs() < 1e-9,
            "{:?}",
            s.p50_ci95
        );
        assert!((s.round_p50[0] - 1.0045).abs() < 1e-9);
        assert!(LatencyStats::from_rounds(&[vec![]]).is_none());
    }

    #[test]
    fn even_count_median_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    }
}
