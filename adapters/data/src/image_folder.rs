//! `ImageFolder`: the torchvision layout, one sub-folder per class holding PNG/JPEG files,
//! decoded lazily in `read`. Labels are the class indices: sorted folder names, or the line
//! order of a classes file (e.g. ImageNet synset order) so folders map to the model's classes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::class_list::read_classes;
use crate::dataset::check_read;
use crate::image_transform::{decode_image, image_dimensions, ImageTransform};
use crate::{DataError, Dataset, Normalizer, Preprocess};

/// Deepest folder nesting searched below a class folder (guards against symlink loops).
const MAX_DEPTH: usize = 16;

/// Images in class sub-folders, preprocessed on read.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    /// (file, label), ordered by label then path.
    files: Vec<(PathBuf, u32)>,
    transform: ImageTransform,
    shape: Vec<usize>,
    norm: Normalizer,
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["png", "jpg", "jpeg"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// Non-hidden entries of `dir`, sorted, split into (folders, files); symlinks are followed.
fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if !is_hidden(&path) {
            entries.push(path);
        }
    }
    entries.sort();
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for path in entries {
        // A broken symlink has no metadata: it is neither a folder nor an image.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => dirs.push(path),
            Ok(m) if m.is_file() => files.push(path),
            _ => {}
        }
    }
    Ok((dirs, files))
}

