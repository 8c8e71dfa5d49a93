//! A sharded compare run: which cells this shard owns, which FP32 cells it measures only as
//! references, and what its results file says about the split.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};

use super::agreement::CellId;
use super::options::Options;
use crate::cli::CompareArgs;
use crate::registry;
use crate::shard::{self, cost::CostModel, PlannedTechnique, Shard, ShardInfo};

/// What a shard runs.
pub(super) struct Sharding {
    pub shard: Shard,
    pub info: ShardInfo,
    owned: HashSet<CellId>,
    references: HashSet<CellId>,
    /// Plan index of every cell.
    position: HashMap<CellId, usize>,
}

/// How a shard treats a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// One of its rows.
    Own,
    /// An FP32 cell it measures for its rows' comparison with FP32; another shard owns the row.
    Reference,
}

/// Every technique of the plan, in the order `compare` runs them, with its artifact's format.
fn planned_techniques(opts: &Options) -> Vec<PlannedTechnique> {
    let wanted = |n: &str| {
        opts.techniques
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == n))
    };
    let mut out = Vec::new();
    let mut push = |name: &str, format, scored_models| {
        if wanted(name) {
            out.push(PlannedTechnique {
                name: name.into(),
                format,
                scored_models,
            });
        }
    };
    push(registry::FP32, qbench_core::Format::Fp32, 0);
    for t in registry::techniques() {
        push(t.name(), t.format(), t.scored_models());
    }
    if crate::qat_rows::has_qat(&opts.scenario) {
        for r in qbench_qat::QatRecipe::ALL {
            push(r.name(), r.format(), 0);
        }
    }
    for (spec, artifact) in &opts.imported {
        push(&spec.name, artifact.format, 0);
    }
    out
}

/// The shard this run is (`--shard`, `--shards`, the engines' variables), or `None`.
pub(super) fn setup(opts: &Options, args: &CompareArgs, plan: &str) -> Result<Option<Sharding>> {
    let Some((shard, from)) = shard::resolve(args.shard, args.shards, |k| std::env::var(k).ok())?
    else {
        return Ok(None);
    };
    if shard.count == 1 {
        // One shard is the whole run, written as one (`--shard 1/1` also keeps a compare that
        // qbench starts itself, e.g. inside a Slurm array, from taking a shard of the engine's).
        return Ok(None);
    }
    let model = opts.scenario.resolve(&opts.scenario.model.path);
    let bytes = std::fs::metadata(&model)
        .with_context(|| format!("cannot read {}", model.display()))?
        .len();
    // Without a readable calibration split nothing is scored (quantizing then fails per technique).
    let calibration_samples = opts.scenario.calib_data().map_or(0, |d| d.len());
    let s = &opts.settings;
    let shard::Plan {
        cells,
        expected_s,
        references: mut per_shard,
    } = shard::plan(
        &planned_techniques(opts),
        &opts.backends,
        &s.batch,
        &s.threads,
        &CostModel::new(s, bytes, calibration_samples),
        shard.count,
    );
    let reference_ids = std::mem::take(&mut per_shard[shard.index - 1]);
    let owned: HashSet<CellId> = cells
        .iter()
        .filter(|c| c.shard == shard.index)
        .map(|c| c.id())
        .collect();
    let references: HashSet<CellId> = reference_ids.iter().map(|&i| cells[i].id()).collect();
    let position = cells.iter().enumerate().map(|(i, c)| (c.id(), i)).collect();
    eprintln!(
        "shard {shard} (from {from}): {} of the plan's {} cells, expected {:.0} s of {:.0} s, \
         with {} FP32 reference cell(s) measured for their comparison with FP32",
        owned.len(),
        cells.len(),
        expected_s[shard.index - 1],
        expected_s.iter().sum::<f64>(),
        references.len()
    );
    let info = ShardInfo {
        index: shard.index,
        count: shard.count,
        plan: plan.to_string(),
        references: reference_ids
            .iter()
            .map(|&i| {
                let c = &cells[i];
                format!(
                    "{} on {} (batch {}, {} threads)",
                    c.technique, c.backend, c.batch, c.threads
                )
            })
            .collect(),
        cells,
        expected_s,
    };
    Ok(Some(Sharding {
        shard,
        info,
        owned,
        references,
        position,
    }))
}

impl Sharding {
    /// What this shard does with a cell (`None`: another shard's).
    pub fn role(&self, id: &CellId) -> Option<Role> {
        if self.owned.contains(id) {
            Some(Role::Own)
        } else if self.references.contains(id) {
            Some(Role::Reference)
        } else {
            None
        }
    }

    /// The techniques whose artifacts this shard needs.
    pub fn techniques(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for c in &self.info.cells {
            let id = c.id();
            if self.role(&id).is_some() && !names.contains(&c.technique) {
                names.push(c.technique.clone());
            }
        }
        names
    }

    /// Cells this shard owns.
    pub fn owned(&self) -> usize {
        self.owned.len()
    }

    /// Cells it measures, owned or as references.
    pub fn measured(&self) -> usize {
        self.owned.len() + self.references.len()
    }

    /// The plan index of a cell (cells outside the plan last).
    pub fn position(&self, id: &CellId) -> usize {
        self.position.get(id).copied().unwrap_or(usize::MAX)
    }
}
