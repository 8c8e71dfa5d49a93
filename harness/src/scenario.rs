//! Scenario files (`scenarios/<name>.toml`): model, data, splits, preprocessing, metric, training.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use qbench_core::{Artifact, Format, InputSpec};
use qbench_data::{LabelledImages, Normalization};
use serde::Deserialize;

/// Where the original Debian package puts Fashion-MNIST.
pub const DEBIAN_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A parsed scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub model: ModelSpec,
    pub data: DataSpec,
    pub preprocess: Preprocess,
    pub metric: Metric,
    pub train: Option<TrainSpec>,
    /// Regression-gate thresholds for `qbench check` (defaults when absent).
    #[serde(default)]
    pub check: Option<crate::check::Thresholds>,
    /// Directory the scenario's relative paths are resolved against.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub path: PathBuf,
    pub weights: Option<PathBuf>,
    pub input: String,
    pub output: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub source: String,
    pub eval_images: PathBuf,
    pub eval_labels: PathBuf,
    pub calib_images: PathBuf,
    pub calib_labels: PathBuf,
    /// File names of the full training split, looked up by `qbench train`.
    pub train_images: String,
    pub train_labels: String,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    pub mean: f32,
    pub std: f32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub kind: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub widths: Vec<usize>,
    pub blocks: usize,
    pub first_stride: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
    pub flip: bool,
}

/// The folder holding the scenario files: `--scenarios DIR`, else `$QBENCH_SCENARIOS`, else
/// `./scenarios`, else the one in the source tree qbench was built from.
pub fn scenarios_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("QBENCH_SCENARIOS") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

/// Names of the scenarios in a folder, with their descriptions.
pub fn list(dir: &Path) -> Result<Vec<(String, String)>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list scenarios in {}", dir.display()))?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let s = Scenario::load_file(&p)?;
            out.push((s.name, s.description));
        }
    }
    out.sort();
    Ok(out)
}

impl Scenario {
    /// Loads `<dir>/<name>.toml`; an unknown name lists the known ones.
    pub fn load(dir: &Path, name: &str) -> Result<Scenario> {
        let path = dir.join(format!("{name}.toml"));
        if !path.is_file() {
            let known = list(dir)
                .map(|l| l.into_iter().map(|(n, _)| n).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            bail!(
                "unknown scenario '{name}': no {} (known scenarios: {known})",
                path.display()
            );
        }
        Scenario::load_file(&path)
    }

    fn load_file(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut s: Scenario = toml::from_str(&text)
            .with_context(|| format!("invalid scenario file {}", path.display()))?;
        s.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if s.metric.kind != "top1" {
            bail!(
                "{}: metric '{}' is not supported (only top1)",
                path.display(),
                s.metric.kind
            );
        }
        if s.preprocess.std.is_nan() || s.preprocess.std <= 0.0 {
            bail!("{}: preprocess.std must be positive", path.display());
        }
        Ok(s)
    }

    /// A path from the scenario file, resolved against its folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.dir.join(p)
    }

    /// The preprocessing applied to every image.
    pub fn normalization(&self) -> Normalization {
        Normalization {
            mean: self.preprocess.mean,
            std: self.preprocess.std,
        }
    }

    /// The evaluation split.
    pub fn eval_set(&self) -> Result<LabelledImages> {
        self.load_pair(&self.data.eval_images, &self.data.eval_labels)
    }

    /// The calibration split (never evaluation data).
    pub fn calib_set(&self) -> Result<LabelledImages> {
        self.load_pair(&self.data.calib_images, &self.data.calib_labels)
    }

    fn load_pair(&self, images: &Path, labels: &Path) -> Result<LabelledImages> {
        let set = LabelledImages::load(&self.resolve(images), &self.resolve(labels))?;
        if set.rows != self.model.height || set.cols != self.model.width {
            bail!(
                "{}: images are {}x{} but scenario '{}' expects {}x{}",
                self.resolve(images).display(),
                set.rows,
                set.cols,
                self.name,
                self.model.height,
                self.model.width
            );
        }
        if let Some(l) = set
            .labels
            .iter()
            .find(|l| **l as usize >= self.model.classes)
        {
            bail!(
                "{}: label {l} is out of range for {} classes",
                self.resolve(labels).display(),
                self.model.classes
            );
        }
        Ok(set)
    }

    /// The FP32 model as an artifact.
    pub fn fp32_artifact(&self) -> Artifact {
        Artifact {
            technique: "fp32".into(),
            format: Format::Fp32,
            path: self.resolve(&self.model.path),
            input: InputSpec {
                name: self.model.input.clone(),
                channels: self.model.channels,
                height: self.model.height,
                width: self.model.width,
            },
            output: self.model.output.clone(),
        }
    }
}
