//! The per-layer search on a recipe that misses the bound: rank its layers by sensitivity (the
//! top-1 change when only that layer's weight is quantized, as `qbench debug` measures it),
//! return the most sensitive ones to higher precision one at a time until the bound holds, then
//! try to lower each of them back.

use anyhow::Result;
use qbench_core::Format;
use qbench_onnx::Model;
use qbench_quant::debug::{activation_matching, weight_matching};
use qbench_quant::overrides::{apply_overrides, Override};

use super::decide::Candidate;
use super::probe::Target;
use crate::debug::measure::{measure, sensitivity, Context};
use crate::debug::{Entry, Kind};

/// What the search needs besides the recipe's model.
pub struct Search<'a> {
    pub ctx: Context<'a>,
    pub target: &'a Target<'a>,
    pub fp32_top1: f64,
    pub max_drop: f64,
    pub max_fallbacks: usize,
}

/// The recipe's layers, most sensitive first, each with the precision it returns to (int8 for
/// a sub-8-bit weight, float otherwise).
fn ranked_layers(s: &Search) -> Result<Vec<(String, &'static str)>> {
    let weights = weight_matching(s.ctx.fp32, s.ctx.quantized)?;
    let acts = activation_matching(s.ctx.fp32, s.ctx.quantized)?;
    let (measured, mut entries) = measure(&s.ctx, &weights, &acts)?;
    let mut notes = Vec::new();
    sensitivity(&s.ctx, &measured, &weights, &acts, &mut entries, &mut notes)?;
    let mut layers: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == Kind::Weight && e.top1_change.is_some())
        .collect();
    layers.sort_by(|a, b| {
        let k = |e: &Entry| {
            (
                e.top1_change.unwrap_or(0.0),
                e.output_sqnr_db.unwrap_or(f64::INFINITY),
            )
        };
        let (x, y) = (k(a), k(b));
        x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1))
    });
    Ok(layers
        .into_iter()
        .map(|e| {
            let w = weights.iter().find(|w| w.node == e.node && w.input == 1);
            // 4-bit mid-tread [-8, 7] or mid-rise (odd integers in [-15, 15]).
            let sub_byte = w.is_some_and(|w| w.stored_range.0 >= -15 && w.stored_range.1 <= 15);
            (e.node.clone(), if sub_byte { "int8" } else { "float" })
        })
        .collect())
}

/// Measures the recipe with `overrides` as a candidate.
fn try_overrides(
    s: &Search,
    technique: &str,
    overrides: &[String],
    step: String,
    k: usize,
) -> Result<Candidate> {
    let parsed: Vec<Override> = overrides
        .iter()
        .map(|o| o.parse())
        .collect::<std::result::Result<_, _>>()?;
    let (model, _) = apply_overrides(s.ctx.fp32, s.ctx.quantized, &parsed)?;
    let path = s.ctx.work.join(format!("{technique}.fallback-{k}.onnx"));
    let p = s.target.probe(&model, &path, s.ctx.format)?;
    Ok(Candidate {
        name: format!("{technique} + {}", overrides.join(", ")),
        technique: technique.into(),
        overrides: overrides.to_vec(),
        tuning_top1: p.top1,
        tuning_drop: p.top1 - s.fp32_top1,
        latency_ms: p.latency_ms,
        size_bytes: p.size_bytes,
        step,
    })
}

/// The candidates of the search on `technique` (in the order tried).
pub fn search(s: &Search, technique: &str) -> Result<Vec<Candidate>> {
    let layers = ranked_layers(s)?;
    let mut tried = Vec::new();
    let mut chosen: Vec<String> = Vec::new();
    for (node, precision) in layers.iter().take(s.max_fallbacks) {
        chosen.push(format!("{node}={precision}"));
        let c = try_overrides(
            s,
            technique,
            &chosen,
            format!(
                "fallback {}: {node} (sensitivity rank {})",
                chosen.len(),
                chosen.len()
            ),
            tried.len(),
        )?;
        let pass = c.passes(s.max_drop);
        tried.push(c);
        if pass {
            break;
        }
    }
    if !tried.last().is_some_and(|c| c.passes(s.max_drop)) {
        return Ok(tried);
    }
    // Lower back each layer but the last one added, keeping what still passes.
    let mut i = 0;
    while i + 1 < chosen.len() {
        let mut without = chosen.clone();
        let dropped = without.remove(i);
        let c = try_overrides(
            s,
            technique,
            &without,
            format!("lower back {dropped}"),
            tried.len(),
        )?;
        let pass = c.passes(s.max_drop);
        tried.push(c);
        if pass {
            chosen = without;
        } else {
            i += 1;
        }
    }
    Ok(tried)
}

/// The model of a candidate: the recipe's, with its overrides applied.
pub fn candidate_model(fp32: &Model, recipe: &Model, overrides: &[String]) -> Result<Model> {
    let parsed: Vec<Override> = overrides
        .iter()
        .map(|o| o.parse())
        .collect::<std::result::Result<_, _>>()?;
    Ok(apply_overrides(fp32, recipe, &parsed)?.0)
}

/// Whether a format can take per-layer overrides.
pub fn searchable(format: Format) -> bool {
    matches!(format, Format::Qdq | Format::Qdq16)
}
