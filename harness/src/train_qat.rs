//! `qbench train --qat RECIPE`: fine-tunes the scenario's trained FP32 model with
//! quantization-aware training (`qbench-qat`), exports it through the quantizer and writes the
//! artifact, the checkpoint and the training log next to the FP32 model (see
//! [`crate::qat_rows`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use qbench_qat::{FinetuneConfig, QatRecipe};
use qbench_train::{ResNet, ResNetConfig};

use crate::cli::TrainArgs;
use crate::qat_rows::{files, sha256_file, CurveLine, QatLog};
use crate::report::write_atomic;
use crate::scenario::Scenario;
use crate::train_cmd::{network, training_data, Bars};

/// The scenario's trained FP32 network of shape `config`, from its unfolded weights.
fn fp32_network(scenario: &Scenario, config: ResNetConfig) -> Result<ResNet> {
    let weights = scenario.model.weights.as_ref().with_context(|| {
        format!(
            "scenario '{}' names no model.weights (the unfolded checkpoint QAT starts from)",
            scenario.name
        )
    })?;
    let path = scenario.resolve(weights);
    let tensors: HashMap<String, candle_core::Tensor> =
        candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
            .with_context(|| format!("cannot read the FP32 checkpoint {}", path.display()))?;
    ResNet::from_named(config, &tensors).with_context(|| format!("{}", path.display()))
}

/// Runs `qbench train --qat`.
pub fn run(scenarios: &Path, args: &TrainArgs, recipe: QatRecipe) -> Result<()> {
    let scenario = Scenario::load(scenarios, &args.scenario)?;
    let (spec, config) = network(&scenario)?;
    let fp32_path = scenario.resolve(&scenario.model.path);
    let fp32_sha256 = sha256_file(&fp32_path)?;
    let model = fp32_network(&scenario, config)?;
    let (_, train, test) = training_data(args, &scenario)?;
    let mut settings = recipe.settings();
    if let Some(e) = args.epochs {
        settings.epochs = e;
    }
    let cfg = FinetuneConfig {
        recipe,
        settings,
        seed: spec.seed,
        norm: scenario.scalar_normalization()?,
        flip: spec.flip,
        limit: args.limit.unwrap_or(0),
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; QAT is far faster with `cargo run --release`");
    }
    let used = if cfg.limit > 0 {
        cfg.limit.min(train.len())
    } else {
        train.len()
    };
    println!(
        "QAT {recipe} of {} from {}: {used} images, {} epoch(s) of batch {}, {:?}",
        scenario.name,
        fp32_path.display(),
        cfg.settings.epochs,
        cfg.settings.batch_size,
        cfg.settings.optimizer
    );
    let tuned = qbench_qat::finetune(model, &train, &test, &cfg, &mut Bars { bar: None })
        .with_context(|| format!("QAT fine-tuning ({recipe})"))?;
    let folded = tuned.net.model.to_onnx(test.rows, test.cols)?;
    let q = qbench_qat::export(recipe, &folded, &tuned.net.ranges())
        .with_context(|| format!("exporting the {recipe} model"))?;
    let out = files(&scenario, recipe);
    let tmp = out.onnx.with_extension("onnx.tmp");
    q.model.save(&tmp)?;
    std::fs::rename(&tmp, &out.onnx)
        .with_context(|| format!("cannot write {}", out.onnx.display()))?;
    let mut tensors: HashMap<String, candle_core::Tensor> =
        tuned.net.model.named_tensors().into_iter().collect();
    for (name, (lo, hi)) in tuned.net.ranges() {
        tensors.insert(
            format!("range.{name}"),
            candle_core::Tensor::new(&[lo, hi], &candle_core::Device::Cpu)?,
        );
    }
    let tmp = out.checkpoint.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&tensors, &tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &out.checkpoint)
        .with_context(|| format!("cannot write {}", out.checkpoint.display()))?;
    let log = QatLog {
        scenario: scenario.name.clone(),
        recipe: recipe.name().into(),
        framework: recipe.framework().into(),
        fp32_model: fp32_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        fp32_sha256,
        artifact_sha256: sha256_file(&out.onnx)?,
        format: q.format.name().into(),
        settings: format!("{:?}", cfg.settings),
        notes: q.notes.clone(),
        packed_bytes: q.packed_bytes,
        steps: tuned.steps,
        seconds: tuned.seconds,
        threads: candle_core::utils::get_num_threads(),
        cpu: crate::measure::machine::cpu_model(),
        seed: cfg.seed,
        train_images: used,
        curve: tuned
            .curve
            .iter()
            .map(|c| CurveLine {
                step: c.step,
                loss: c.loss,
                test_accuracy: c.test_accuracy,
                seconds: c.seconds,
            })
            .collect(),
    };
    write_atomic(&out.log, serde_json::to_string_pretty(&log)?.as_bytes())?;
    for c in &log.curve {
        println!(
            "step {:>5}: loss {:.4}, fake-quantized test accuracy {:.2}%",
            c.step,
            c.loss,
            c.test_accuracy * 100.0
        );
    }
    println!(
        "wrote {} ({} bytes, {}), {} and {} in {:.0}s",
        out.onnx.display(),
        std::fs::metadata(&out.onnx).map(|m| m.len()).unwrap_or(0),
        log.format,
        out.checkpoint.display(),
        out.log.display(),
        tuned.seconds
    );
    Ok(())
}
