//! Models qbench builds itself where no pretrained weights can be had here (`[model.synthetic]`):
//! torchvision's ResNet-18 layout with seeded Kaiming-normal weights and every batch norm's
//! statistics measured on the first samples of the scenario's calibration split (real images),
//! exported with batch norm unfused as `torch.onnx.export` writes it. The weights are not
//! trained, so such a scenario measures speed, size and fidelity against FP32, never accuracy.
//!
//! The model is built on first use and cached under `<cache>/models/`, keyed by a SHA-256 of the
//! recipe and of the statistics samples themselves (so a change of data rebuilds it).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scenario::Scenario;

/// Bumped whenever the generator's output for the same recipe changes (invalidates caches).
const GENERATOR_VERSION: u32 = 1;

/// A model qbench builds (`[model.synthetic]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticModel {
    /// `resnet18`: torchvision's ResNet-18 (1.8 GMAC per 224x224 image).
    pub architecture: String,
    /// Seed of the weights.
    pub seed: u64,
    /// How many samples (the first of the calibration split) set the batch-norm statistics.
    pub statistics_samples: usize,
}

/// Architectures `[model.synthetic]` can build.
pub const ARCHITECTURES: &[&str] = &["resnet18"];

/// Builds (or finds in the cache) the scenario's synthetic model and points `model.path` at it;
/// afterwards the scenario carries the file, so cells never rebuild it.
pub fn resolve(scenario: &mut Scenario) -> Result<()> {
    let Some(spec) = scenario.model.synthetic.clone() else {
        return Ok(());
    };
    let ctx = || format!("scenario '{}': [model.synthetic]", scenario.name);
    if !ARCHITECTURES.contains(&spec.architecture.as_str()) {
        bail!(
            "{}: architecture {:?} is not one qbench builds ({})",
            ctx(),
            spec.architecture,
            ARCHITECTURES.join(", ")
        );
    }
    let (Some(shape), Some(classes)) = (scenario.model.shape.clone(), scenario.model.classes)
    else {
        bail!("{}: [model] needs shape = [3, H, W] and classes", ctx());
    };
    let &[3, h, w] = shape.as_slice() else {
        bail!("{}: model.shape {shape:?} must be [3, H, W]", ctx());
    };
    if spec.statistics_samples < 2 {
        bail!("{}: statistics_samples must be at least 2", ctx());
    }
    let calib = scenario.calib_data().with_context(ctx)?;
    let n = spec.statistics_samples.min(calib.len());
    let samples = qbench_data::read_batch(calib.as_ref(), 0, n).with_context(ctx)?;
    let path = cache_path(scenario, &spec, classes, &samples)?;
    if !path.is_file() {
        eprintln!(
            "building the {} model of scenario '{}' ({classes} classes, {h}x{w}; batch-norm \
             statistics from {n} samples of {}) into {}",
            spec.architecture,
            scenario.name,
            calib.describe(),
            path.display()
        );
        build(&spec, classes, h, w, samples, &path).with_context(ctx)?;
    }
    scenario.model.path = path;
    scenario.model.synthetic = None;
    Ok(())
}

fn cache_path(
    scenario: &Scenario,
    spec: &SyntheticModel,
    classes: usize,
    samples: &[f32],
) -> Result<PathBuf> {
    let mut sha = Sha256::new();
    let recipe = serde_json::to_string(&(GENERATOR_VERSION, spec, classes, &scenario.model.shape))?;
    sha.update(recipe.as_bytes());
    for v in samples {
        sha.update(v.to_le_bytes());
    }
    let digest: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let dir = qbench_provision::cache_dir()?.join("models");
    Ok(dir.join(format!(
        "{}-{}-seed{}-{}.onnx",
        scenario.name,
        spec.architecture,
        spec.seed,
        &digest[..16]
    )))
}

fn build(
    spec: &SyntheticModel,
    classes: usize,
    h: usize,
    w: usize,
    samples: Vec<f32>,
    path: &Path,
) -> Result<()> {
    let n = samples.len() / (3 * h * w);
    let x = Tensor::from_vec(samples, (n, 3, h, w), &Device::Cpu)?;
    let mut net = qbench_train::ResNet::new(qbench_train::resnet18(classes), spec.seed)?;
    net.set_batch_norm_statistics(&x)?;
    let model = net.to_onnx_unfolded(h, w)?;
    let dir = path.parent().context("cache path has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    model
        .save(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
