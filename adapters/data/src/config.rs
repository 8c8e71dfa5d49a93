//! The `[source]` table of a scenario file, and `open`, which turns it (with the `[preprocess]`
//! and `[split]` tables) into a `Dataset`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    DataError, Dataset, Distribution, IdxSource, ImageCrops, ImageFolder, NpySource, Preprocess,
    RandomResizedCrop, Split, SplitConfig, Subset, Synthetic, DEFAULT_CROP_RATIO,
    DEFAULT_CROP_SCALE,
};

/// The distribution name of a synthetic source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistributionKind {
    #[default]
    Normal,
    Uniform,
}

/// Where samples come from (`kind = ...`); paths are relative to the scenario's directory.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceConfig {
    /// One sub-folder of PNG/JPEG images per class.
    ImageFolder {
        path: PathBuf,
        /// One folder name per line, in the model's class order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        classes_file: Option<PathBuf>,
    },
    /// `count` seeded random-resized crops (torchvision's `RandomResizedCrop`) of PNG/JPEG
    /// files, file `i % files` for sample `i`, at the `crop` size; no labels.
    ImageCrops {
        files: Vec<PathBuf>,
        count: usize,
        #[serde(default)]
        seed: u64,
        /// Area fraction range of a crop (default [0.08, 1.0]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scale: Option<[f64; 2]>,
        /// Aspect ratio (width / height) range of a crop (default [3/4, 4/3]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ratio: Option<[f64; 2]>,
        /// Labels made by transforming the crops (default: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<crate::CropLabels>,
    },
    /// `count` seeded lines of printed text: consecutive words of `text` rendered with the
    /// TrueType `font` at `size` pixels, resized to the `crop` size.
    TextLines {
        font: PathBuf,
        text: PathBuf,
        count: usize,
        #[serde(default)]
        seed: u64,
        /// Font size in pixels (default 32).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<f32>,
        /// Labels made by transforming the lines (default: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<crate::CropLabels>,
    },
    /// A `.npy` array (samples first); labels from a `.npy` or a text file.
    Npy {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<PathBuf>,
    },
    /// Array `array` of an `.npz` archive; labels from the array named `labels`.
    Npz {
        path: PathBuf,
        array: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<String>,
    },
    /// IDX (MNIST-format) images and labels, plain or gzip.
    Idx {
        images: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<PathBuf>,
    },
    /// Seeded random samples, no labels.
    Synthetic {
        shape: Vec<usize>,
        count: usize,
        #[serde(default)]
        distribution: DistributionKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mean: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        std: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        low: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        high: Option<f64>,
        #[serde(default)]
        seed: u64,
    },
}

impl SourceConfig {
    /// The `kind` string.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::ImageFolder { .. } => "image-folder",
            SourceConfig::ImageCrops { .. } => "image-crops",
            SourceConfig::TextLines { .. } => "text-lines",
            SourceConfig::Npy { .. } => "npy",
            SourceConfig::Npz { .. } => "npz",
            SourceConfig::Idx { .. } => "idx",
            SourceConfig::Synthetic { .. } => "synthetic",
        }
    }
}

fn synthetic(source: &SourceConfig) -> Result<Synthetic, DataError> {
    let SourceConfig::Synthetic {
        shape,
        count,
        distribution,
        mean,
        std,
        low,
        high,
        seed,
    } = source
    else {
        return Err(DataError::Config("not a synthetic source".into()));
    };
    let dist = match distribution {
        DistributionKind::Normal if low.is_some() || high.is_some() => {
            return Err(DataError::Config(
                "synthetic: low/high go with distribution = \"uniform\"".into(),
            ));
        }
        DistributionKind::Uniform if mean.is_some() || std.is_some() => {
            return Err(DataError::Config(
                "synthetic: mean/std go with distribution = \"normal\"".into(),
            ));
        }
        DistributionKind::Normal => Distribution::Normal {
            mean: mean.unwrap_or(0.0),
            std: std.unwrap_or(1.0),
        },
        DistributionKind::Uniform => Distribution::Uniform {
            low: low.unwrap_or(0.0),
            high: high.unwrap_or(1.0),
        },
    };
    Synthetic::new(shape.clone(), *count, dist, *seed)
}

