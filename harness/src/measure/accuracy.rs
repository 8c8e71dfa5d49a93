//! Accuracy with a confidence interval, and agreement between two sets of predictions.

/// Wilson score interval at 95% for `k` successes out of `n`.
pub fn wilson95(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Fraction of positions where two prediction lists agree (`None` if lengths differ or empty).
pub fn agreement(a: &[u8], b: &[u8]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    Some(a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64)
}

/// Fraction of predictions equal to the labels.
pub fn top1(predictions: &[u8], labels: &[u8]) -> (usize, f64) {
    let k = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    (k, k as f64 / labels.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_reference_values() {
        // 90 of 100: Wilson 95% interval is (0.8256, 0.9448).
        let (lo, hi) = wilson95(90, 100);
        assert!(
            (lo - 0.8256).abs() < 1e-3 && (hi - 0.9448).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson95(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson95(10, 10);
        assert!(hi > 0.999_999 && (lo - 0.7225).abs() < 1e-3, "{lo} {hi}");
    }

    #[test]
    fn agreement_and_top1() {
        assert_eq!(agreement(&[1, 2, 3, 4], &[1, 2, 0, 4]), Some(0.75));
        assert_eq!(agreement(&[1], &[1, 2]), None);
        assert_eq!(top1(&[1, 2, 3], &[1, 0, 3]), (2, 2.0 / 3.0));
    }
}
