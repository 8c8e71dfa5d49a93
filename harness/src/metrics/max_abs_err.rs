//! The largest absolute difference of any output value from the reference's.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{only_params, paired, Inputs, Metric, Score};

pub struct MaxAbsErr;

pub fn build(params: &BTreeMap<String, f64>) -> Result<Box<dyn Metric>> {
    only_params("max-abs-err", params, &[])?;
    Ok(Box::new(MaxAbsErr))
}

impl Metric for MaxAbsErr {
    fn name(&self) -> &'static str {
        "max-abs-err"
    }

    fn score(&self, inputs: &Inputs) -> Result<Option<Score>> {
        let Some((r, m)) = paired(inputs)? else {
            return Ok(None);
        };
        let value = r
            .data
            .iter()
            .zip(&m.data)
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .fold(0.0, f64::max);
        Ok(Some(Score { value, ci95: None }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::logits;

    #[test]
    fn largest_difference() {
        let (r, m) = (logits(2, vec![3.0, 4.0]), logits(2, vec![2.75, 4.5]));
        let s = MaxAbsErr
            .score(&Inputs {
                outputs: &m,
                reference: Some(&r),
                labels: None,
            })
            .unwrap()
            .unwrap();
        assert_eq!(s.value, 0.5);
    }
}
