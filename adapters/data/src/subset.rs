//! `Subset`: a view of some samples of another dataset (first n, a range, or a seeded sample).

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::dataset::check_read;
use crate::{DataError, Dataset};

#[derive(Clone, Debug, PartialEq)]
enum Picks {
    /// inner[start..start + len]
    Range { start: usize, len: usize },
    /// Sorted inner indices.
    List(Vec<usize>),
}

/// Samples of an inner dataset, in the inner dataset's order.
#[derive(Clone)]
pub struct Subset {
    inner: Arc<dyn Dataset>,
    picks: Picks,
    what: String,
}

impl Subset {
    fn split_error(inner: &dyn Dataset, reason: String) -> DataError {
        DataError::Split {
            dataset: inner.describe(),
            reason,
        }
    }

    /// The first `n` samples; an error if there are fewer.
    pub fn first(inner: Arc<dyn Dataset>, n: usize) -> Result<Self, DataError> {
        if n > inner.len() {
            let reason = format!("first {n} asks for more than its {} samples", inner.len());
            return Err(Self::split_error(&*inner, reason));
        }
        Ok(Subset {
            inner,
            picks: Picks::Range { start: 0, len: n },
            what: format!("first {n}"),
        })
    }

    /// Samples `start..end`; an error unless `start <= end <= len`.
    pub fn range(inner: Arc<dyn Dataset>, start: usize, end: usize) -> Result<Self, DataError> {
        if start > end || end > inner.len() {
            let reason = format!(
                "range [{start}, {end}) is not within its {} samples",
                inner.len()
            );
            return Err(Self::split_error(&*inner, reason));
        }
        let what = format!("range [{start}, {end})");
        Ok(Subset {
            inner,
            picks: Picks::Range {
                start,
                len: end - start,
            },
            what,
        })
    }

    /// `n` distinct samples chosen with `seed` (without replacement), kept in sorted order.
    pub fn sample(inner: Arc<dyn Dataset>, n: usize, seed: u64) -> Result<Self, DataError> {
        if n > inner.len() {
            let reason = format!("sample {n} asks for more than its {} samples", inner.len());
            return Err(Self::split_error(&*inner, reason));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut picks = rand::seq::index::sample(&mut rng, inner.len(), n).into_vec();
        picks.sort_unstable();
        Ok(Subset {
            inner,
            picks: Picks::List(picks),
            what: format!("sample {n} seed {seed}"),
        })
    }

    /// The inner index of position `i`.
    pub fn inner_index(&self, i: usize) -> Option<usize> {
        match &self.picks {
            Picks::Range { start, len } => (i < *len).then(|| start + i),
            Picks::List(v) => v.get(i).copied(),
        }
    }
}

impl Dataset for Subset {
    fn len(&self) -> usize {
        match &self.picks {
            Picks::Range { len, .. } => *len,
            Picks::List(v) => v.len(),
        }
    }

    fn sample_shape(&self) -> &[usize] {
        self.inner.sample_shape()
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
        check_read(self, index, out)?;
        match self.inner_index(index) {
            Some(i) => self.inner.read(i, out),
            None => Err(DataError::OutOfRange {
                dataset: self.describe(),
                index,
                len: self.len(),
            }),
        }
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.inner.label(self.inner_index(index)?)
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.inner.describe(), self.what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tests::Counting;
    use crate::{labels, read_batch};

    fn counting(len: usize) -> Arc<dyn Dataset> {
        Arc::new(Counting {
            len,
            labelled: true,
        })
    }

    #[test]
    fn first_and_range() {
        let f = Subset::first(counting(5), 2).unwrap();
        assert_eq!(
            read_batch(&f, 0, 3).unwrap(),
            [0.0, 0.5, 1.0, 1.5, 0.0, 0.0]
        );
        assert_eq!(labels(&f), Some(vec![0, 1]));
        let r = Subset::range(counting(5), 3, 5).unwrap();
        assert_eq!((r.len(), r.label(0), r.label(2)), (2, Some(0), None));
        assert_eq!(read_batch(&r, 1, 1).unwrap(), [4.0, 4.5]);
        assert!(r.describe().contains("counting(5) (range [3, 5))"));
        assert!(Subset::range(counting(5), 2, 2).unwrap().is_empty());
        let mut s = [0f32; 2];
        assert!(r
            .read(2, &mut s)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
    }

    #[test]
    fn sample_is_deterministic_sorted_and_distinct() {
        let a = Subset::sample(counting(100), 10, 7).unwrap();
        let b = Subset::sample(counting(100), 10, 7).unwrap();
        let c = Subset::sample(counting(100), 10, 8).unwrap();
        let idx = |s: &Subset| {
            (0..s.len())
                .map(|i| s.inner_index(i).unwrap())
                .collect::<Vec<_>>()
        };
        let ia = idx(&a);
        assert_eq!(ia, idx(&b));
        assert_ne!(ia, idx(&c));
        assert!(
            ia.windows(2).all(|w| w[0] < w[1]),
            "sorted and distinct: {ia:?}"
        );
        assert_eq!(
            read_batch(&a, 0, 10).unwrap(),
            read_batch(&b, 0, 10).unwrap()
        );
        assert_eq!(
            idx(&Subset::sample(counting(4), 4, 1).unwrap()),
            [0, 1, 2, 3]
        );
        // Subsets nest.
        let nested = Subset::first(Arc::new(a), 3).unwrap();
        assert_eq!(nested.label(2), Some(ia[2] as u32 % 3));
    }

    #[test]
    fn errors_when_too_large() {
        for e in [
            Subset::first(counting(3), 4).err().unwrap(),
            Subset::sample(counting(3), 4, 0).err().unwrap(),
            Subset::range(counting(3), 1, 4).err().unwrap(),
            Subset::range(counting(3), 2, 1).err().unwrap(),
        ] {
            let e = e.to_string();
            assert!(
                e.contains("cannot split counting(3)") && e.contains("3 samples"),
                "{e}"
            );
        }
    }
}
