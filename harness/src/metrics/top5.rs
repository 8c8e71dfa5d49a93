//! Top-5 accuracy against the labels (classifiers with at least five classes).

use std::collections::BTreeMap;

use anyhow::Result;

use super::{only_params, Inputs, Metric, Score};
use crate::measure::accuracy::{in_top_k, wilson95};

pub struct Top5;

pub fn build(params: &BTreeMap<String, f64>) -> Result<Box<dyn Metric>> {
    only_params("top5", params, &[])?;
    Ok(Box::new(Top5))
}

impl Metric for Top5 {
    fn name(&self) -> &'static str {
        "top5"
    }

    fn score(&self, inputs: &Inputs) -> Result<Option<Score>> {
        let (Some(labels), o) = (inputs.labels, inputs.outputs) else {
            return Ok(None);
        };
        if o.classes < 5 || o.rows == 0 {
            return Ok(None);
        }
        let hits = o
            .data
            .chunks(o.classes)
            .zip(labels)
            .filter(|(row, l)| in_top_k(row, **l, 5))
            .count();
        let (lo, hi) = wilson95(hits, o.rows);
        Ok(Some(Score {
            value: hits as f64 / o.rows as f64,
            ci95: Some([lo, hi]),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::logits;

    #[test]
    fn the_label_among_the_five_largest() {
        // Label 0 is 6th of 6 in the first row, 5th in the second.
        let out = logits(6, vec![0.0, 1., 2., 3., 4., 5., 1.5, 1., 2., 3., 4., 5.]);
        let labels = [0, 0];
        let s = Top5
            .score(&Inputs {
                outputs: &out,
                reference: None,
                labels: Some(&labels),
            })
            .unwrap()
            .unwrap();
        assert_eq!(s.value, 0.5);
    }
}
