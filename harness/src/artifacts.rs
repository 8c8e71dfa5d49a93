//! Produces each technique's artifact: the FP32 model itself, or the quantizer's output written
//! next to the results (`<out>/artifacts/<technique>.onnx`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use qbench_core::Artifact;
use qbench_core::Format;
use qbench_onnx::Model;
use qbench_quant::overrides::{apply_overrides, Override};
use qbench_quant::prepare;

use crate::calibration::CandleCalibration;
use crate::ort_calibration::OrtCalibration;
use crate::registry;
use crate::scenario::Scenario;
use crate::timed_source::TimedSource;
use qbench_quant::recipe::ActivationSource;

/// Where a technique's quantize time went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Streaming the calibration split through the FP32 model and the observers.
    pub calibration_ms: f64,
    /// Images streamed (passes x split size).
    pub calibration_images: u64,
    /// Scoring candidate models (accuracy searches).
    pub scoring_ms: f64,
}

/// Why a technique has no artifact: its cells' status and reason.
#[derive(Clone, Debug, PartialEq)]
pub struct NotMade {
    pub status: crate::record::Status,
    pub reason: String,
}

impl std::fmt::Display for NotMade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for NotMade {}

/// A technique's artifact, or why it could not be made.
pub struct Prepared {
    pub technique: String,
    pub framework: String,
    pub artifact: Result<Artifact, NotMade>,
    /// Calibration plus rewriting, in milliseconds (quantized techniques only).
    pub quantize_ms: Option<f64>,
    /// How much of it went to calibration and scoring.
    pub timing: Option<Timing>,
    pub notes: Option<String>,
    /// Packed weight bytes of sub-8-bit techniques.
    pub packed_bytes: Option<u64>,
    /// Seconds of QAT fine-tuning behind the artifact.
    pub training_s: Option<f64>,
}

