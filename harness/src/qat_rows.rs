//! The QAT rows of a scenario qbench trains itself: `qbench train --qat RECIPE` writes the
//! fine-tuned model's artifact, checkpoint and training log next to the FP32 model
//! (`<stem>.<recipe>.onnx`, `.safetensors`, `.train.json`); `compare` never trains, it measures
//! those files. A missing artifact makes the row's cells `unsupported` with the command that
//! makes it; an artifact fine-tuned from another FP32 model (the log records the FP32 file's
//! SHA-256) is refused the same way, never measured silently.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use qbench_qat::QatRecipe;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifacts::{NotMade, Prepared};
use crate::record::Status;
use crate::scenario::Scenario;

/// The files of one QAT recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct QatFiles {
    pub onnx: PathBuf,
    pub checkpoint: PathBuf,
    pub log: PathBuf,
}

/// Where `recipe`'s files of a scenario live: next to the FP32 model.
pub fn files(scenario: &Scenario, recipe: QatRecipe) -> QatFiles {
    let model = scenario.resolve(&scenario.model.path);
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let at = |ext: &str| model.with_file_name(format!("{stem}.{}.{ext}", recipe.name()));
    QatFiles {
        onnx: at("onnx"),
        checkpoint: at("safetensors"),
        log: at("train.json"),
    }
}

/// SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// One point of the training curve, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveLine {
    pub step: usize,
    pub loss: f64,
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// The training log of a QAT recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QatLog {
    pub scenario: String,
    pub recipe: String,
    pub framework: String,
    /// The FP32 model fine-tuned from, and its SHA-256 when training started.
    pub fp32_model: String,
    pub fp32_sha256: String,
    /// SHA-256 of the exported artifact.
    pub artifact_sha256: String,
    pub format: String,
    /// The recipe's settings, as the code states them.
    pub settings: String,
    pub notes: Vec<String>,
    pub packed_bytes: Option<u64>,
    pub steps: usize,
    pub seconds: f64,
    pub threads: usize,
    pub cpu: String,
    pub seed: u64,
    pub train_images: usize,
    /// Top-1 of the fake-quantized model on the test set at each quarter of the run.
    pub curve: Vec<CurveLine>,
}

impl QatLog {
    /// Reads a log, naming the file when it is missing or malformed.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a QAT training log", path.display()))
    }
}

fn command(scenario: &Scenario, recipe: QatRecipe) -> String {
    format!(
        "run `qbench train --scenario {} --qat {}`",
        scenario.name,
        recipe.name()
    )
}

/// The artifact of `recipe`, or why its cells cannot run; `fp32` is the FP32 artifact and its
/// file's SHA-256.
fn artifact(
    scenario: &Scenario,
    recipe: QatRecipe,
    fp32: &Result<(qbench_core::Artifact, String), String>,
) -> Result<(qbench_core::Artifact, QatLog), NotMade> {
    let f = files(scenario, recipe);
    let unsupported = |reason: String| NotMade {
        status: Status::Unsupported,
        reason,
    };
    if !f.onnx.is_file() || !f.log.is_file() {
        return Err(unsupported(format!(
            "not trained: {} is missing; {}",
            if f.onnx.is_file() { &f.log } else { &f.onnx }.display(),
            command(scenario, recipe)
        )));
    }
    let failed = |e: anyhow::Error| NotMade {
        status: Status::Failed,
        reason: format!("{e:#}"),
    };
    let log = QatLog::load(&f.log).map_err(failed)?;
    let (fp32, now) = fp32.as_ref().map_err(|e| NotMade {
        status: Status::Failed,
        reason: e.clone(),
    })?;
    if &log.fp32_sha256 != now {
        return Err(unsupported(format!(
            "stale: fine-tuned from another FP32 model (SHA-256 {}..., {} is now {}...); {}",
            &log.fp32_sha256[..12.min(log.fp32_sha256.len())],
            fp32.path.display(),
            &now[..12],
            command(scenario, recipe)
        )));
    }
    let got = sha256_file(&f.onnx).map_err(failed)?;
    if got != log.artifact_sha256 {
        return Err(unsupported(format!(
            "{} is not the file its training log describes (SHA-256 {}..., logged {}...); {}",
            f.onnx.display(),
            &got[..12],
            &log.artifact_sha256[..12.min(log.artifact_sha256.len())],
            command(scenario, recipe)
        )));
    }
    let model = qbench_onnx::Model::load(&f.onnx)
        .with_context(|| format!("cannot read {}", f.onnx.display()))
        .map_err(failed)?;
    Ok((
        qbench_core::Artifact {
            technique: recipe.name().into(),
            format: crate::imported::detect_format(&model),
            path: f.onnx,
            ..fp32.clone()
        },
        log,
    ))
}

/// Whether a scenario has QAT rows: qbench trains its model (a `[train]` section).
pub fn has_qat(scenario: &Scenario) -> bool {
    scenario.train.is_some()
}

/// The technique names of the QAT rows.
pub fn names(scenario: &Scenario) -> Vec<&'static str> {
    if has_qat(scenario) {
        QatRecipe::ALL.iter().map(|r| r.name()).collect()
    } else {
        Vec::new()
    }
}

/// The QAT rows of a run (all, or those in `selected`).
pub fn prepare(scenario: &Scenario, selected: Option<&[String]>) -> Vec<Prepared> {
    if !has_qat(scenario) {
        return Vec::new();
    }
    // The FP32 model's SHA-256, read once for every recipe.
    let fp32 = scenario
        .fp32_artifact()
        .and_then(|a| Ok((sha256_file(&a.path)?, a)))
        .map(|(sha, a)| (a, sha))
        .map_err(|e| format!("{e:#}"));
    QatRecipe::ALL
        .into_iter()
        .filter(|r| selected.is_none_or(|s| s.iter().any(|x| x == r.name())))
        .map(|recipe| {
            let made = artifact(scenario, recipe, &fp32);
            let (notes, training_s, packed) = match &made {
                Ok((_, log)) => (
                    Some(
                        std::iter::once(format!(
                            "fine-tuned by `qbench train --qat {}`: {} steps, {:.0} s on {} ({} threads)",
                            recipe.name(),
                            log.steps,
                            log.seconds,
                            log.cpu,
                            log.threads
                        ))
                        .chain(log.notes.iter().cloned())
                        .collect::<Vec<_>>()
                        .join("; "),
                    ),
                    Some(log.seconds),
                    log.packed_bytes,
                ),
                Err(_) => (None, None, None),
            };
            Prepared {
                technique: recipe.name().into(),
                framework: recipe.framework().into(),
                artifact: made.map(|(a, _)| a),
                quantize_ms: None,
                timing: None,
                notes,
                packed_bytes: packed,
                training_s,
            }
        })
        .collect()
}
