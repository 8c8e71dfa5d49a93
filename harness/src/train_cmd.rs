//! `qbench train`: trains a scenario's model with candle and exports it through the IR.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use qbench_data::LabelledImages;
use qbench_train::{EpochReport, Progress, ResNetConfig, TrainConfig};
use serde::Serialize;

use crate::cli::TrainArgs;
use crate::scenario::{Scenario, TrainSpec, DEBIAN_DATA_DIR};

/// Finds the folder holding the training files: `--data`, `$QBENCH_DATA`, the Debian package.
fn data_dir(explicit: Option<&Path>, scenario: &Scenario) -> Result<PathBuf> {
    let (Some(images), Some(labels)) = (&scenario.data.train_images, &scenario.data.train_labels)
    else {
        bail!(
            "scenario '{}' names no training files (data.train_images, data.train_labels)",
            scenario.name
        );
    };
    let mut tried = Vec::new();
    let candidates = explicit
        .map(Path::to_path_buf)
        .into_iter()
        .chain(std::env::var_os("QBENCH_DATA").map(PathBuf::from))
        .chain(std::iter::once(PathBuf::from(DEBIAN_DATA_DIR)));
    for dir in candidates {
        if dir.join(images).is_file() && dir.join(labels).is_file() {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
        if explicit.is_some() && tried.len() == 1 {
            bail!(
                "--data {}: {images} and {labels} not found there",
                dir.display(),
            );
        }
    }
    bail!(
        "training data not found (looked for {} in: {}). Install it with `apt-get install dataset-fashion-mnist`, \
         or download the original Fashion-MNIST files and pass --data DIR (or set QBENCH_DATA)",
        images,
        tried.join(", ")
    )
}

/// The scenario's `[train]` section and the network it describes (one grayscale channel in,
/// `model.classes` out).
pub(crate) fn network(scenario: &Scenario) -> Result<(TrainSpec, ResNetConfig)> {
    let spec = scenario
        .train
        .clone()
        .with_context(|| format!("scenario '{}' has no [train] section", scenario.name))?;
    let classes = scenario
        .model
        .classes
        .with_context(|| format!("scenario '{}' sets no model.classes", scenario.name))?;
    let config = ResNetConfig {
        in_channels: 1,
        classes,
        widths: spec.widths.clone(),
        blocks: spec.blocks,
        first_stride: spec.first_stride,
        stem: Default::default(),
    };
    Ok((spec, config))
}

/// The training split (found as [`data_dir`] says), the folder it came from, and the test split.
pub(crate) fn training_data(
    args: &TrainArgs,
    scenario: &Scenario,
) -> Result<(PathBuf, LabelledImages, LabelledImages)> {
    let dir = data_dir(args.data.as_deref(), scenario)?;
    let (images, labels) = (
        scenario.data.train_images.clone().unwrap_or_default(),
        scenario.data.train_labels.clone().unwrap_or_default(),
    );
    let train = LabelledImages::load(&dir.join(images), &dir.join(labels))?;
    Ok((dir, train, scenario.eval_idx()?))
}

pub(crate) struct Bars {
    pub(crate) bar: Option<ProgressBar>,
}

impl Progress for Bars {
    fn start_epoch(&mut self, epoch: usize, steps: usize) {
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix:>2} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(epoch.to_string());
        self.bar = Some(bar);
    }

    fn step(&mut self, loss: f64, accuracy: f64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("loss {loss:.3} acc {:.1}%", accuracy * 100.0));
            b.inc(1);
        }
    }

    fn end_epoch(&mut self, r: &EpochReport) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        println!(
            "epoch {:>2}: loss {:.4}, train acc {:.2}%, test acc {:.2}%, {:.0}s",
            r.epoch,
            r.loss,
            r.train_accuracy * 100.0,
            r.test_accuracy * 100.0,
            r.seconds
        );
    }
}

/// What a training run records next to the model.
#[derive(Serialize)]
struct TrainLog {
    scenario: String,
    epochs: usize,
    seconds: f64,
    final_test_accuracy: f64,
    threads: usize,
    cpu: String,
    history: Vec<EpochLine>,
}

#[derive(Serialize)]
struct EpochLine {
    epoch: usize,
    loss: f64,
    train_accuracy: f64,
    test_accuracy: f64,
    seconds: f64,
}

/// Runs `qbench train`.
pub fn run(scenarios: &Path, args: &TrainArgs) -> Result<()> {
    if let Some(recipe) = args.qat {
        return crate::train_qat::run(scenarios, args, recipe);
    }
    let scenario = Scenario::load(scenarios, &args.scenario)?;
    let (spec, model) = network(&scenario)?;
    let (dir, train, test) = training_data(args, &scenario)?;
    let cfg = TrainConfig {
        model,
        epochs: args.epochs.unwrap_or(spec.epochs),
        batch_size: spec.batch_size,
        learning_rate: spec.learning_rate,
        weight_decay: spec.weight_decay,
        seed: spec.seed,
        norm: scenario.scalar_normalization()?,
        flip: spec.flip,
        limit: args.limit.unwrap_or(0),
    };
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; training is far faster with `cargo run --release`"
        );
    }
    println!(
        "training {} on {} images from {} ({} epochs, batch {}, seed {})",
        scenario.name,
        if cfg.limit > 0 {
            cfg.limit.min(train.len())
        } else {
            train.len()
        },
        dir.display(),
        cfg.epochs,
        cfg.batch_size,
        cfg.seed
    );
    let trained = qbench_train::train(&train, &test, &cfg, &mut Bars { bar: None })?;
    let model_path = args
        .output
        .clone()
        .unwrap_or_else(|| scenario.resolve(&scenario.model.path));
    let onnx = trained.model.to_onnx(test.rows, test.cols)?;
    onnx.save(&model_path)?;
    let weights = model_path.with_extension("safetensors");
    let tensors: std::collections::HashMap<String, candle_core::Tensor> =
        trained.model.named_tensors().into_iter().collect();
    let tmp = weights.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&tensors, &tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &weights)
        .with_context(|| format!("cannot write {}", weights.display()))?;
    let last = trained.epochs.last().context("no epoch was run")?;
    let log = TrainLog {
        scenario: scenario.name.clone(),
        epochs: trained.epochs.len(),
        seconds: trained.seconds,
        final_test_accuracy: last.test_accuracy,
        threads: candle_core::utils::get_num_threads(),
        cpu: crate::measure::machine::cpu_model(),
        history: trained
            .epochs
            .iter()
            .map(|e| EpochLine {
                epoch: e.epoch,
                loss: e.loss,
                train_accuracy: e.train_accuracy,
                test_accuracy: e.test_accuracy,
                seconds: e.seconds,
            })
            .collect(),
    };
    let log_path = model_path.with_extension("train.json");
    crate::report::write_atomic(&log_path, serde_json::to_string_pretty(&log)?.as_bytes())?;
    println!(
        "wrote {} ({} bytes), {} and {}: test accuracy {:.2}% after {} epochs in {:.0}s",
        model_path.display(),
        std::fs::metadata(&model_path).map(|m| m.len()).unwrap_or(0),
        weights.display(),
        log_path.display(),
        last.test_accuracy * 100.0,
        trained.epochs.len(),
        trained.seconds
    );
    Ok(())
}
