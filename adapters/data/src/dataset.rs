//! The `Dataset` trait: fixed-shape, preprocessed float samples with optional class labels.

use std::sync::Arc;

use crate::DataError;

/// A source of fixed-shape, preprocessed float samples with optional class labels.
pub trait Dataset: Send + Sync {
    /// Number of samples.
    fn len(&self) -> usize;
    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Shape of one sample as the model takes it, without the batch dimension
    /// (e.g. [3, 224, 224] for NCHW images, [224, 224, 3] for NHWC, [1, 28, 28] for IDX).
    fn sample_shape(&self) -> &[usize];
    /// Writes sample `index`, preprocessed, into `out` (len = product of sample_shape).
    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError>;
    /// The class label of sample `index`, if the source has labels.
    fn label(&self, index: usize) -> Option<u32>;
    /// Short description for tables and errors (kind and path).
    fn describe(&self) -> String;
}

/// Number of values in one sample (the product of `sample_shape`).
pub fn sample_len(ds: &dyn Dataset) -> usize {
    ds.sample_shape().iter().product()
}

/// Checks `index` and the length of `out` before a `read` (shared by the sources).
pub(crate) fn check_read(ds: &dyn Dataset, index: usize, out: &[f32]) -> Result<(), DataError> {
    if index >= ds.len() {
        return Err(DataError::OutOfRange {
            dataset: ds.describe(),
            index,
            len: ds.len(),
        });
    }
    let expected = sample_len(ds);
    if out.len() != expected {
        return Err(DataError::OutputLen {
            dataset: ds.describe(),
            expected,
            got: out.len(),
        });
    }
    Ok(())
}

/// A batch of `count` samples starting at position `start` (zero-padded past the end), flattened.
pub fn read_batch(ds: &dyn Dataset, start: usize, count: usize) -> Result<Vec<f32>, DataError> {
    let per = sample_len(ds);
    let total = per.checked_mul(count).ok_or_else(|| {
        DataError::Config(format!(
            "a batch of {count} samples of shape {:?} from {} overflows",
            ds.sample_shape(),
            ds.describe()
        ))
    })?;
    let mut out = vec![0f32; total];
    let end = start.saturating_add(count).min(ds.len());
    for (slot, index) in (start..end).enumerate() {
        ds.read(index, &mut out[slot * per..(slot + 1) * per])?;
    }
    Ok(out)
}

/// All labels, or None if the source has none (or any sample lacks one).
pub fn labels(ds: &dyn Dataset) -> Option<Vec<u32>> {
    (0..ds.len()).map(|i| ds.label(i)).collect()
}

macro_rules! forward_dataset {
    ($ptr:ident) => {
        impl<T: Dataset + ?Sized> Dataset for $ptr<T> {
            fn len(&self) -> usize {
                (**self).len()
            }
            fn sample_shape(&self) -> &[usize] {
                (**self).sample_shape()
            }
            fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
                (**self).read(index, out)
            }
            fn label(&self, index: usize) -> Option<u32> {
                (**self).label(index)
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
        }
    };
}
forward_dataset!(Box);
forward_dataset!(Arc);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny in-memory dataset: sample i is [i, i + 0.5], label i % 3 (or none).
    pub(crate) struct Counting {
        pub len: usize,
        pub labelled: bool,
    }

    impl Dataset for Counting {
        fn len(&self) -> usize {
            self.len
        }
        fn sample_shape(&self) -> &[usize] {
            &[2]
        }
        fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
            check_read(self, index, out)?;
            out[0] = index as f32;
            out[1] = index as f32 + 0.5;
            Ok(())
        }
        fn label(&self, index: usize) -> Option<u32> {
            (self.labelled && index < self.len).then_some(index as u32 % 3)
        }
        fn describe(&self) -> String {
            format!("counting({})", self.len)
        }
    }

    #[test]
    fn batch_reads_in_order_and_pads() {
        let ds = Counting {
            len: 3,
            labelled: true,
        };
        assert_eq!(
            read_batch(&ds, 1, 3).unwrap(),
            vec![1.0, 1.5, 2.0, 2.5, 0.0, 0.0]
        );
        assert_eq!(read_batch(&ds, 5, 1).unwrap(), vec![0.0, 0.0]);
        assert!(read_batch(&ds, 0, 0).unwrap().is_empty());
        assert!(
            read_batch(&ds, 0, usize::MAX).is_err(),
            "overflow is an error"
        );
    }

    #[test]
    fn labels_all_or_none() {
        assert_eq!(
            labels(&Counting {
                len: 4,
                labelled: true
            }),
            Some(vec![0, 1, 2, 0])
        );
        assert_eq!(
            labels(&Counting {
                len: 4,
                labelled: false
            }),
            None
        );
    }

    #[test]
    fn read_checks_index_and_buffer() {
        let ds = Counting {
            len: 2,
            labelled: false,
        };
        let mut two = [0f32; 2];
        let e = ds.read(2, &mut two).unwrap_err().to_string();
        assert!(e.contains("counting(2)") && e.contains("sample 2"), "{e}");
        let e = ds.read(0, &mut [0f32; 3]).unwrap_err().to_string();
        assert!(e.contains("holds 3") && e.contains("has 2"), "{e}");
    }

    #[test]
    fn boxed_and_shared_forward() {
        let boxed: Box<dyn Dataset> = Box::new(Counting {
            len: 2,
            labelled: true,
        });
        let shared: Arc<dyn Dataset> = Arc::new(Counting {
            len: 2,
            labelled: true,
        });
        assert_eq!(read_batch(&boxed, 1, 1).unwrap(), vec![1.0, 1.5]);
        assert_eq!(labels(&shared), Some(vec![0, 1]));
        assert!(!boxed.is_empty() && sample_len(&shared) == 2);
    }
}
