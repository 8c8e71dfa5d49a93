//! Produces each technique's artifact: the FP32 model itself, or the quantizer's output written
//! next to the results (`<out>/artifacts/<technique>.onnx`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use qbench_core::Artifact;
use qbench_onnx::Model;

use crate::calibration::CandleCalibration;
use crate::registry;
use crate::scenario::Scenario;
use crate::timed_source::TimedSource;

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

/// A technique's artifact, or why it could not be made.
pub struct Prepared {
    pub technique: String,
    pub framework: String,
    pub artifact: Result<Artifact, String>,
    /// Calibration plus rewriting, in milliseconds (quantized techniques only).
    pub quantize_ms: Option<f64>,
    /// How much of it went to calibration and scoring.
    pub timing: Option<Timing>,
    pub notes: Option<String>,
    /// Packed weight bytes of sub-8-bit techniques.
    pub packed_bytes: Option<u64>,
}

/// Prepares the selected techniques (`None` = all), the FP32 baseline first.
pub fn prepare(
    scenario: &Scenario,
    selected: Option<&[String]>,
    out: &Path,
) -> Result<Vec<Prepared>> {
    let wanted = |name: &str| selected.is_none_or(|s| s.iter().any(|x| x == name));
    let fp32 = scenario.fp32_artifact();
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
        });
    }
    let techniques: Vec<_> = registry::techniques()
        .into_iter()
        .filter(|t| wanted(t.name()))
        .collect();
    if techniques.is_empty() {
        return Ok(list);
    }
    let model = Model::load(&fp32.path)?;
    // One calibration source for every technique: the FP32 session is prepared once and each
    // technique streams the calibration split through it again.
    let mut source = CandleCalibration::new(&fp32, scenario.calib_set()?, scenario.normalization())
        .map_err(|e| format!("{e:#}"));
    let dir = out.join("artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Global min/max ranges, computed once for the techniques that use them.
    let mut minmax = None;
    for t in techniques {
        let start = Instant::now();
        let mut timing = None;
        let made = match &mut source {
            Ok(source) => {
                let per_pass = source.len();
                let mut timed = TimedSource::new(source, per_pass).sharing_minmax(&mut minmax);
                let q = t.apply(&model, &mut timed).map_err(anyhow::Error::from);
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
        let (artifact, notes, packed_bytes) = match made {
            Ok((a, notes, packed)) => (Ok(a), Some(notes.join("; ")), packed),
            Err(e) => (Err(format!("quantization failed: {e:#}")), None, None),
        };
        list.push(Prepared {
            technique: t.name().into(),
            framework: t.framework().into(),
            artifact,
            quantize_ms: Some(ms),
            timing,
            notes,
            packed_bytes,
        });
    }
    Ok(list)
}
