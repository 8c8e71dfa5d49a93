//! Signal-to-quantization-noise ratio of the outputs against the reference over all values,
//! `10·log10(Σ ref² / Σ (ref − model)²)` in dB (left out when identical: infinite).

use std::collections::BTreeMap;

use anyhow::Result;

use super::{only_params, paired, Inputs, Metric, Score};

pub struct Sqnr;

pub fn build(params: &BTreeMap<String, f64>) -> Result<Box<dyn Metric>> {
    only_params("sqnr", params, &[])?;
    Ok(Box::new(Sqnr))
}

impl Metric for Sqnr {
    fn name(&self) -> &'static str {
        "sqnr"
    }

    fn score(&self, inputs: &Inputs) -> Result<Option<Score>> {
        let Some((r, m)) = paired(inputs)? else {
            return Ok(None);
        };
        let signal: f64 = r.data.iter().map(|v| (*v as f64).powi(2)).sum();
        let noise: f64 = r
            .data
            .iter()
            .zip(&m.data)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum();
        let db = 10.0 * (signal / noise).log10();
        Ok(db.is_finite().then_some(Score {
            value: db,
            ci95: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::logits;

    #[test]
    fn twenty_db_by_hand_and_none_when_identical() {
        // Signal 3² + 4² = 25, noise 0.5² = 0.25: 20 dB.
        let (r, m) = (logits(2, vec![3.0, 4.0]), logits(2, vec![3.0, 4.5]));
        let inputs = Inputs {
            outputs: &m,
            reference: Some(&r),
            labels: None,
        };
        assert!((Sqnr.score(&inputs).unwrap().unwrap().value - 20.0).abs() < 1e-9);
        let same = Inputs {
            outputs: &r,
            reference: Some(&r),
            labels: None,
        };
        assert_eq!(Sqnr.score(&same).unwrap(), None);
    }
}
