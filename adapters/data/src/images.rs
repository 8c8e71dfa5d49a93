//! A labelled image set (images + labels IDX pair) and its preprocessing to float tensors.

use std::path::Path;

use crate::{read_idx, DataError};

/// Per-pixel preprocessing: x = (pixel / 255 - mean) / std.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization {
    pub mean: f32,
    pub std: f32,
}

/// Grayscale images with one class label each.
#[derive(Clone, Debug)]
pub struct LabelledImages {
    pub rows: usize,
    pub cols: usize,
    /// `len * rows * cols` pixels, row-major.
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl LabelledImages {
    /// Loads an images file (rank 3) and a labels file (rank 1) and checks they match.
    pub fn load(images: &Path, labels: &Path) -> Result<Self, DataError> {
        let img = read_idx(images)?;
        let lab = read_idx(labels)?;
        let mismatch = |reason: String| DataError::Mismatch {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            reason,
        };
        if img.dims.len() != 3 {
            return Err(DataError::Format {
                path: images.to_path_buf(),
                reason: format!("images must have 3 dimensions, found {:?}", img.dims),
            });
        }
        if lab.dims.len() != 1 {
            return Err(DataError::Format {
                path: labels.to_path_buf(),
                reason: format!("labels must have 1 dimension, found {:?}", lab.dims),
            });
        }
        if img.dims[0] != lab.dims[0] {
            return Err(mismatch(format!(
                "{} images but {} labels",
                img.dims[0], lab.dims[0]
            )));
        }
        Ok(LabelledImages {
            rows: img.dims[1],
            cols: img.dims[2],
            pixels: img.data,
            labels: lab.data,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// The first `n` images (or all, if fewer).
    pub fn take(&self, n: usize) -> LabelledImages {
        let n = n.min(self.len());
        LabelledImages {
            rows: self.rows,
            cols: self.cols,
            pixels: self.pixels[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// Normalized float pixels of images `start..start+count`, NCHW with C = 1; images past the
    /// end are zero-padded so that the batch always has `count` images.
    pub fn batch(&self, start: usize, count: usize, norm: Normalization) -> Vec<f32> {
        let il = self.image_len();
        let mut out = vec![0f32; count * il];
        let end = (start + count).min(self.len());
        if start < end {
            for (o, p) in out.iter_mut().zip(&self.pixels[start * il..end * il]) {
                *o = (*p as f32 / 255.0 - norm.mean) / norm.std;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_normalizes_and_pads() {
        let set = LabelledImages {
            rows: 1,
            cols: 2,
            pixels: vec![0, 255, 51, 102],
            labels: vec![0, 1],
        };
        let n = Normalization {
            mean: 0.0,
            std: 0.5,
        };
        let b = set.batch(1, 2, n);
        assert_eq!(b.len(), 4);
        assert!((b[0] - 0.4).abs() < 1e-6 && (b[1] - 0.8).abs() < 1e-6);
        assert_eq!(&b[2..], &[0.0, 0.0]);
    }
}
