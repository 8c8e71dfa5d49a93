//! `ImageCrops`: many samples from a few photos. Sample `i` is a random-resized crop (as
//! torchvision's `RandomResizedCrop`) of file `i % files`, resized to the `crop` size and
//! packed and normalized as `ImageFolder` images. It has its own generator seeded from the seed
//! and `i`, so any subset reads the same values. No labels, unless [`CropLabels`] says how to
//! make them (`labels = "rotation-180"`: half the crops turned upside down, for a
//! text-orientation classifier).

use std::path::{Path, PathBuf};

use image::{imageops, RgbImage};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::dataset::check_read;
use crate::image_packing::ImagePacking;
use crate::image_transform::{decode_image, RESIZE_FILTER};
use crate::{splitmix64, Crop, DataError, Dataset, Normalizer, Preprocess, RandomResizedCrop};

/// Labels image crops can carry, made by transforming the crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CropLabels {
    /// A seeded coin per sample: label 1, the crop rotated by 180 degrees; label 0, upright.
    /// The task of a text-orientation classifier (PaddleOCR's `cls`: labels "0" and "180").
    #[serde(rename = "rotation-180")]
    Rotation180,
}

/// Whether sample `index` of a source seeded with `seed` is turned upside down (label 1 of
/// [`CropLabels::Rotation180`]): a coin independent of the sample's own generator and of its
/// file.
fn flipped(seed: u64, index: usize) -> bool {
    splitmix64(splitmix64(seed ^ 0x0F1_1EB5) ^ index as u64) & 1 == 1
}

/// What optional labels mean for one sample, shared by every source that makes them.
pub(crate) trait SampleLabels {
    /// Whether sample `index` is turned upside down.
    fn rotated(&self, seed: u64, index: usize) -> bool;
    /// The label of sample `index`, if the source makes labels.
    fn label(&self, seed: u64, index: usize) -> Option<u32>;
    /// The suffix of the source's description.
    fn describe(&self) -> &'static str;
}

impl SampleLabels for Option<CropLabels> {
    fn rotated(&self, seed: u64, index: usize) -> bool {
        *self == Some(CropLabels::Rotation180) && flipped(seed, index)
    }

    fn label(&self, seed: u64, index: usize) -> Option<u32> {
        self.map(|CropLabels::Rotation180| u32::from(flipped(seed, index)))
    }

    fn describe(&self) -> &'static str {
        match self {
            Some(CropLabels::Rotation180) => ", half rotated 180 degrees (labels 0/1)",
            None => "",
        }
    }
}

/// Seeded random-resized crops of images decoded once, at open.
#[derive(Clone, Debug)]
pub struct ImageCrops {
    /// (file, decoded 8-bit RGB), in the listed order.
    images: Vec<(PathBuf, RgbImage)>,
    count: usize,
    seed: u64,
    sampler: RandomResizedCrop,
    /// The output size.
    crop: Crop,
    packing: ImagePacking,
    shape: Vec<usize>,
    norm: Normalizer,
    labels: Option<CropLabels>,
}

impl ImageCrops {
    /// Validates the parameters and the preprocessing (`crop` is the required output size,
    /// `resize` does not apply), then decodes every file to 8-bit RGB (alpha dropped).
    pub fn open(
        files: &[PathBuf],
        count: usize,
        seed: u64,
        sampler: RandomResizedCrop,
        pre: &Preprocess,
    ) -> Result<Self, DataError> {
        let bad = |m: &str| Err(DataError::Config(format!("image-crops: {m}")));
        if files.is_empty() {
            return bad("files is empty: list at least one PNG or JPEG file");
        }
        if count == 0 {
            return bad("count must be > 0");
        }
        if pre.resize.is_some() {
            return bad(
                "preprocess key resize does not apply to image crops, which are resized \
                 straight to the crop size (the output): remove resize",
            );
        }
        let Some(crop) = pre.crop else {
            return bad("preprocess key crop (the output size, e.g. crop = 224) is required");
        };
        let packing = ImagePacking::new(pre)?;
        let shape = packing.shape(crop.h, crop.w);
        let norm = pre.normalizer(&shape, 255.0)?;
        let images = files
            .iter()
            .map(|f| Ok((f.clone(), decode(f)?)))
            .collect::<Result<_, DataError>>()?;
        Ok(ImageCrops {
            images,
            count,
            seed,
            sampler,
            crop,
            packing,
            shape,
            norm,
            labels: None,
        })
    }