/// Image files below `dir`, recursively, in sorted path order.
fn images_below(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    if depth > MAX_DEPTH {
        return Err(DataError::invalid(
            dir,
            format!("folders nested deeper than {MAX_DEPTH} levels (a symlink loop?)"),
        ));
    }
    let (dirs, files) = list_dir(dir)?;
    let mut all: Vec<(PathBuf, bool)> = dirs.into_iter().map(|d| (d, true)).collect();
    all.extend(
        files
            .into_iter()
            .filter(|f| is_image(f))
            .map(|f| (f, false)),
    );
    all.sort();
    for (path, is_dir) in all {
        if is_dir {
            images_below(&path, depth + 1, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

impl ImageFolder {
    /// Scans `root` (one sub-folder per class) and validates the preprocessing; images are
    /// decoded only when read. Without a crop, the first image's size (after any resize) is the
    /// sample size and every image must match it.
    pub fn open(
        root: &Path,
        classes_file: Option<&Path>,
        pre: &Preprocess,
    ) -> Result<Self, DataError> {
        let (dirs, _) = list_dir(root)?;
        if dirs.is_empty() {
            return Err(DataError::invalid(
                root,
                "no class sub-folders (the layout is one folder of images per class)",
            ));
        }
        let names: Vec<String> = dirs
            .iter()
            .map(|d| {
                d.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let classes = match classes_file {
            None => names.clone(),
            Some(file) => read_classes(file, &names)?,
        };
        let index: HashMap<&str, u32> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as u32))
            .collect();
        let mut files = Vec::new();
        for (dir, name) in dirs.iter().zip(&names) {
            let Some(&label) = index.get(name.as_str()) else {
                return Err(DataError::invalid(
                    classes_file.unwrap_or(root),
                    format!(
                        "folder '{name}' of {} is not a listed class",
                        root.display()
                    ),
                ));
            };
            let mut found = Vec::new();
            images_below(dir, 0, &mut found)?;
            files.extend(found.into_iter().map(|f| (f, label)));
        }
        files.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        let Some((first, _)) = files.first() else {
            return Err(DataError::invalid(
                root,
                format!("no PNG or JPEG images in its {} class folders", dirs.len()),
            ));
        };
        let native = if pre.crop.is_some() {
            (1, 1)
        } else {
            image_dimensions(first)?
        };
        let transform = ImageTransform::new(pre, native, first)?;
        let shape = transform.shape();
        let norm = pre.normalizer(&shape, 255.0)?;
        Ok(ImageFolder {
            root: root.to_path_buf(),
            classes,
            files,
            transform,
            shape,
            norm,
        })
    }

    /// Class names in label order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The file of sample `index`.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(|f| f.0.as_path())
    }
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
        check_read(self, index, out)?;
        let path = &self.files[index].0;
        self.transform.apply(decode_image(path)?, path, out)?;
        self.norm.apply(out);
        Ok(())
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.files.get(index).map(|f| f.1)
    }

    fn describe(&self) -> String {
        format!("image-folder {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{labels, read_batch, Crop, PerChannel};
    use image::{Rgb, RgbImage};

    fn save(path: &Path, w: u32, h: u32, px: [u8; 3]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbImage::from_pixel(w, h, Rgb(px)).save(path).unwrap();
    }

    /// root/{zebra, ant}/..., with a non-image file, a hidden file and an upper-case JPEG.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        save(&r.join("zebra/b.png"), 4, 4, [200, 100, 50]);
        save(&r.join("zebra/a.PNG"), 4, 4, [0, 0, 0]);
        save(&r.join("ant/x.JPG"), 4, 4, [128, 128, 128]);
        save(&r.join("ant/sub/y.jpeg"), 4, 4, [255, 255, 255]);
        std::fs::write(r.join("ant/notes.txt"), "not an image").unwrap();
        std::fs::write(r.join("zebra/.hidden.png"), "not an image either").unwrap();
        dir
    }

    #[test]
    fn labels_follow_sorted_folders() {
        let dir = tree();
        let ds = ImageFolder::open(dir.path(), None, &Preprocess::default()).unwrap();
        assert_eq!(ds.classes(), ["ant", "zebra"]);
        assert_eq!(ds.len(), 4);
        assert_eq!(labels(&ds), Some(vec![0, 0, 1, 1]));
        let names: Vec<_> = (0..4)
            .map(|i| ds.path(i).unwrap().file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["y.jpeg", "x.JPG", "a.PNG", "b.png"]);
        assert_eq!(ds.sample_shape(), [3, 4, 4]);
        let mut s = vec![0f32; 48];
        ds.read(3, &mut s).unwrap();
        let want = [200.0 / 255.0, 100.0 / 255.0, 50.0 / 255.0];
        for (c, w) in want.iter().enumerate() {
            assert!(
                s[c * 16..(c + 1) * 16].iter().all(|v| (v - w).abs() < 1e-6),
                "{s:?}"
            );
        }
        ds.read(1, &mut s).unwrap(); // JPEG of gray 128: lossy but close
        assert!(s.iter().all(|v| (v - 128.0 / 255.0).abs() < 0.02), "{s:?}");
        assert!(ds.describe().starts_with("image-folder "));
    }

    #[test]
    fn classes_file_sets_the_label_order() {
        let dir = tree();
        let classes = dir.path().join("classes.txt");
        std::fs::write(&classes, "cat\nzebra the striped one\n\nant\n").unwrap();
        let ds = ImageFolder::open(dir.path(), Some(&classes), &Preprocess::default()).unwrap();
        assert_eq!(ds.classes(), ["cat", "zebra", "ant"]);
        assert_eq!(labels(&ds), Some(vec![1, 1, 2, 2]));
        std::fs::write(&classes, "zebra\n").unwrap();
        let e = ImageFolder::open(dir.path(), Some(&classes), &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("classes.txt") && e.contains("folder 'ant'"),
            "{e}"
        );
        // An unreadable classes file is an error naming it (parsing: see class_list).
        let missing = dir.path().join("nope.txt");
        let e = ImageFolder::open(dir.path(), Some(&missing), &Preprocess::default());
        assert!(e.unwrap_err().to_string().contains("nope.txt"));
    }

    #[test]
    fn resize_crop_normalize_bgr_nhwc() {
        let dir = tempfile::tempdir().unwrap();
        save(&dir.path().join("c/wide.png"), 30, 10, [10, 20, 30]);
        save(&dir.path().join("c/tall.png"), 5, 15, [10, 20, 30]);
        let pre = Preprocess {
            resize: Some(6),
            crop: Some(Crop { h: 4, w: 5 }),
            color: Some(crate::ColorOrder::Bgr),
            layout: crate::Layout::Nhwc,
            mean: Some(PerChannel(vec![0.0, 0.5, 1.0])),
            std: Some(PerChannel(vec![1.0, 2.0, 4.0])),
            ..Preprocess::default()
        };
        let ds = ImageFolder::open(dir.path(), None, &pre).unwrap();
        assert_eq!(ds.sample_shape(), [4, 5, 3]);
        let batch = read_batch(&ds, 0, 2).unwrap();
        // BGR = 30, 20, 10 -> (30/255 - 0)/1, (20/255 - 0.5)/2, (10/255 - 1)/4 per pixel.
        let want = [
            30.0 / 255.0,
            (20.0 / 255.0 - 0.5) / 2.0,
            (10.0 / 255.0 - 1.0) / 4.0,
        ];
        for (i, v) in batch.iter().enumerate() {
            assert!((v - want[i % 3]).abs() < 1e-5, "value {i}: {v}");
        }
    }

    #[test]
    fn empty_missing_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let e = ImageFolder::open(dir.path(), None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no class sub-folders"), "{e}");
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/readme.md"), "x").unwrap();
        let e = ImageFolder::open(dir.path(), None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no PNG or JPEG images"), "{e}");
        let e = ImageFolder::open(&dir.path().join("gone"), None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("gone"), "{e}");
        save(&dir.path().join("a/0.png"), 2, 2, [1, 2, 3]);
        std::fs::write(dir.path().join("a/1.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
        std::fs::write(dir.path().join("a/2.jpg"), b"\xff\xd8\xff\xe0 garbage").unwrap();
        save(&dir.path().join("a/3.png"), 3, 2, [1, 2, 3]);
        let ds = ImageFolder::open(dir.path(), None, &Preprocess::default()).unwrap();
        assert_eq!(ds.sample_shape(), [3, 2, 2], "size of the first image");
        let mut s = vec![0f32; 12];
        ds.read(0, &mut s).unwrap();
        for (i, name) in [(1, "1.png"), (2, "2.jpg")] {
            let e = ds.read(i, &mut s).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("cannot decode"), "{e}");
        }
        let e = ds.read(3, &mut s).unwrap_err().to_string();
        assert!(e.contains("3.png") && e.contains("3x2"), "{e}");
        let pre = Preprocess {
            crop: Some(Crop { h: 3, w: 3 }),
            ..Preprocess::default()
        };
        let ds = ImageFolder::open(dir.path(), None, &pre).unwrap();
        let mut s = vec![0f32; 27];
        let e = ds.read(0, &mut s).unwrap_err().to_string();
        assert!(
            e.contains("0.png") && e.contains("smaller than the 3x3"),
            "{e}"
        );
        // A corrupt first image fails at open when its size is needed.
        std::fs::rename(dir.path().join("a/1.png"), dir.path().join("a/0-bad.png")).unwrap();
        let e = ImageFolder::open(dir.path(), None, &Preprocess::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("0-bad.png"), "{e}");
    }
}
