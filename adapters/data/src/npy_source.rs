//! `NpySource`: samples from a `.npy` file or a named array of an `.npz` archive (first axis =
//! samples), with labels from another npz array, a `.npy` file or a text file.

use std::path::{Path, PathBuf};

use crate::dataset::check_read;
use crate::{read_label_file, DataError, Dataset, Normalizer, NpyArray, NpyData, Preprocess};

/// An in-memory array of samples; values are converted to f32 and normalized per sample
/// (default scale 255 for uint8 arrays, 1 otherwise; the channel axis follows the layout).
#[derive(Clone, Debug)]
pub struct NpySource {
    name: String,
    shape: Vec<usize>,
    count: usize,
    data: NpyData,
    labels: Option<Vec<u32>>,
    norm: Normalizer,
}

impl NpySource {
    /// Samples from the `.npy` file `path`; labels from a `.npy` or text file.
    pub fn open_npy(
        path: &Path,
        labels: Option<&Path>,
        pre: &Preprocess,
    ) -> Result<Self, DataError> {
        pre.reject_image_keys("npy")?;
        let array = NpyArray::read_npy(path)?;
        let labels = match labels {
            None => None,
            Some(l) => Some((
                read_label_file(l)?,
                l.to_path_buf(),
                "the labels file".to_string(),
            )),
        };
        Self::build(
            array,
            path,
            String::new(),
            labels,
            pre,
            format!("npy {}", path.display()),
        )
    }

    /// Samples from array `array` of the `.npz` archive `path`; labels from array `labels`.
    pub fn open_npz(
        path: &Path,
        array: &str,
        labels: Option<&str>,
        pre: &Preprocess,
    ) -> Result<Self, DataError> {
        pre.reject_image_keys("npz")?;
        let samples = NpyArray::read_npz(path, array)?;
        let labels = match labels {
            None => None,
            Some(key) => {
                let what = format!("array '{key}': ");
                let l = NpyArray::read_npz(path, key)?.to_labels(path, &what)?;
                Some((l, path.to_path_buf(), format!("array '{key}'")))
            }
        };
        let what = format!("array '{array}' ");
        let name = format!("npz {}:{array}", path.display());
        Self::build(samples, path, what, labels, pre, name)
    }

    fn build(
        array: NpyArray,
        path: &Path,
        what: String,
        labels: Option<(Vec<u32>, PathBuf, String)>,
        pre: &Preprocess,
        name: String,
    ) -> Result<Self, DataError> {
        if array.shape.len() < 2 {
            return Err(DataError::invalid(
                path,
                format!(
                    "{what}has shape {:?}: need rank >= 2 (samples first)",
                    array.shape
                ),
            ));
        }
        let count = array.shape[0];
        let shape = array.shape[1..].to_vec();
        if count == 0 || shape.contains(&0) {
            return Err(DataError::invalid(
                path,
                format!("{what}has no samples (shape {:?})", array.shape),
            ));
        }
        if let Some((l, lpath, lname)) = &labels {
            if l.len() != count {
                return Err(DataError::Mismatch {
                    images: path.to_path_buf(),
                    labels: lpath.clone(),
                    reason: format!("{count} samples but {} labels in {lname}", l.len()),
                });
            }
        }
        let default_scale = if matches!(array.data, NpyData::U8(_)) {
            255.0
        } else {
            1.0
        };
        let norm = pre.normalizer(&shape, default_scale)?;
        Ok(NpySource {
            name,
            shape,
            count,
            data: array.data,
            labels: labels.map(|l| l.0),
            norm,
        })
    }

    /// The numpy name of the stored element type.
    pub fn dtype_name(&self) -> &'static str {
        self.data.dtype_name()
    }
}

impl Dataset for NpySource {
    fn len(&self) -> usize {
        self.count
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
        check_read(self, index, out)?;
        self.data.copy_f32(index * out.len(), out);
        self.norm.apply(out);
        Ok(())
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.as_ref()?.get(index).copied()
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy_array::tests::{npy_bytes, write_npz};
    use crate::{labels, Layout, PerChannel};

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn npy_u8_defaults_to_scale_255_with_text_labels() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.npy");
        std::fs::write(&x, npy_bytes(&[2, 1, 2], &[0u8, 255, 51, 102], false)).unwrap();
        let l = dir.path().join("y.txt");
        std::fs::write(&l, "1\n0\n").unwrap();
        let ds = NpySource::open_npy(&x, Some(&l), &Preprocess::default()).unwrap();
        assert_eq!(
            (ds.len(), ds.sample_shape(), ds.dtype_name()),
            (2, &[1usize, 2][..], "uint8")
        );
        let mut s = [0f32; 2];
        ds.read(1, &mut s).unwrap();
        assert!(close(&s, &[0.2, 0.4]), "{s:?}");
        assert_eq!(labels(&ds), Some(vec![1, 0]));
        assert!(ds.describe().contains("x.npy"));
    }