    /// The same crops, labelled (and transformed) as `labels` says.
    pub fn with_labels(mut self, labels: Option<CropLabels>) -> Self {
        self.labels = labels;
        self
    }

    /// The file sample `index` is cropped from.
    pub fn path(&self, index: usize) -> Option<&Path> {
        (index < self.count).then(|| self.images[index % self.images.len()].0.as_path())
    }
}

/// Decodes `path` to 8-bit RGB.
fn decode(path: &Path) -> Result<RgbImage, DataError> {
    let img = decode_image(path)?.into_rgb8();
    if img.width() == 0 || img.height() == 0 {
        return Err(DataError::invalid(path, "image has no pixels"));
    }
    Ok(img)
}

impl Dataset for ImageCrops {
    fn len(&self) -> usize {
        self.count
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
        check_read(self, index, out)?;
        let (_, img) = &self.images[index % self.images.len()];
        let mut rng = StdRng::seed_from_u64(splitmix64(self.seed ^ splitmix64(index as u64)));
        let b = self.sampler.sample(img.width(), img.height(), &mut rng);
        let window = imageops::crop_imm(img, b.left, b.top, b.width, b.height);
        let (h, w) = (self.crop.h, self.crop.w);
        let rotate = self.labels.rotated(self.seed, index);
        match ((b.height, b.width) == (h, w), rotate) {
            (true, false) => self.packing.pack(&*window, out),
            (true, true) => self.packing.pack(&imageops::rotate180(&*window), out),
            (false, r) => {
                let mut img = imageops::resize(&*window, w, h, RESIZE_FILTER);
                if r {
                    imageops::rotate180_in_place(&mut img);
                }
                self.packing.pack(&img, out)
            }
        }
        self.norm.apply(out);
        Ok(())
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.label(self.seed, index)
    }