/// Prepares the selected techniques (`None` = all), the FP32 baseline first.
pub fn prepare(
    scenario: &Scenario,
    selected: Option<&[String]>,
    out: &Path,
    calibration: &mut Option<String>,
) -> Result<Vec<Prepared>> {
    let wanted = |name: &str| selected.is_none_or(|s| s.iter().any(|x| x == name));
    let fp32 = scenario.fp32_artifact()?;
    let mut list = Vec::new();
    if wanted(registry::FP32) {
        list.push(Prepared {
            technique: registry::FP32.into(),
            framework: "-".into(),
            artifact: Ok(fp32.clone()),
            quantize_ms: None,
            timing: None,
            notes: None,
            packed_bytes: None,
            training_s: None,
        });
    }
    let techniques: Vec<_> = registry::techniques()
        .into_iter()
        .filter(|t| wanted(t.name()))
        .collect();
    if techniques.is_empty() {
        return Ok(list);
    }
    let overrides: Vec<Override> = scenario
        .overrides
        .iter()
        .map(|o| o.parse())
        .collect::<std::result::Result<_, _>>()?;
    let dir = out.join("artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // ONNX Runtime's pre-processing before quantizing (constants, no-ops, batch-norm folding);
    // the FP32 row keeps the model as given. Calibration runs the pre-processed model, so the
    // ranges are those of the tensors the recipes rewrite.
    let prepared = prepare::pre_process(&Model::load(&fp32.path)?)
        .with_context(|| format!("pre-processing {}", fp32.path.display()))?;
    let model = prepared.model;
    let calib_artifact = if prepared.notes.is_empty() {
        fp32.clone()
    } else {
        let path = dir.join("fp32-prepared.onnx");
        model.save(&path)?;
        Artifact {
            path,
            ..fp32.clone()
        }
    };
    let pre_note = (!prepared.notes.is_empty())
        .then(|| format!("pre-processed: {}", prepared.notes.join(", ")));
    // One calibration source for every technique: the FP32 session is prepared once and each
    // technique streams the calibration split through it again. ONNX Runtime first (as its own
    // tool calibrates), candle when ONNX Runtime is unavailable or cannot run the model.
    let (mut source, calibrated_on) = calibration_source(scenario, &calib_artifact, &model, &dir);
    *calibration = Some(calibrated_on);
    // Global min/max ranges, computed once for the techniques that use them.
    let mut minmax = None;
    for t in techniques {
        let start = Instant::now();
        let mut timing = None;
        let made = match &mut source {
            Ok((source, per_pass)) => {
                let per_pass = *per_pass;
                let mut timed =
                    TimedSource::new(source.as_mut(), per_pass).sharing_minmax(&mut minmax);
                let q = t
                    .apply(&model, &mut timed)
                    .map_err(anyhow::Error::from)
                    .and_then(|q| with_overrides(&model, q, &overrides));
                timing = Some(Timing {
                    calibration_ms: timed.calibration.as_secs_f64() * 1e3,
                    calibration_images: timed.images,
                    scoring_ms: timed.scoring.as_secs_f64() * 1e3,
                });
                q
            }
            Err(e) => Err(anyhow::anyhow!("{e}")),
        }
        .and_then(|q| {
            let path = dir.join(format!("{}.onnx", t.name()));
            q.model.save(&path)?;
            Ok((
                Artifact {
                    technique: t.name().into(),
                    format: q.format,
                    path,
                    ..fp32.clone()
                },
                q.notes,
                q.packed_bytes,
            ))
        });
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let made = made.map_err(|e| match e.downcast::<NotMade>() {
            Ok(n) => n,
            Err(e) => NotMade {
                status: crate::record::Status::Failed,
                reason: format!("quantization failed: {e:#}"),
            },
        });
        let (artifact, notes, packed_bytes) = match made {
            Ok((a, notes, packed)) => (
                Ok(a),
                Some(
                    pre_note
                        .iter()
                        .cloned()
                        .chain(notes)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                packed,
            ),
            Err(n) => (Err(n), None, None),
        };
        list.push(Prepared {
            technique: t.name().into(),
            framework: t.framework().into(),
            artifact,
            quantize_ms: Some(ms),
            timing,
            notes,
            packed_bytes,
            training_s: None,
        });
    }
    Ok(list)
}

/// Applies the run's per-node overrides to a technique's output: QDQ artifacts are rewritten
/// (their notes list what changed); other formats cannot take them and are `unsupported`.
fn with_overrides(
    fp32: &Model,
    mut q: qbench_quant::recipe::Quantized,
    overrides: &[Override],
) -> Result<qbench_quant::recipe::Quantized> {
    if overrides.is_empty() {
        return Ok(q);
    }
    if !matches!(q.format, Format::Qdq | Format::Qdq16) {
        return Err(anyhow::Error::new(NotMade {
            status: crate::record::Status::Unsupported,
            reason: format!(
                "per-node overrides apply to QDQ artifacts; this technique writes {:?}",
                q.format
            ),
        }));
    }
    let (model, applied) = apply_overrides(fp32, &q.model, overrides)?;
    q.model = model;
    q.notes.push(format!("overrides: {}", applied.join("; ")));
    if q.packed_bytes.is_some() {
        // The packed size assumed the recipe's widths everywhere.
        q.packed_bytes = None;
        q.notes
            .push("packed size not computed: overrides change the layers' widths".into());
    }
    Ok(q)
}

/// A boxed calibration source and the samples of one pass.
pub type Source = Result<(Box<dyn ActivationSource>, usize), String>;

/// The calibration source of a run: ONNX Runtime if it is available and runs the model, else
/// candle; also says which (and why not ONNX Runtime).
pub fn calibration_source(
    scenario: &Scenario,
    artifact: &Artifact,
    model: &Model,
    dir: &Path,
) -> (Source, String) {
    let ort_reason = match qbench_core::Backend::check(&qbench_ort::OrtBackend) {
        Ok(()) => match OrtCalibration::new(artifact, model, scenario, dir) {
            Ok(c) => {
                let n = c.len();
                return (Ok((Box::new(c), n)), "ort".into());
            }
            Err(e) => format!("{e:#}"),
        },
        Err(e) => e.to_string(),
    };
    let candle = scenario
        .calib_data()
        .and_then(|data| CandleCalibration::new(artifact, data))
        .map(|c| match scenario.model.fixed_batch {
            Some(b) => c.with_fixed_batch(b),
            None => c,
        })
        .map(|c| {
            let n = c.len();
            (Box::new(c) as Box<dyn ActivationSource>, n)
        })
        .map_err(|e| format!("{e:#} (ONNX Runtime calibration: {ort_reason})"));
    (candle, format!("candle (ONNX Runtime: {ort_reason})"))
}

/// Rows for the imported models (all of them, or those in `selected`).
pub fn imported(
    list: &[(crate::imported::ImportedSpec, Artifact)],
    selected: Option<&[String]>,
) -> Vec<Prepared> {
    list.iter()
        .filter(|(spec, _)| selected.is_none_or(|s| s.contains(&spec.name)))
        .map(|(spec, artifact)| Prepared {
            technique: spec.name.clone(),
            framework: spec.framework.clone().unwrap_or_else(|| "imported".into()),
            artifact: Ok(artifact.clone()),
            quantize_ms: None,
            timing: None,
            notes: Some(format!(
                "imported from {} (format read from its graph: {})",
                artifact.path.display(),
                artifact.format.name()
            )),
            packed_bytes: None,
            training_s: None,
        })
        .collect()
}