    #[test]
    fn float_npy_per_channel_nhwc_with_npy_labels() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.npy");
        // One sample of shape [1, 2, 2] as NHWC: two pixels of two channels.
        std::fs::write(
            &x,
            npy_bytes(&[1, 1, 2, 2], &[1.0f64, 10.0, 3.0, 30.0], false),
        )
        .unwrap();
        let l = dir.path().join("y.npy");
        std::fs::write(&l, npy_bytes(&[1], &[4i32], false)).unwrap();
        let pre = Preprocess {
            layout: Layout::Nhwc,
            mean: Some(PerChannel(vec![1.0, 10.0])),
            std: Some(PerChannel(vec![2.0, 20.0])),
            ..Preprocess::default()
        };
        let ds = NpySource::open_npy(&x, Some(&l), &pre).unwrap();
        let mut s = [0f32; 4];
        ds.read(0, &mut s).unwrap();
        assert!(close(&s, &[0.0, 0.0, 1.0, 1.0]), "{s:?}");
        assert_eq!(ds.label(0), Some(4));
    }

    #[test]
    fn npz_with_label_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.npz");
        write_npz(
            &p,
            &[
                ("x", npy_bytes(&[3, 2], &[0i16, 1, 2, 3, 4, 5], false)),
                ("y", npy_bytes(&[3], &[2u8, 1, 0], false)),
                ("short", npy_bytes(&[2], &[0u8, 1], false)),
                ("neg", npy_bytes(&[3], &[0i8, -1, 2], false)),
            ],
        );
        let ds = NpySource::open_npz(&p, "x", Some("y"), &Preprocess::default()).unwrap();
        let mut s = [0f32; 2];
        ds.read(2, &mut s).unwrap();
        assert_eq!(s, [4.0, 5.0], "int16 keeps scale 1");
        assert_eq!(labels(&ds), Some(vec![2, 1, 0]));
        assert!(ds.describe().contains("d.npz:x"));
        let e = NpySource::open_npz(&p, "x", Some("short"), &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 samples but 2 labels in array 'short'"), "{e}");
        let e = NpySource::open_npz(&p, "x", Some("neg"), &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("array 'neg'") && e.contains("label -1"), "{e}");
        let e = NpySource::open_npz(&p, "y", None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("array 'y' has shape [3]: need rank >= 2"), "{e}");
    }

    #[test]
    fn errors_name_file_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("x.npy");
        std::fs::write(&x, npy_bytes(&[2, 2], &[1.0f32; 4], false)).unwrap();
        let l = dir.path().join("y.txt");
        std::fs::write(&l, "1\n2\n3\n").unwrap();
        let e = NpySource::open_npy(&x, Some(&l), &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.npy")
                && e.contains("y.txt")
                && e.contains("2 samples but 3 labels in the labels file"),
            "{e}"
        );
        let e = NpySource::open_npy(&dir.path().join("none.npy"), None, &Preprocess::default());
        assert!(e.unwrap_err().to_string().contains("none.npy"));
        let bytes = npy_bytes(&[2, 2], &[1.0f32; 4], false);
        std::fs::write(&x, &bytes[..bytes.len() - 1]).unwrap();
        let e = NpySource::open_npy(&x, None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.npy: truncated"), "{e}");
        std::fs::write(&x, npy_bytes(&[0, 3], &[0f32; 0], false)).unwrap();
        let e = NpySource::open_npy(&x, None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no samples"), "{e}");
        std::fs::write(&x, npy_bytes(&[2, 3], &[0f32; 6], false)).unwrap();
        let pre = Preprocess {
            mean: Some(PerChannel(vec![0.0, 1.0])),
            ..Preprocess::default()
        };
        let e = NpySource::open_npy(&x, None, &pre).unwrap_err().to_string();
        assert!(
            e.contains("mean has 2 values") && e.contains("3 channels"),
            "{e}"
        );
        let pre = Preprocess {
            resize: Some(8),
            ..Preprocess::default()
        };
        assert!(NpySource::open_npy(&x, None, &pre)
            .unwrap_err()
            .to_string()
            .contains("resize"));
    }
}