    fn describe(&self) -> String {
        format!(
            "image-crops of {} files x {} seed {}{}",
            self.images.len(),
            self.count,
            self.seed,
            self.labels.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random_resized_crop::{DEFAULT_CROP_RATIO, DEFAULT_CROP_SCALE};
    use crate::{labels, read_batch, ColorOrder, Layout, PerChannel};
    use image::{GrayImage, Luma, Rgb, Rgba, RgbaImage};

    fn sampler() -> RandomResizedCrop {
        RandomResizedCrop::new(DEFAULT_CROP_SCALE, DEFAULT_CROP_RATIO).unwrap()
    }

    fn pre(crop: u32) -> Preprocess {
        Preprocess {
            crop: Some(Crop { h: crop, w: crop }),
            ..Preprocess::default()
        }
    }

    /// A photo-like RGB gradient, so that different crops give different pixels.
    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x * 7 + y * 13) % 256) as u8,
            ])
        })
    }

    /// Three photos of different sizes and kinds: RGB PNG, gray PNG, RGB JPEG.
    fn photos(dir: &Path) -> Vec<PathBuf> {
        let files = vec![dir.join("a.png"), dir.join("g.png"), dir.join("c.jpg")];
        gradient(64, 48).save(&files[0]).unwrap();
        GrayImage::from_fn(30, 50, |x, y| Luma([(x * 3 + y * 5) as u8]))
            .save(&files[1])
            .unwrap();
        gradient(40, 40).save(&files[2]).unwrap();
        files
    }

    fn open(files: &[PathBuf], count: usize, seed: u64, pre: &Preprocess) -> ImageCrops {
        ImageCrops::open(files, count, seed, sampler(), pre).unwrap()
    }

    #[test]
    fn deterministic_per_seed_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let files = photos(dir.path());
        let p = pre(16);
        let ds = open(&files, 10, 1, &p);
        assert_eq!((ds.len(), ds.sample_shape()), (10, &[3usize, 16, 16][..]));
        let all = read_batch(&ds, 0, 10).unwrap();
        assert_eq!(read_batch(&open(&files, 10, 1, &p), 0, 10).unwrap(), all);
        assert_ne!(read_batch(&open(&files, 10, 2, &p), 0, 10).unwrap(), all);
        // Any range, in any order, reads the same samples.
        let per = 3 * 16 * 16;
        assert_eq!(read_batch(&ds, 4, 5).unwrap(), all[4 * per..9 * per]);
        let mut one = vec![0f32; per];
        for i in (0..10).rev() {
            ds.read(i, &mut one).unwrap();
            assert_eq!(one, all[i * per..(i + 1) * per], "sample {i}");
        }
        // Same file, different crops; files cycle in the listed order.
        assert_ne!(all[..per], all[3 * per..4 * per]);
        let names: Vec<&Path> = (0..4).map(|i| ds.path(i).unwrap()).collect();
        assert_eq!(names, [&*files[0], &*files[1], &*files[2], &*files[0]]);
        assert_eq!(ds.path(10), None);
        assert_eq!(labels(&ds), None);
        assert!(all.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(
            ds.describe().contains("3 files x 10 seed 1"),
            "{}",
            ds.describe()
        );
        let e = ds.read(10, &mut one).unwrap_err().to_string();
        assert!(e.contains("sample 10"), "{e}");
    }

    #[test]
    fn rotation_labels_turn_half_the_crops_upside_down() {
        let dir = tempfile::tempdir().unwrap();
        let files = photos(dir.path());
        let p = pre(16);
        let plain = open(&files, 64, 5, &p);
        let labelled = open(&files, 64, 5, &p).with_labels(Some(CropLabels::Rotation180));
        let l = labels(&labelled).unwrap();
        let ones = l.iter().filter(|v| **v == 1).count();
        // A fair coin: 64 flips land within 16..48 except with probability < 1e-4.
        assert!((16..=48).contains(&ones), "{ones} of 64");
        // Not tied to the file (the files cycle with period 3).
        assert!((0..64).any(|i| l[i] != l[(i + 3) % 64]));
        let per = 3 * 16 * 16;
        let (a, b) = (
            read_batch(&plain, 0, 64).unwrap(),
            read_batch(&labelled, 0, 64).unwrap(),
        );
        for (i, label) in l.iter().enumerate() {
            let (x, y) = (&a[i * per..(i + 1) * per], &b[i * per..(i + 1) * per]);
            if *label == 0 {
                assert_eq!(x, y, "sample {i} is upright");
            } else {
                // Each channel plane reversed: pixel (r, c) is pixel (15 - r, 15 - c).
                for (px, py) in x.chunks(256).zip(y.chunks(256)) {
                    let rev: Vec<f32> = px.iter().rev().copied().collect();
                    assert_eq!(rev, py, "sample {i} is rotated");
                }
            }
        }
        assert!(labelled.describe().contains("rotated 180"));
    }

    #[test]
    fn every_file_is_used_and_normalized() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files = vec![d.join("red.png"), d.join("gray.png"), d.join("rgba.png")];
        RgbImage::from_pixel(50, 30, Rgb([255, 0, 0]))
            .save(&files[0])
            .unwrap();
        GrayImage::from_pixel(20, 40, Luma([51]))
            .save(&files[1])
            .unwrap();
        RgbaImage::from_pixel(9, 9, Rgba([0, 102, 255, 0]))
            .save(&files[2])
            .unwrap();
        let p = Preprocess {
            mean: Some(PerChannel(vec![0.5, 0.0, 0.0])),
            std: Some(PerChannel(vec![0.5, 1.0, 2.0])),
            ..pre(12)
        };
        let ds = open(&files, 6, 3, &p);
        let b = read_batch(&ds, 0, 6).unwrap();
        let plane = 12 * 12;
        // Constant images stay constant through any crop and resize; gray becomes 3 equal
        // channels, alpha is dropped. Per channel: (v / 255 - mean) / std.
        let want = [
            [1.0, 0.0, 0.0],
            [(0.2 - 0.5) / 0.5, 0.2, 0.1],
            [-1.0, 0.4, 0.5],
        ];
        for (i, sample) in b.chunks(3 * plane).enumerate() {
            for (c, w) in want[i % 3].iter().enumerate() {
                let ch = &sample[c * plane..(c + 1) * plane];
                assert!(
                    ch.iter().all(|v| (v - w).abs() < 1e-5),
                    "sample {i} channel {c}: {ch:?}"
                );
            }
        }
    }

    #[test]
    fn gray_photo_gives_three_channels() {
        let dir = tempfile::tempdir().unwrap();
        let files = photos(dir.path());
        let ds = open(&files[1..2], 3, 0, &pre(8));
        assert_eq!(ds.sample_shape(), [3, 8, 8]);
        let mut s = vec![0f32; 3 * 64];
        for i in 0..3 {
            ds.read(i, &mut s).unwrap();
            assert!(s[..64] == s[64..128] && s[..64] == s[128..], "sample {i}");
            assert!(
                s[..64].iter().any(|v| *v != s[0]),
                "a crop of a gradient varies"
            );
        }
        let luma = Preprocess {
            channels: Some(1),
            ..pre(8)
        };
        let l = open(&files[1..2], 3, 0, &luma);
        assert_eq!(l.sample_shape(), [1, 8, 8]);
        let mut one = vec![0f32; 64];
        l.read(2, &mut one).unwrap();
        assert_eq!(one, s[..64], "luma of gray is the gray value");
    }

    #[test]
    fn layout_and_color_order() {
        let dir = tempfile::tempdir().unwrap();
        let files = photos(dir.path());
        let nchw = open(&files, 4, 9, &pre(10));
        let nhwc_pre = Preprocess {
            layout: Layout::Nhwc,
            ..pre(10)
        };
        let nhwc = open(&files, 4, 9, &nhwc_pre);
        assert_eq!(nhwc.sample_shape(), [10, 10, 3]);
        let bgr_pre = Preprocess {
            color: Some(ColorOrder::Bgr),
            ..pre(10)
        };
        let bgr = open(&files, 4, 9, &bgr_pre);
        let (a, b, r) = (
            read_batch(&nchw, 0, 4).unwrap(),
            read_batch(&nhwc, 0, 4).unwrap(),
            read_batch(&bgr, 0, 4).unwrap(),
        );
        let plane = 100;
        for s in 0..4 {
            for p in 0..plane {
                for c in 0..3 {
                    let v = a[s * 300 + c * plane + p];
                    assert_eq!(v, b[s * 300 + p * 3 + c]);
                    assert_eq!(v, r[s * 300 + (2 - c) * plane + p]);
                }
            }
        }
        // A non-square output size.
        let wide = Preprocess {
            crop: Some(Crop { h: 4, w: 6 }),
            layout: Layout::Nhwc,
            ..Preprocess::default()
        };
        let ds = open(&files, 2, 0, &wide);
        assert_eq!(ds.sample_shape(), [4, 6, 3]);
        assert_eq!(read_batch(&ds, 0, 2).unwrap().len(), 2 * 72);
    }

    #[test]
    fn rejects_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files = photos(d);
        let err = |files: &[PathBuf], count, p: &Preprocess| {
            ImageCrops::open(files, count, 0, sampler(), p)
                .unwrap_err()
                .to_string()
        };
        let e = err(&[], 4, &pre(8));
        assert!(e.contains("image-crops: files is empty"), "{e}");
        let e = err(&files, 0, &pre(8));
        assert!(e.contains("image-crops: count must be > 0"), "{e}");
        let e = err(&files, 4, &Preprocess::default());
        assert!(e.contains("crop") && e.contains("required"), "{e}");
        let resized = Preprocess {
            resize: Some(256),
            ..pre(8)
        };
        let e = err(&files, 4, &resized);
        assert!(e.contains("key resize does not apply"), "{e}");
        let two = Preprocess {
            channels: Some(2),
            ..pre(8)
        };
        assert!(err(&files, 4, &two).contains("channels must be 1 or 3"));
        let means = Preprocess {
            mean: Some(PerChannel(vec![0.0, 0.0])),
            ..pre(8)
        };
        assert!(err(&files, 4, &means).contains("mean has 2 values"));

        let missing = d.join("missing.png");
        let e = err(&[files[0].clone(), missing], 4, &pre(8));
        assert!(
            e.contains("missing.png") && e.contains("cannot read"),
            "{e}"
        );
        let garbage = d.join("garbage.jpg");
        std::fs::write(&garbage, b"\xff\xd8\xff\xe0 garbage").unwrap();
        let e = err(&[garbage], 4, &pre(8));
        assert!(
            e.contains("garbage.jpg") && e.contains("cannot decode"),
            "{e}"
        );
        let png = std::fs::read(&files[0]).unwrap();
        let truncated = d.join("truncated.png");
        std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
        let e = err(&[files[1].clone(), truncated], 4, &pre(8));
        assert!(
            e.contains("truncated.png") && e.contains("cannot decode"),
            "{e}"
        );
        let jpeg = std::fs::read(&files[2]).unwrap();
        let cut = d.join("cut.jpg");
        std::fs::write(&cut, &jpeg[..jpeg.len() / 2]).unwrap();
        let e = err(&[cut], 4, &pre(8));
        assert!(e.contains("cut.jpg") && e.contains("cannot decode"), "{e}");
    }
}
