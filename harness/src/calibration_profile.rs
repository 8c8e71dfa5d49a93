//! `qbench calibration-profile`: what quantizing costs, side by side in one run. Each technique
//! quantizes the scenario's model in its own child process (so peak memory is its own), with
//! the calibration source `compare` uses (ONNX Runtime, else candle), next to a child that only
//! runs FP32 inference over the same calibration split on that runtime (batch 50). Reports
//! calibration throughput and peak memory as ratios to that FP32 run, and the rewrite time
//! (quantize time minus calibration and scoring). The child's JSON line is what
//! `scripts/quantize_time_vs_ort.py` reads to compare with ONNX Runtime's Python tool.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use qbench_core::{Batch, Session};
use qbench_onnx::Model;
use serde::{Deserialize, Serialize};
use tabled::builder::Builder;
use tabled::settings::Style;

use crate::artifacts::calibration_source;
use crate::calibration::{batches, CALIBRATION_BATCH};
use crate::child::{self, Ended};
use crate::measure::memory::peak_rss_bytes;
use crate::registry;
use crate::scenario::Scenario;
use crate::timed_source::TimedSource;
use qbench_quant::prepare;

/// Passes of FP32 inference the reference child times (after one warm-up pass).
const INFER_PASSES: usize = 3;

/// What one child measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Probe {
    pub what: String,
    /// The runtime the calibration (and the FP32 reference) ran on.
    #[serde(default)]
    pub calibrated_on: Option<String>,
    pub peak_rss_bytes: Option<u64>,
    /// Images streamed and the seconds it took (calibration passes, or FP32 inference).
    pub images: u64,
    pub seconds: f64,
    pub quantize_ms: Option<f64>,
    pub scoring_ms: Option<f64>,
}

impl Probe {
    fn images_per_s(&self) -> Option<f64> {
        (self.images > 0 && self.seconds > 0.0).then(|| self.images as f64 / self.seconds)
    }

    fn rewrite_ms(&self) -> Option<f64> {
        Some(self.quantize_ms? - self.seconds * 1e3 - self.scoring_ms.unwrap_or(0.0))
    }
}

/// Child side: `what` is `fp32-inference` or a technique name; prints one JSON line.
pub fn child(dir: &Path, scenario: &str, what: &str) -> Result<()> {
    crate::orphan_watch::exit_when_orphaned();
    let sc = Scenario::load_resolved(dir, scenario)?;
    let fp32 = sc.fp32_artifact()?;
    let work = tempfile_dir()?;
    let model = prepare::pre_process(&Model::load(&fp32.path)?)?.model;
    let artifact = qbench_core::Artifact {
        path: work.join("fp32-prepared.onnx"),
        ..fp32.clone()
    };
    model.save(&artifact.path)?;
    let probe = if what == "fp32-inference" {
        // The runtime compare's calibration would use (ONNX Runtime when it loads).
        let on_ort = qbench_core::Backend::check(&qbench_ort::OrtBackend).is_ok();
        let on = if on_ort { "ort" } else { "candle" }.to_string();
        let calib = sc.calib_data()?;
        let backend = registry::backend(if on_ort { "ort" } else { "candle" })
            .context("the calibration backend is not registered")?;
        let mut session = backend.load(
            &artifact,
            &qbench_core::LoadOptions {
                threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
                batch: CALIBRATION_BATCH,
            },
        )?;
        let run = |session: &mut Box<dyn Session>| -> Result<()> {
            for b in batches(calib.as_ref(), &fp32.input, CALIBRATION_BATCH, false) {
                let (_, x, dims) = b?;
                let batch = Batch {
                    data: &x,
                    dims: &dims,
                };
                std::hint::black_box(session.run(&batch)?);
            }
            Ok(())
        };
        run(&mut session)?;
        let start = Instant::now();
        for _ in 0..INFER_PASSES {
            run(&mut session)?;
        }
        Probe {
            what: what.into(),
            calibrated_on: Some(on),
            peak_rss_bytes: peak_rss_bytes(),
            images: (INFER_PASSES * calib.len()) as u64,
            seconds: start.elapsed().as_secs_f64(),
            quantize_ms: None,
            scoring_ms: None,
        }
    } else {
        let t = registry::techniques()
            .into_iter()
            .find(|t| t.name() == what)
            .with_context(|| format!("unknown technique {what}"))?;
        // Load the runtime before the clock starts: `compare` has it loaded already, and the
        // Python tool it is compared with imports onnxruntime before quantizing.
        let _ = qbench_core::Backend::check(&qbench_ort::OrtBackend);
        let start = Instant::now();
        let (source, on) = calibration_source(&sc, &artifact, &model, &work);
        let (mut source, n) = source.map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut timed = TimedSource::new(source.as_mut(), n);
        t.apply(&model, &mut timed)
            .with_context(|| format!("{what} failed"))?;
        let quantize_ms = start.elapsed().as_secs_f64() * 1e3;
        Probe {
            what: what.into(),
            calibrated_on: Some(on),
            peak_rss_bytes: peak_rss_bytes(),
            images: timed.images,
            seconds: timed.calibration.as_secs_f64(),
            quantize_ms: Some(quantize_ms),
            scoring_ms: Some(timed.scoring.as_secs_f64() * 1e3),
        }
    };
    let _ = std::fs::remove_dir_all(&work);
    println!("{}", serde_json::to_string(&probe)?);
    Ok(())
}

