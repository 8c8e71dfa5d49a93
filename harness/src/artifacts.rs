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

/// A technique's artifact, or why it could not be made.
pub struct Prepared {
    pub technique: String,
    pub framework: String,
    pub artifact: Result<Artifact, String>,
    /// Calibration plus rewriting, in milliseconds (quantized techniques only).
    pub quantize_ms: Option<f64>,
    pub notes: Option<String>,
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
            notes: None,
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
    for t in techniques {
        let start = Instant::now();
        let made = match &mut source {
            Ok(source) => t.apply(&model, source).map_err(anyhow::Error::from),
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
            ))
        });
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let (artifact, notes) = match made {
            Ok((a, notes)) => (Ok(a), Some(notes.join("; "))),
            Err(e) => (Err(format!("quantization failed: {e:#}")), None),
        };
        list.push(Prepared {
            technique: t.name().into(),
            framework: t.framework().into(),
            artifact,
            quantize_ms: Some(ms),
            notes,
        });
    }
    Ok(list)
}
