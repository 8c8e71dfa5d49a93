//! `IdxSource`: an IDX images file (rank 3, u8) with an optional IDX labels file (rank 1).

use std::path::{Path, PathBuf};

use crate::dataset::check_read;
use crate::{read_idx, DataError, Dataset, Layout, Normalizer, Preprocess};

/// Grayscale IDX images (MNIST format); samples are [1, rows, cols] (or [rows, cols, 1] with
/// layout nhwc), normalized with scale 255 unless the preprocess says otherwise.
#[derive(Clone, Debug)]
pub struct IdxSource {
    images: PathBuf,
    shape: Vec<usize>,
    pixels: Vec<u8>,
    labels: Option<Vec<u8>>,
    norm: Normalizer,
}

impl IdxSource {
    /// Loads and validates the images (and labels) files.
    pub fn open(images: &Path, labels: Option<&Path>, pre: &Preprocess) -> Result<Self, DataError> {
        pre.reject_image_keys("idx")?;
        let img = read_idx(images)?;
        if img.dims.len() != 3 {
            return Err(DataError::Format {
                path: images.to_path_buf(),
                reason: format!("images must have 3 dimensions, found {:?}", img.dims),
            });
        }
        let (n, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
        if n == 0 || rows == 0 || cols == 0 {
            return Err(DataError::invalid(
                images,
                format!("no images (dimensions {:?})", img.dims),
            ));
        }
        let labels = match labels {
            None => None,
            Some(path) => {
                let lab = read_idx(path)?;
                if lab.dims.len() != 1 {
                    return Err(DataError::Format {
                        path: path.to_path_buf(),
                        reason: format!("labels must have 1 dimension, found {:?}", lab.dims),
                    });
                }
                if lab.dims[0] != n {
                    return Err(DataError::Mismatch {
                        images: images.to_path_buf(),
                        labels: path.to_path_buf(),
                        reason: format!("{n} images but {} labels", lab.dims[0]),
                    });
                }
                Some(lab.data)
            }
        };
        let shape = match pre.layout {
            Layout::Nchw => vec![1, rows, cols],
            Layout::Nhwc => vec![rows, cols, 1],
        };
        let norm = pre.normalizer(&shape, 255.0)?;
        Ok(IdxSource {
            images: images.to_path_buf(),
            shape,
            pixels: img.data,
            labels,
            norm,
        })
    }
}

impl Dataset for IdxSource {
    fn len(&self) -> usize {
        self.pixels.len() / (self.shape.iter().product::<usize>())
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
        check_read(self, index, out)?;
        let n = out.len();
        for (o, p) in out.iter_mut().zip(&self.pixels[index * n..(index + 1) * n]) {
            *o = *p as f32;
        }
        self.norm.apply(out);
        Ok(())
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.as_ref()?.get(index).map(|l| *l as u32)
    }

    fn describe(&self) -> String {
        format!("idx {}", self.images.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{labels, read_batch, write_idx_gz, PerChannel};

    fn write_set(dir: &Path, n: usize, n_labels: usize) -> (PathBuf, PathBuf) {
        let (img, lab) = (dir.join("img.idx.gz"), dir.join("lab.idx.gz"));
        let pixels: Vec<u8> = (0..n * 4).map(|i| (i * 17) as u8).collect();
        write_idx_gz(&img, &[n, 2, 2], &pixels).unwrap();
        let labels: Vec<u8> = (0..n_labels).map(|i| i as u8 + 5).collect();
        write_idx_gz(&lab, &[n_labels], &labels).unwrap();
        (img, lab)
    }

    #[test]
    fn reads_normalized_samples_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let (img, lab) = write_set(dir.path(), 3, 3);
        let pre = Preprocess {
            mean: Some(PerChannel(vec![0.5])),
            std: Some(PerChannel(vec![0.5])),
            ..Preprocess::default()
        };
        let ds = IdxSource::open(&img, Some(&lab), &pre).unwrap();
        assert_eq!((ds.len(), ds.sample_shape()), (3, &[1usize, 2, 2][..]));
        let mut s = [0f32; 4];
        ds.read(1, &mut s).unwrap();
        // Pixels 68, 85, 102, 119 -> (p / 255 - 0.5) / 0.5.
        let want: Vec<f32> = [68.0f32, 85.0, 102.0, 119.0]
            .iter()
            .map(|p| (p / 255.0 - 0.5) / 0.5)
            .collect();
        assert!(
            s.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{s:?}"
        );
        assert_eq!(labels(&ds), Some(vec![5, 6, 7]));
        assert_eq!(read_batch(&ds, 2, 2).unwrap()[4..], [0.0; 4]);
        assert!(ds.describe().contains("img.idx.gz"));
    }

    #[test]
    fn without_labels_and_nhwc() {
        let dir = tempfile::tempdir().unwrap();
        let (img, _) = write_set(dir.path(), 2, 2);
        let pre = Preprocess {
            layout: Layout::Nhwc,
            ..Preprocess::default()
        };
        let ds = IdxSource::open(&img, None, &pre).unwrap();
        assert_eq!(ds.sample_shape(), &[2, 2, 1]);
        assert_eq!(ds.label(0), None);
        assert_eq!(labels(&ds), None);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (img, lab) = write_set(dir.path(), 3, 2);
        let e = IdxSource::open(&img, Some(&lab), &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("3 images but 2 labels") && e.contains("lab.idx.gz"),
            "{e}"
        );
        let e = IdxSource::open(&lab, None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("3 dimensions") && e.contains("lab.idx.gz"),
            "{e}"
        );
        let e = IdxSource::open(&img, Some(&img), &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("labels must have 1 dimension"), "{e}");
        let missing = dir.path().join("missing.idx");
        let e = IdxSource::open(&missing, None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.idx"), "{e}");
        let pre = Preprocess {
            crop: Some(crate::Crop { h: 1, w: 1 }),
            ..Preprocess::default()
        };
        assert!(IdxSource::open(&img, None, &pre)
            .unwrap_err()
            .to_string()
            .contains("crop"));
        let pre = Preprocess {
            mean: Some(PerChannel(vec![0.0, 0.0])),
            ..Preprocess::default()
        };
        assert!(IdxSource::open(&img, None, &pre)
            .unwrap_err()
            .to_string()
            .contains("mean has 2"));
        write_idx_gz(dir.path().join("empty.gz"), &[0, 2, 2], &[]).unwrap();
        let e = IdxSource::open(&dir.path().join("empty.gz"), None, &Preprocess::default());
        assert!(e.unwrap_err().to_string().contains("no images"));
    }
}
