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
    /// Distribution-free 95% confidence interval of the median (order statistics).
    #[serde(default)]
    pub p50_ci95: [f64; 2],
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
        })
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
    fn even_count_median_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    }
}