/// Opens `source` (paths relative to `base_dir`) with preprocessing `pre`, then applies `split`.
pub fn open(
    source: &SourceConfig,
    pre: &Preprocess,
    split: Option<&SplitConfig>,
    base_dir: &Path,
) -> Result<Box<dyn Dataset>, DataError> {
    let at = |p: &Path| base_dir.join(p);
    // Validate the split before loading anything.
    let split = split
        .map(SplitConfig::split)
        .transpose()?
        .unwrap_or(Split::All);
    let ds: Box<dyn Dataset> = match source {
        SourceConfig::ImageFolder { path, classes_file } => {
            let classes = classes_file.as_deref().map(at);
            Box::new(ImageFolder::open(&at(path), classes.as_deref(), pre)?)
        }
        SourceConfig::ImageCrops {
            files,
            count,
            seed,
            scale,
            ratio,
            labels,
        } => {
            let sampler = RandomResizedCrop::new(
                scale.unwrap_or(DEFAULT_CROP_SCALE),
                ratio.unwrap_or(DEFAULT_CROP_RATIO),
            )?;
            let files: Vec<PathBuf> = files.iter().map(|f| at(f)).collect();
            Box::new(ImageCrops::open(&files, *count, *seed, sampler, pre)?.with_labels(*labels))
        }
        SourceConfig::TextLines {
            font,
            text,
            count,
            seed,
            size,
            labels,
        } => Box::new(
            crate::TextLines::open(
                &at(font),
                &at(text),
                *count,
                *seed,
                size.unwrap_or(32.0),
                pre,
            )?
            .with_labels(*labels),
        ),
        SourceConfig::Npy { path, labels } => {
            let labels = labels.as_deref().map(at);
            Box::new(NpySource::open_npy(&at(path), labels.as_deref(), pre)?)
        }
        SourceConfig::Npz {
            path,
            array,
            labels,
        } => Box::new(NpySource::open_npz(
            &at(path),
            array,
            labels.as_deref(),
            pre,
        )?),
        SourceConfig::Idx { images, labels } => {
            let labels = labels.as_deref().map(at);
            Box::new(IdxSource::open(&at(images), labels.as_deref(), pre)?)
        }
        SourceConfig::Synthetic { .. } => {
            pre.reject_image_keys("synthetic")?;
            pre.reject_normalization_keys("synthetic")?;
            Box::new(synthetic(source)?)
        }
    };
    Ok(match split {
        Split::All => ds,
        Split::First(n) => Box::new(Subset::first(ds.into(), n)?),
        Split::Range(a, b) => Box::new(Subset::range(ds.into(), a, b)?),
        Split::Sample { n, seed } => Box::new(Subset::sample(ds.into(), n, seed)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy_array::tests::{npy_bytes, write_npz};
    use crate::{labels, read_batch, write_idx_gz, Crop, Layout, PerChannel};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scenario {
        source: SourceConfig,
        #[serde(default)]
        preprocess: Preprocess,
        split: Option<SplitConfig>,
    }

    const IMAGENETTE: &str = r#"
[source]
kind = "image-folder"
path = "imagenette/val"
classes_file = "imagenette/classes.txt"
[preprocess]
resize = 256
crop = 224
color = "rgb"
layout = "nchw"
scale = 255.0
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
[split]
sample = 500
seed = 7
"#;

    fn open_str(text: &str, base: &Path) -> Result<Box<dyn Dataset>, DataError> {
        let s: Scenario = toml::from_str(text).unwrap();
        open(&s.source, &s.preprocess, s.split.as_ref(), base)
    }

    #[test]
    fn parses_and_opens_the_imagenette_example() {
        let s: Scenario = toml::from_str(IMAGENETTE).unwrap();
        assert_eq!(
            s.source,
            SourceConfig::ImageFolder {
                path: "imagenette/val".into(),
                classes_file: Some("imagenette/classes.txt".into()),
            }
        );
        let p = &s.preprocess;
        assert_eq!(
            (p.resize, p.crop, p.layout),
            (Some(256), Some(Crop { h: 224, w: 224 }), Layout::Nchw)
        );
        assert_eq!(p.color, Some(crate::ColorOrder::Rgb));
        assert_eq!(
            (p.scale, p.mean.clone()),
            (Some(255.0), Some(PerChannel(vec![0.485, 0.456, 0.406])))
        );
        assert_eq!(
            s.split.as_ref().unwrap().split().unwrap(),
            Split::Sample { n: 500, seed: 7 }
        );

        let dir = tempfile::tempdir().unwrap();
        let val = dir.path().join("imagenette/val");
        for (class, n) in [("n03000684", 2), ("n01440764", 1)] {
            std::fs::create_dir_all(val.join(class)).unwrap();
            for i in 0..n {
                image::RgbImage::new(40, 30)
                    .save(val.join(format!("{class}/{i}.JPEG")))
                    .unwrap();
            }
        }
        std::fs::write(
            dir.path().join("imagenette/classes.txt"),
            "n01440764 tench\nn02102040\nn03000684 chain saw\n",
        )
        .unwrap();
        let e = open_str(IMAGENETTE, dir.path()).err().unwrap().to_string();
        assert!(
            e.contains("sample 500 asks for more than its 3 samples"),
            "{e}"
        );
        let ds = open_str(
            &IMAGENETTE.replace("sample = 500", "sample = 2"),
            dir.path(),
        )
        .unwrap();
        assert_eq!((ds.len(), ds.sample_shape()), (2, &[3usize, 224, 224][..]));
        let all = open_str(
            &IMAGENETTE.replace("sample = 500", "sample = 3"),
            dir.path(),
        )
        .unwrap();
        assert_eq!(labels(&all), Some(vec![0, 2, 2]));
        // Black pixels: (0 - mean) / std.
        let b = read_batch(&*ds, 0, 1).unwrap();
        assert!(
            (b[0] + 0.485 / 0.229).abs() < 1e-5
                && (b[224 * 224 * 3 - 1] + 0.406 / 0.225).abs() < 1e-5
        );
    }

    const CROPS: &str = r#"
[source]
kind = "image-crops"
files = ["skimage/data/astronaut.png", "skimage/data/coffee.png"]
count = 512
seed = 1
scale = [0.25, 1.0]
ratio = [0.75, 1.3333333]
[preprocess]
crop = 224
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
scale = 255.0
"#;

    #[test]
    fn parses_and_opens_image_crops() {
        let s: Scenario = toml::from_str(CROPS).unwrap();
        assert_eq!(
            s.source,
            SourceConfig::ImageCrops {
                files: vec![
                    "skimage/data/astronaut.png".into(),
                    "skimage/data/coffee.png".into()
                ],
                count: 512,
                seed: 1,
                scale: Some([0.25, 1.0]),
                ratio: Some([0.75, 1.3333333]),
                labels: None,
            }
        );
        assert_eq!(s.source.kind(), "image-crops");
        let text = toml::to_string(&s.source).unwrap();
        assert_eq!(toml::from_str::<SourceConfig>(&text).unwrap(), s.source);

        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("skimage/data");
        std::fs::create_dir_all(&data).unwrap();
        image::RgbaImage::from_pixel(300, 200, image::Rgba([255, 255, 255, 255]))
            .save(data.join("astronaut.png"))
            .unwrap();
        image::GrayImage::new(160, 240)
            .save(data.join("coffee.png"))
            .unwrap();
        let ds = open_str(CROPS, dir.path()).unwrap();
        assert_eq!(
            (ds.len(), ds.sample_shape(), labels(&*ds)),
            (512, &[3usize, 224, 224][..], None)
        );
        // Sample 510 crops the white photo (alpha dropped), 511 the black one.
        let b = read_batch(&*ds, 510, 2).unwrap();
        let px = 224 * 224;
        let white = (1.0 - 0.485) / 0.229;
        let black = -0.406 / 0.225;
        assert!((b[0] - white).abs() < 1e-5, "{}", b[0]);
        assert!(
            (b[2 * 3 * px - 1] - black).abs() < 1e-5,
            "{}",
            b[2 * 3 * px - 1]
        );
        assert_eq!(
            b,
            read_batch(&*open_str(CROPS, dir.path()).unwrap(), 510, 2).unwrap()
        );

        // Optional keys: seed 0, torchvision's scale and ratio; a split applies as usual.
        let minimal = "[source]\nkind = \"image-crops\"\nfiles = [\"skimage/data/coffee.png\"]\n\
                       count = 3\n[preprocess]\ncrop = [4, 6]\nlayout = \"nhwc\"\n[split]\nfirst = 2\n";
        let ds = open_str(minimal, dir.path()).unwrap();
        assert_eq!((ds.len(), ds.sample_shape()), (2, &[4usize, 6, 3][..]));
        assert!(ds.describe().contains("seed 0"), "{}", ds.describe());

        let err = |t: String| open_str(&t, dir.path()).err().unwrap().to_string();
        let e = err(CROPS.replace("scale = [0.25, 1.0]", "scale = [1.0, 0.25]"));
        assert!(e.contains("image-crops: scale"), "{e}");
        let e = err(CROPS.replace("scale = [0.25, 1.0]", "scale = [0.5, 2.0]"));
        assert!(e.contains("image-crops: scale"), "{e}");
        let e = err(CROPS.replace("ratio = [0.75, 1.3333333]", "ratio = [0, 1]"));
        assert!(e.contains("image-crops: ratio"), "{e}");
        let e = err(CROPS.replace("crop = 224\n", ""));
        assert!(e.contains("crop") && e.contains("required"), "{e}");
        let e = err(CROPS.replace("crop = 224", "crop = 224\nresize = 256"));
        assert!(e.contains("resize does not apply to image crops"), "{e}");
        let e = err(CROPS.replace("count = 512", "count = 0"));
        assert!(e.contains("count must be > 0"), "{e}");
        let e = err(CROPS.replace("coffee.png", "tea.png"));
        assert!(e.contains("skimage/data/tea.png"), "{e}");
        let e = err(CROPS.replace(
            "files = [\"skimage/data/astronaut.png\", \"skimage/data/coffee.png\"]",
            "files = []",
        ));
        assert!(e.contains("files is empty"), "{e}");
        for bad in [
            CROPS.replace("seed = 1", "path = \"x\""),
            CROPS.replace("scale = [0.25, 1.0]", "scale = [0.25, 0.5, 1.0]"),
            CROPS.replace("count = 512\n", ""),
        ] {
            assert!(toml::from_str::<Scenario>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn opens_npz_npy_idx_and_synthetic() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_npz(
            &d.join("data.npz"),
            &[
                (
                    "x",
                    npy_bytes(&[4, 2], &[0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], false),
                ),
                ("y", npy_bytes(&[4], &[3i64, 2, 1, 0], false)),
            ],
        );
        let ds = open_str(
            "[source]\nkind = \"npz\"\npath = \"data.npz\"\narray = \"x\"\nlabels = \"y\"\n\
             [preprocess]\nmean = 1.0\nstd = 2.0\n[split]\nrange = [1, 3]\n",
            d,
        )
        .unwrap();
        assert_eq!(read_batch(&*ds, 0, 2).unwrap(), [0.5, 1.0, 1.5, 2.0]);
        assert_eq!(labels(&*ds), Some(vec![2, 1]));

        std::fs::write(d.join("x.npy"), npy_bytes(&[3, 1], &[10u8, 20, 30], false)).unwrap();
        std::fs::write(d.join("y.txt"), "0\n1\n1\n").unwrap();
        let ds = open_str(
            "[source]\nkind = \"npy\"\npath = \"x.npy\"\nlabels = \"y.txt\"\n[split]\nfirst = 2\n",
            d,
        )
        .unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(labels(&*ds), Some(vec![0, 1]));

        write_idx_gz(d.join("i.gz"), &[2, 2, 2], &[0, 51, 102, 255, 0, 0, 0, 0]).unwrap();
        write_idx_gz(d.join("l.gz"), &[2], &[7, 8]).unwrap();
        let ds = open_str(
            "[source]\nkind = \"idx\"\nimages = \"i.gz\"\nlabels = \"l.gz\"\n",
            d,
        )
        .unwrap();
        assert_eq!(read_batch(&*ds, 0, 1).unwrap(), [0.0, 0.2, 0.4, 1.0]);
        assert_eq!(labels(&*ds), Some(vec![7, 8]));

        let syn = "[source]\nkind = \"synthetic\"\nshape = [3, 4]\ndistribution = \"uniform\"\n\
                   low = 2.0\nhigh = 3.0\ncount = 5\nseed = 9\n";
        let ds = open_str(syn, d).unwrap();
        assert_eq!(
            (ds.len(), ds.sample_shape(), labels(&*ds)),
            (5, &[3usize, 4][..], None)
        );
        assert!(read_batch(&*ds, 0, 5)
            .unwrap()
            .iter()
            .all(|v| (2.0..3.0).contains(v)));
        let normal = "[source]\nkind = \"synthetic\"\nshape = [2]\nmean = 1\nstd = 0\ncount = 1\n";
        assert_eq!(
            read_batch(&*open_str(normal, d).unwrap(), 0, 1).unwrap(),
            [1.0, 1.0]
        );
    }

    #[test]
    fn rejects_bad_configuration() {
        let d = Path::new("/nonexistent-base");
        for bad in [
            "[source]\nkind = \"npy\"\npath = \"x.npy\"\nextra = 1\n",
            "[source]\nkind = \"folder\"\npath = \"x\"\n",
            "[source]\nkind = \"npz\"\npath = \"x.npz\"\n",
        ] {
            assert!(toml::from_str::<Scenario>(bad).is_err(), "{bad}");
        }
        let err = |t: &str| open_str(t, d).err().unwrap().to_string();
        let e = err("[source]\nkind = \"idx\"\nimages = \"i.gz\"\n");
        assert!(e.contains("/nonexistent-base/i.gz"), "{e}");
        let e = err("[source]\nkind = \"synthetic\"\nshape = [2]\nlow = 0\ncount = 1\n");
        assert!(e.contains("uniform"), "{e}");
        let e =
            err("[source]\nkind = \"synthetic\"\nshape = [2]\ncount = 1\n[preprocess]\nstd = 2\n");
        assert!(e.contains("not preprocessed"), "{e}");
        let e = err("[source]\nkind = \"npy\"\npath = \"x.npy\"\n[preprocess]\ncrop = 3\n");
        assert!(e.contains("image-folder"), "{e}");
    }

    #[test]
    fn config_round_trips_through_toml() {
        let s = SourceConfig::Synthetic {
            shape: vec![1, 2],
            count: 3,
            distribution: DistributionKind::Uniform,
            mean: None,
            std: None,
            low: Some(-1.0),
            high: Some(1.0),
            seed: 4,
        };
        let text = toml::to_string(&s).unwrap();
        assert!(text.contains("kind = \"synthetic\""), "{text}");
        assert_eq!(toml::from_str::<SourceConfig>(&text).unwrap(), s);
        assert_eq!(s.kind(), "synthetic");
        let split = SplitConfig {
            range: Some([1, 2]),
            ..Default::default()
        };
        assert_eq!(
            toml::from_str::<SplitConfig>(&toml::to_string(&split).unwrap()).unwrap(),
            split
        );
    }
}
