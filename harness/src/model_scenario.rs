//! Scenarios for a user's own model: `compare --model M.onnx` (built in memory: seeded synthetic
//! inputs, fidelity against FP32 only) and `qbench init --model M.onnx [--data DIR]` (the same
//! scenario, or one reading an image folder, written as a TOML file to edit).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::InitArgs;
use crate::model_io::{self, InputShape};
use crate::scenario::Scenario;

/// Synthetic evaluation samples of `compare --model` unless `--eval-samples` says otherwise.
pub const DEFAULT_SYNTHETIC_EVAL: usize = 256;
/// Synthetic calibration samples.
pub const DEFAULT_SYNTHETIC_CALIB: usize = 128;

fn stem(model: &Path) -> Result<String> {
    let s = model
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .filter(|s| !s.is_empty())
        .with_context(|| format!("{}: cannot name a scenario after it", model.display()))?;
    Ok(s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(v: &[usize]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The scenario text for `model` (a path as the file should state it): synthetic splits of
/// `shape` per sample, or an image folder when `data` is given.
fn scenario_text(
    name: &str,
    model: &str,
    input: &str,
    output: &str,
    shape: &[usize],
    eval: usize,
    data: Option<&str>,
) -> String {
    let mut t = format!(
        "# Scenario for {model}, written by `qbench init`: edit it, then run\n\
         # `qbench compare --scenario {name}`.\n\
         name = {}\n",
        toml_str(name)
    );
    match data {
        None => {
            t += &format!(
                "description = {}\n",
                toml_str(&format!(
                    "{model}: seeded synthetic inputs, fidelity against FP32 only (no labelled data)"
                ))
            );
        }
        Some(d) => {
            t += &format!(
                "description = {}\n",
                toml_str(&format!("{model} on the images of {d}, top-1"))
            );
        }
    }
    t += &format!(
        "\n[model]\npath = {}\ninput = {}\noutput = {}\n# One sample, without the batch dimension.\nshape = {}\n",
        toml_str(model),
        toml_str(input),
        toml_str(output),
        list(shape)
    );
    match data {
        None => {
            t += &format!(
                "\n[data]\nsource = \"synthetic: standard normal values, seeded\"\n\n\
                 [data.eval.source]\nkind = \"synthetic\"\nshape = {s}\ncount = {eval}\n\
                 distribution = \"normal\"\nmean = 0.0\nstd = 1.0\nseed = 1\n\n\
                 [data.calibration.source]\nkind = \"synthetic\"\nshape = {s}\ncount = {calib}\n\
                 distribution = \"normal\"\nmean = 0.0\nstd = 1.0\nseed = 2\n\n\
                 [metric]\n# No labels: every row is compared with the FP32 model's outputs.\nkind = \"fidelity\"\n",
                s = list(shape),
                calib = DEFAULT_SYNTHETIC_CALIB,
            );
        }
        Some(d) => {
            let (c, h, w) = match shape {
                [c, h, w] => (*c, *h, *w),
                _ => (3, 224, 224),
            };
            t += &format!(
                "\n[data]\nsource = {}\n\n\
                 # Evaluation: a seeded sample of the folder's images (one sub-folder per class).\n\
                 [data.eval.source]\nkind = \"image-folder\"\npath = {}\n\n\
                 [data.eval.split]\nsample = {eval}\nseed = 1\n\n\
                 # Calibration should be other images than the evaluation's: point it at a\n\
                 # training folder when there is one.\n\
                 [data.calibration.source]\nkind = \"image-folder\"\npath = {}\n\n\
                 [data.calibration.split]\nsample = {calib}\nseed = 2\n\n\
                 # ImageNet-style preprocessing: check what the model was trained with.\n\
                 [preprocess]\nresize = {}\ncrop = [{h}, {w}]\ncolor = \"rgb\"\nchannels = {c}\n\
                 layout = \"nchw\"\nscale = 255.0\nmean = [0.485, 0.456, 0.406]\nstd = [0.229, 0.224, 0.225]\n\n\
                 [metric]\nkind = \"top1\"\n",
                toml_str(&format!("images of {d}")),
                toml_str(d),
                toml_str(d),
                (h.max(w) * 8).div_ceil(7),
                calib = DEFAULT_SYNTHETIC_CALIB,
            );
        }
    }
    t
}

fn parse(text: &str, dir: &Path, what: &str) -> Result<Scenario> {
    let mut s: Scenario =
        toml::from_str(text).with_context(|| format!("internal: the scenario for {what}"))?;
    s.dir = dir.to_path_buf();
    s.validate()?;
    Ok(s)
}

/// The in-memory scenario of `compare --model`: synthetic splits shaped like the model's input.
pub fn from_model(
    model: &Path,
    eval_samples: Option<usize>,
    shapes: &[InputShape],
) -> Result<Scenario> {
    let name = stem(model)?;
    let dir = model.parent().unwrap_or(Path::new(".")).to_path_buf();
    let file = model
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let eval = eval_samples.unwrap_or(DEFAULT_SYNTHETIC_EVAL);
    if eval == 0 {
        bail!("--eval-samples must be at least 1");
    }
    // Resolve the model's input first: the synthetic samples take its shape.
    let mut probe = parse(
        &scenario_text(&name, &file, "", "", &[1], eval, None),
        &dir,
        &file,
    )?;
    probe.model.input = None;
    probe.model.output = None;
    probe.model.shape = None;
    model_io::resolve(&mut probe, shapes)?;
    let (input, output, shape) = (
        probe.model.input.clone().unwrap_or_default(),
        probe.model.output.clone().unwrap_or_default(),
        probe.model.shape.clone().unwrap_or_default(),
    );
    let mut s = parse(
        &scenario_text(&name, &file, &input, &output, &shape, eval, None),
        &dir,
        &file,
    )?;
    s.model.fixed_batch = probe.model.fixed_batch;
    Ok(s)
}

/// `qbench init`: writes `<scenarios>/<name>.toml` for the model; returns its path.
pub fn init(scenarios: &Path, args: &InitArgs) -> Result<PathBuf> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => stem(&args.model)?,
    };
    let path = scenarios.join(format!("{name}.toml"));
    if path.exists() && !args.force {
        bail!(
            "{} exists: choose another --name, or --force to replace it",
            path.display()
        );
    }
    let model = std::path::absolute(&args.model)
        .with_context(|| format!("cannot resolve {}", args.model.display()))?;
    let probe = from_model(&model, None, &args.input_shape)?;
    let shape = probe.model.shape.clone().unwrap_or_default();
    let data = match &args.data {
        Some(d) => {
            if !d.is_dir() {
                bail!("--data {}: not a folder", d.display());
            }
            Some(
                std::path::absolute(d)
                    .with_context(|| format!("cannot resolve {}", d.display()))?
                    .display()
                    .to_string(),
            )
        }
        None => None,
    };
    let text = scenario_text(
        &name,
        &model.display().to_string(),
        probe.model.input.as_deref().unwrap_or_default(),
        probe.model.output.as_deref().unwrap_or_default(),
        &shape,
        if data.is_some() {
            500
        } else {
            DEFAULT_SYNTHETIC_EVAL
        },
        data.as_deref(),
    );
    // What is written must load as it stands.
    parse(&text, scenarios, &path.display().to_string())?;
    std::fs::create_dir_all(scenarios)
        .with_context(|| format!("cannot create {}", scenarios.display()))?;
    crate::report::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_templates_parse() {
        let dir = Path::new(".");
        let s = parse(
            &scenario_text("m", "m.onnx", "x", "y", &[3, 8, 8], 10, None),
            dir,
            "m",
        )
        .unwrap();
        assert!(!s.has_labels());
        assert_eq!(s.model.shape, Some(vec![3, 8, 8]));
        let s = parse(
            &scenario_text(
                "m",
                "m.onnx",
                "x",
                "y",
                &[3, 224, 224],
                10,
                Some("/data/val"),
            ),
            dir,
            "m",
        )
        .unwrap();
        assert!(s.has_labels());
    }
}