/// A private working folder for the child's prepared and augmented models.
fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("qbench-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn spawn(dir: &Path, scenario: &str, what: &str, timeout: Duration) -> Result<Probe> {
    let exe = std::env::current_exe().context("cannot find the qbench executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--scenarios").arg(dir).args([
        "calibration-profile",
        "--scenario",
        scenario,
        "--child",
        what,
    ]);
    match child::run(&mut cmd, timeout).with_context(|| format!("cannot start the {what} child"))? {
        Ended::TimedOut(t) => bail!("{what}: timed out after {:.0} s", t.as_secs_f64()),
        Ended::Exited { status, stderr, .. } if !status.success() => bail!(
            "{what}: child {}: {}",
            child::describe_exit(status),
            child::tail(&stderr, 3)
        ),
        Ended::Exited { stdout, .. } => child::result(&stdout)
            .with_context(|| format!("{what}: the child printed no result line")),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// Parent side: the FP32 reference, then one child per technique; prints the table.
pub fn run(dir: &Path, scenario: &str, techniques: &[String], timeout: Duration) -> Result<()> {
    let names: Vec<String> = if techniques.is_empty() {
        registry::techniques()
            .iter()
            .map(|t| t.name().to_string())
            .collect()
    } else {
        let known: Vec<&str> = registry::technique_names()
            .into_iter()
            .filter(|t| *t != registry::FP32)
            .collect();
        if let Some(bad) = techniques.iter().find(|t| !known.contains(&t.as_str())) {
            bail!("unknown technique '{bad}' (known: {})", known.join(", "));
        }
        techniques.to_vec()
    };
    let reference = spawn(dir, scenario, "fp32-inference", timeout)?;
    let mut b = Builder::default();
    b.push_record([
        "technique",
        "calib img/s",
        "vs fp32 inference",
        "peak RSS",
        "vs fp32 inference",
        "quantize ms",
        "calibration ms",
        "scoring ms",
        "rewrite ms",
    ]);
    let mib = |v: Option<u64>| v.map_or("-".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    b.push_record([
        format!(
            "fp32 inference ({}, batch {CALIBRATION_BATCH})",
            reference.calibrated_on.as_deref().unwrap_or("?")
        ),
        format!("{:.0}", reference.images_per_s().unwrap_or(0.0)),
        "1.00x".into(),
        mib(reference.peak_rss_bytes),
        "1.00x".into(),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
    ]);
    for name in &names {
        match spawn(dir, scenario, name, timeout) {
            Ok(p) => b.push_record([
                name.clone(),
                p.images_per_s().map_or("-".into(), |v| format!("{v:.0}")),
                ratio(p.images_per_s(), reference.images_per_s()),
                mib(p.peak_rss_bytes),
                ratio(
                    p.peak_rss_bytes.map(|v| v as f64),
                    reference.peak_rss_bytes.map(|v| v as f64),
                ),
                p.quantize_ms.map_or("-".into(), |v| format!("{v:.0}")),
                format!("{:.0}", p.seconds * 1e3),
                p.scoring_ms.map_or("-".into(), |v| format!("{v:.0}")),
                p.rewrite_ms().map_or("-".into(), |v| format!("{v:.0}")),
            ]),
            Err(e) => b.push_record([
                name.clone(),
                format!("failed: {e:#}"),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]),
        };
    }
    println!("{}", b.build().with(Style::markdown()));
    println!(
        "\ncalibration: {} split on {}, batch {CALIBRATION_BATCH}; each row is its own process",
        scenario,
        reference.calibrated_on.as_deref().unwrap_or("?")
    );
    Ok(())
}
