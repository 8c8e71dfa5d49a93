//! Top-1 accuracy against the labels, with its Wilson 95% interval.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{only_params, Inputs, Metric, Score};
use crate::measure::accuracy::wilson95;

pub struct Top1;

pub fn build(params: &BTreeMap<String, f64>) -> Result<Box<dyn Metric>> {
    only_params("top1", params, &[])?;
    Ok(Box::new(Top1))
}

/// Index of the largest value of a row (the first one on ties).
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0usize, f32::NEG_INFINITY), |b, (i, v)| {
            if *v > b.1 {
                (i, *v)
            } else {
                b
            }
        })
        .0
}

impl Metric for Top1 {
    fn name(&self) -> &'static str {
        "top1"
    }

    fn score(&self, inputs: &Inputs) -> Result<Option<Score>> {
        let (Some(labels), o) = (inputs.labels, inputs.outputs) else {
            return Ok(None);
        };
        if o.classes == 0 || o.rows == 0 {
            return Ok(None);
        }
        let hits = o
            .data
            .chunks(o.classes)
            .zip(labels)
            .filter(|(row, l)| argmax(row) == **l as usize)
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
    fn counts_hits_with_their_interval() {
        let out = logits(2, vec![1.0, 0.0, 0.0, 1.0, 2.0, 1.0]);
        let labels = [0, 0, 0];
        let s = Top1
            .score(&Inputs {
                outputs: &out,
                reference: None,
                labels: Some(&labels),
            })
            .unwrap()
            .unwrap();
        assert!((s.value - 2.0 / 3.0).abs() < 1e-12);
        let (lo, hi) = wilson95(2, 3);
        assert_eq!(s.ci95, Some([lo, hi]));
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
