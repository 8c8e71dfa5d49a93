//! Mean over samples of the cosine similarity of each sample's outputs with the reference's,
//! with its 95% interval.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{only_params, per_sample_mean, Inputs, Metric, Score};
use crate::measure::logits::cosine;

pub struct Cosine;

pub fn build(params: &BTreeMap<String, f64>) -> Result<Box<dyn Metric>> {
    only_params("cosine", params, &[])?;
    Ok(Box::new(Cosine))
}

impl Metric for Cosine {
    fn name(&self) -> &'static str {
        "cosine"
    }

    fn score(&self, inputs: &Inputs) -> Result<Option<Score>> {
        per_sample_mean(inputs, cosine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::logits;

    #[test]
    fn per_sample_mean() {
        // Sample 1 same direction (1), sample 2 orthogonal (0).
        let r = logits(2, vec![1.0, 0.0, 1.0, 0.0]);
        let m = logits(2, vec![2.0, 0.0, 0.0, 3.0]);
        let s = Cosine
            .score(&Inputs {
                outputs: &m,
                reference: Some(&r),
                labels: None,
            })
            .unwrap()
            .unwrap();
        assert_eq!(s.value, 0.5);
        assert!(s.ci95.is_some());
    }
}
