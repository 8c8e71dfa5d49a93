//! Mean KL divergence `KL(softmax(reference) ‖ softmax(model))` over samples, in nats: how far a
//! classifier's predicted distribution moved from FP32's.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{only_params, per_sample_mean, Inputs, Metric, Score};

pub struct Kl;

pub fn build(params: &BTreeMap<String, f64>) -> Result<Box<dyn Metric>> {
    only_params("kl", params, &[])?;
    Ok(Box::new(Kl))
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
    let lse = max
        + row
            .iter()
            .map(|v| (*v as f64 - max).exp())
            .sum::<f64>()
            .ln();
    row.iter().map(|v| *v as f64 - lse).collect()
}

impl Metric for Kl {
    fn name(&self) -> &'static str {
        "kl"
    }

    fn score(&self, inputs: &Inputs) -> Result<Option<Score>> {
        per_sample_mean(inputs, |a, b| {
            let (lp, lq) = (log_softmax(a), log_softmax(b));
            // Rounding can make a near-zero sum of non-negative terms slightly negative.
            lp.iter()
                .zip(&lq)
                .map(|(p, q)| p.exp() * (p - q))
                .sum::<f64>()
                .max(0.0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::logits;

    #[test]
    fn hand_computed() {
        // p = softmax(0, 0) = (1/2, 1/2), q = softmax(ln 3, 0) = (3/4, 1/4):
        // KL(p‖q) = 1/2·ln(2/3) + 1/2·ln(2) = 1/2·ln(4/3).
        let p = logits(2, vec![0.0, 0.0]);
        let q = logits(2, vec![3f32.ln(), 0.0]);
        let s = Kl
            .score(&Inputs {
                outputs: &q,
                reference: Some(&p),
                labels: None,
            })
            .unwrap()
            .unwrap();
        assert!((s.value - 0.5 * (4.0f64 / 3.0).ln()).abs() < 1e-6, "{s:?}");
    }
}
