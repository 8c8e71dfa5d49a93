//! The `[split]` table: which samples of a source a scenario uses.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, Subset};

/// Which samples of the source to use: `first = N`, `range = [a, b]`, or `sample = N` with an
/// optional `seed` (default 0). At most one of first, range and sample.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[usize; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// A validated split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    All,
    First(usize),
    Range(usize, usize),
    Sample { n: usize, seed: u64 },
}

impl SplitConfig {
    /// Checks that at most one of first, range and sample is set (and seed only with sample).
    pub fn split(&self) -> Result<Split, DataError> {
        let split = match (self.first, self.range, self.sample) {
            (None, None, None) => Split::All,
            (Some(n), None, None) => Split::First(n),
            (None, Some([a, b]), None) => Split::Range(a, b),
            (None, None, Some(n)) => Split::Sample {
                n,
                seed: self.seed.unwrap_or(0),
            },
            _ => {
                return Err(DataError::Config(
                    "split: set only one of first, range and sample".into(),
                ))
            }
        };
        if self.seed.is_some() && !matches!(split, Split::Sample { .. }) {
            return Err(DataError::Config("split: seed goes with sample = N".into()));
        }
        Ok(split)
    }

    /// Applies the split to `ds`.
    pub fn apply(&self, ds: Arc<dyn Dataset>) -> Result<Arc<dyn Dataset>, DataError> {
        Ok(match self.split()? {
            Split::All => ds,
            Split::First(n) => Arc::new(Subset::first(ds, n)?),
            Split::Range(a, b) => Arc::new(Subset::range(ds, a, b)?),
            Split::Sample { n, seed } => Arc::new(Subset::sample(ds, n, seed)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tests::Counting;

    fn parse(text: &str) -> Result<Split, DataError> {
        toml::from_str::<SplitConfig>(text).unwrap().split()
    }

    #[test]
    fn parses_each_form() {
        assert_eq!(parse("first = 3").unwrap(), Split::First(3));
        assert_eq!(parse("range = [2, 5]").unwrap(), Split::Range(2, 5));
        assert_eq!(
            parse("sample = 4\nseed = 9").unwrap(),
            Split::Sample { n: 4, seed: 9 }
        );
        assert_eq!(
            parse("sample = 4").unwrap(),
            Split::Sample { n: 4, seed: 0 }
        );
        assert_eq!(parse("").unwrap(), Split::All);
        let split = SplitConfig {
            range: Some([1, 2]),
            ..Default::default()
        };
        assert_eq!(
            toml::from_str::<SplitConfig>(&toml::to_string(&split).unwrap()).unwrap(),
            split
        );
    }

    #[test]
    fn rejects_bad_forms() {
        assert!(parse("first = 1\nsample = 2")
            .unwrap_err()
            .to_string()
            .contains("only one of"));
        assert!(parse("first = 1\nseed = 2")
            .unwrap_err()
            .to_string()
            .contains("seed goes with sample"));
        for bad in ["first = 1\nevery = 2", "range = [1]", "first = -1"] {
            assert!(toml::from_str::<SplitConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn applies_to_a_dataset() {
        let ds: Arc<dyn Dataset> = Arc::new(Counting {
            len: 10,
            labelled: true,
        });
        let cfg = SplitConfig {
            range: Some([2, 6]),
            ..Default::default()
        };
        assert_eq!(cfg.apply(ds.clone()).unwrap().len(), 4);
        assert_eq!(SplitConfig::default().apply(ds.clone()).unwrap().len(), 10);
        let cfg = SplitConfig {
            first: Some(11),
            ..Default::default()
        };
        assert!(cfg
            .apply(ds)
            .err()
            .unwrap()
            .to_string()
            .contains("first 11"));
    }
}
