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
pub fn agreement(a: &[u32], b: &[u32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    Some(a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64)
}

/// Fraction of predictions equal to the labels.
pub fn top1(predictions: &[u32], labels: &[u32]) -> (usize, f64) {
    let k = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    (k, k as f64 / labels.len().max(1) as f64)
}

/// Whether `label` is among the `k` largest values of `row` (ties broken towards the lower
/// index, as an argmax does).
pub fn in_top_k(row: &[f32], label: u32, k: usize) -> bool {
    let Some(&target) = row.get(label as usize) else {
        return false;
    };
    // Rank of the label: values strictly greater, plus equal values at a lower index.
    let ahead = row
        .iter()
        .enumerate()
        .filter(|(i, v)| **v > target || (**v == target && *i < label as usize))
        .count();
    ahead < k
}

/// Paired comparison of two classifiers on the same images (e.g. a quantized model against
/// FP32): the accuracy difference with a 95% interval and McNemar's exact two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// `accuracy(b) - accuracy(a)`.
    pub diff: f64,
    pub ci95: [f64; 2],
    /// Images only `a` classified correctly, and only `b`.
    pub only_a: usize,
    pub only_b: usize,
    /// Exact McNemar p-value (binomial test on the discordant pairs).
    pub p_value: f64,
}

/// Compares predictions `a` and `b` against `labels` (same images, same order).
pub fn paired(a: &[u32], b: &[u32], labels: &[u32]) -> Option<Paired> {
    let n = labels.len();
    if n == 0 || a.len() != n || b.len() != n {
        return None;
    }
    let (mut only_a, mut only_b) = (0usize, 0usize);
    for ((x, y), l) in a.iter().zip(b).zip(labels) {
        match (x == l, y == l) {
            (true, false) => only_a += 1,
            (false, true) => only_b += 1,
            _ => {}
        }
    }
    let nf = n as f64;
    let diff = (only_b as f64 - only_a as f64) / nf;
    // Variance of the paired difference of proportions.
    let var = ((only_a + only_b) as f64 / nf - diff * diff) / nf;
    let half = 1.959_963_984_540_054 * var.max(0.0).sqrt();
    Some(Paired {
        diff,
        ci95: [diff - half, diff + half],
        only_a,
        only_b,
        p_value: mcnemar_exact(only_a, only_b),
    })
}

/// Exact two-sided McNemar p-value: `min(1, 2·P[X <= min(b, c)])`, X ~ Binomial(b + c, 1/2).
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Sum binomial probabilities in log space (n can be in the thousands).
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0f64; // ln C(n, 0)
    let mut total = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (ln_choose + ln_half_n).exp();
    }
    (2.0 * total).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_by_hand() {
        // b = 0, c = 5: p = 2 / 32.
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
        // b = 1, c = 9: 2·(1 + 10)/1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large counts stay finite: 4000 vs 4200 discordant pairs.
        let p = mcnemar_exact(4000, 4200);
        assert!(p > 0.01 && p < 0.05, "{p}");
    }

    #[test]
    fn paired_difference_counts_discordant_images() {
        let labels = [0, 1, 2, 3, 4, 5];
        let a = [0, 1, 2, 3, 0, 0]; // 4 right
        let b = [0, 1, 2, 0, 4, 5]; // 5 right
        let p = paired(&a, &b, &labels).unwrap();
        assert_eq!((p.only_a, p.only_b), (1, 2));
        assert!((p.diff - 1.0 / 6.0).abs() < 1e-12);
        assert!(p.ci95[0] < p.diff && p.diff < p.ci95[1]);
        assert_eq!(p.p_value, 1.0);
        assert!(paired(&a, &b[..5], &labels).is_none());
    }

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

    #[test]
    fn top_k_by_hand() {
        let row = [0.1, 0.5, 0.3, 0.5, -1.0];
        // Order: 1 (0.5, lower index wins the tie), 3, 2, 0, 4.
        assert!(in_top_k(&row, 1, 1));
        assert!(!in_top_k(&row, 3, 1));
        assert!(in_top_k(&row, 3, 2));
        assert!(!in_top_k(&row, 0, 3));
        assert!(in_top_k(&row, 0, 4));
        assert!(in_top_k(&row, 4, 5));
        assert!(
            !in_top_k(&row, 7, 5),
            "a label past the row is never in the top k"
        );
    }
}
