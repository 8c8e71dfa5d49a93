//! `compare --shard K/N`: one of N disjoint parts of a run's cells, to run on an engine teams
//! already have (a CI matrix, a Kubernetes Indexed Job, a Slurm array) and merge afterwards
//! with `qbench merge`.
//!
//! The split depends on the plan only (the cells, their formats, the settings and the model's
//! size: see [`cost`]), never on the machine, so every shard computes the same one. A shard
//! quantizes only the techniques its cells need, and measures the FP32 cells its cells are
//! compared with as references when another shard owns them, so that every row's accuracy
//! change, agreement and fidelity are those of the unsharded run.

pub mod cost;
pub mod split;

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};
use qbench_core::Format;
use serde::{Deserialize, Serialize};

use crate::registry::FP32;

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard {s:?}: expected K/N with 1 <= K <= N, e.g. 2/3");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The stem of this shard's results files: `<stem>.shard-K-of-N`.
    pub fn stem(&self, stem: &str) -> String {
        format!("{stem}.shard-{}-of-{}", self.index, self.count)
    }
}

/// The shard to run: `--shard K/N`; else `--shards N` with the index from a Kubernetes Indexed
/// Job (`JOB_COMPLETION_INDEX`, 0-based) or a Slurm array (`SLURM_ARRAY_TASK_ID` minus
/// `SLURM_ARRAY_TASK_MIN`); else, inside a Slurm array, both from Slurm
/// (`SLURM_ARRAY_TASK_COUNT`). Returns the shard and where it came from.
pub fn resolve(
    shard: Option<Shard>,
    shards: Option<usize>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<(Shard, String)>> {
    if let Some(s) = shard {
        return Ok(Some((s, format!("--shard {s}"))));
    }
    let number = |name: &str| -> Result<Option<usize>> {
        match env(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => bail!("{name}={v:?} is not a whole number"),
            },
        }
    };
    let slurm = || -> Result<Option<(usize, String)>> {
        let Some(id) = number("SLURM_ARRAY_TASK_ID")? else {
            return Ok(None);
        };
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        if id < min {
            bail!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}");
        }
        Ok(Some((
            id - min,
            format!("SLURM_ARRAY_TASK_ID={id} (SLURM_ARRAY_TASK_MIN={min})"),
        )))
    };
    let (zero_based, from, count) = match shards {
        Some(count) => {
            if count == 0 {
                bail!("--shards must be at least 1");
            }
            let found = match number("JOB_COMPLETION_INDEX")? {
                Some(i) => Some((i, format!("JOB_COMPLETION_INDEX={i}"))),
                None => slurm()?,
            };
            let Some((i, from)) = found else {
                bail!(
                    "--shards {count} takes the shard index from JOB_COMPLETION_INDEX (a \
                     Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (a Slurm array), and \
                     neither is set: give --shard K/{count} instead"
                );
            };
            (i, from, count)
        }
        None => {
            let Some(count) = number("SLURM_ARRAY_TASK_COUNT")? else {
                return Ok(None);
            };
            let Some((i, from)) = slurm()? else {
                return Ok(None);
            };
            (i, format!("{from}, SLURM_ARRAY_TASK_COUNT={count}"), count)
        }
    };
    if zero_based >= count {
        bail!(
            "{from} is shard {} but there are only {count} shards (array indices must run from 0, \
             or from SLURM_ARRAY_TASK_MIN, without gaps)",
            zero_based + 1
        );
    }
    Ok(Some((
        Shard {
            index: zero_based + 1,
            count,
        },
        from,
    )))
}

/// One cell of the plan and the shard (1-based) that runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedCell {
    pub technique: String,
    pub backend: String,
    pub batch: usize,
    pub threads: usize,
    pub shard: usize,
    /// Expected seconds (see [`cost`]).
    pub expected_s: f64,
}

impl PlannedCell {
    /// technique x backend x batch x threads.
    pub fn id(&self) -> crate::record::CellId {
        (
            self.technique.clone(),
            self.backend.clone(),
            self.batch,
            self.threads,
        )
    }
}

/// What a shard's results file says about the shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// 1-based.
    pub index: usize,
    pub count: usize,
    /// The plan's hash (the run's `plan`): shards of one plan share it.
    pub plan: String,
    /// Every cell of the plan with its shard, in plan order.
    pub cells: Vec<PlannedCell>,
    /// The FP32 cells this shard measured as references only (another shard owns their rows).
    #[serde(default)]
    pub references: Vec<String>,
    /// Each shard's expected seconds, its references included.
    pub expected_s: Vec<f64>,
}

/// A technique of the plan, the format its artifact will have, and the candidate models it
/// scores while quantizing.
pub struct PlannedTechnique {
    pub name: String,
    pub format: Format,
    pub scored_models: usize,
}

/// A plan split into shards.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Every cell, in the order `compare` runs them, with its shard.
    pub cells: Vec<PlannedCell>,
    /// Each shard's expected seconds, its references and quantizing included.
    pub expected_s: Vec<f64>,
    /// Per shard (0-based), the plan indices of the FP32 cells it measures as references.
    pub references: Vec<Vec<usize>>,
}

/// The cells of a plan (technique-major, then backend, batch, threads: the order `compare` runs
/// them in) and their split into `count` shards.
pub fn plan(
    techniques: &[PlannedTechnique],
    backends: &[String],
    batches: &[usize],
    threads: &[usize],
    model: &cost::CostModel,
    count: usize,
) -> Plan {
    let mut cells = Vec::new();
    let mut jobs = Vec::new();
    let mut reference_cost = Vec::new();
    let quantize_cost: Vec<f64> = techniques
        .iter()
        .map(|t| model.quantize_seconds(t.scored_models))
        .collect();
    // Plan index of FP32 on (backend, batch, threads).
    let fp32_at = |b: usize, batch_i: usize, thread_i: usize| -> Option<usize> {
        let per_technique = backends.len() * batches.len() * threads.len();
        techniques
            .iter()
            .position(|t| t.name == FP32)
            .map(|t| t * per_technique + (b * batches.len() + batch_i) * threads.len() + thread_i)
    };
    for (technique, t) in techniques.iter().enumerate() {
        for (bi, b) in backends.iter().enumerate() {
            for (ni, &batch) in batches.iter().enumerate() {
                for (ti, &th) in threads.iter().enumerate() {
                    let needs = if t.name == FP32 {
                        // FP32 rows are compared with the first backend's FP32.
                        fp32_at(0, ni, ti).into_iter().collect()
                    } else {
                        fp32_at(bi, ni, ti).into_iter().collect()
                    };
                    let cost = model.cell_seconds(b, t.format, batch);
                    jobs.push(split::Job {
                        cost,
                        needs,
                        technique,
                    });
                    reference_cost.push(model.reference_seconds(b, batch));
                    cells.push(PlannedCell {
                        technique: t.name.clone(),
                        backend: b.clone(),
                        batch,
                        threads: th,
                        shard: 0,
                        expected_s: cost,
                    });
                }
            }
        }
    }
    let s = split::split(&jobs, &reference_cost, &quantize_cost, count);
    for (c, k) in cells.iter_mut().zip(&s.shard_of) {
        c.shard = k + 1;
    }
    let references = (0..s.cost.len())
        .map(|k| {
            split::references(&jobs, &s.shard_of, k)
                .into_iter()
                .collect()
        })
        .collect();
    Plan {
        cells,
        expected_s: s.cost,
        references,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shard_syntax_and_its_errors() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains("expected K/N"), "{bad}: {e}");
        }
        assert_eq!(
            Shard { index: 2, count: 3 }.stem("quick"),
            "quick.shard-2-of-3"
        );
    }

    #[test]
    fn the_index_comes_from_the_engines_variables() {
        let none = env(&[]);
        assert_eq!(resolve(None, None, &none).unwrap(), None);
        let k8s = env(&[("JOB_COMPLETION_INDEX", "0")]);
        let (s, from) = resolve(None, Some(3), &k8s).unwrap().unwrap();
        assert_eq!((s.index, s.count), (1, 3));
        assert!(from.contains("JOB_COMPLETION_INDEX=0"));
        // An explicit --shard wins.
        let (s, _) = resolve(Some("3/3".parse().unwrap()), Some(3), &k8s)
            .unwrap()
            .unwrap();
        assert_eq!(s.index, 3);
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ]);
        let (s, from) = resolve(None, None, &slurm).unwrap().unwrap();
        assert_eq!((s.index, s.count), (2, 2));
        assert!(from.contains("SLURM_ARRAY_TASK_COUNT=2"), "{from}");
        // Without a count, a Slurm task id alone does not shard.
        let id_only = env(&[("SLURM_ARRAY_TASK_ID", "1")]);
        assert_eq!(resolve(None, None, &id_only).unwrap(), None);
        let e = resolve(None, Some(2), &none).unwrap_err().to_string();
        assert!(e.contains("neither is set"), "{e}");
        let big = env(&[("JOB_COMPLETION_INDEX", "3")]);
        let e = resolve(None, Some(3), &big).unwrap_err().to_string();
        assert!(e.contains("only 3 shards"), "{e}");
        let junk = env(&[("JOB_COMPLETION_INDEX", "x")]);
        assert!(resolve(None, Some(3), &junk).is_err());
    }

    fn model() -> cost::CostModel {
        cost::CostModel {
            image_s: 4e-5,
            eval_samples: 1000,
            calibration_samples: 1000,
            rounds: 2,
            latency: crate::measure::latency::IterationRule::QUICK,
            throughput: crate::measure::latency::IterationRule::THROUGHPUT_QUICK,
        }
    }

    fn techniques() -> Vec<PlannedTechnique> {
        let mut t = vec![PlannedTechnique {
            name: FP32.into(),
            format: Format::Fp32,
            scored_models: 0,
        }];
        for (i, f) in [
            Format::Qdq,
            Format::QOperator,
            Format::Dynamic,
            Format::Qdq16,
        ]
        .iter()
        .cycle()
        .take(24)
        .enumerate()
        {
            t.push(PlannedTechnique {
                name: format!("t{i}"),
                format: *f,
                scored_models: if i == 7 { 14 } else { 0 },
            });
        }
        t
    }

    #[test]
    fn a_plan_splits_the_same_way_every_time_into_balanced_shards() {
        let backends: Vec<String> = ["ort", "tract", "candle"].map(String::from).into();
        let p = plan(&techniques(), &backends, &[1, 8], &[2], &model(), 3);
        let (cells, cost) = (&p.cells, &p.expected_s);
        assert_eq!(cells.len(), 25 * 3 * 2);
        assert_eq!(
            p,
            plan(&techniques(), &backends, &[1, 8], &[2], &model(), 3)
        );
        let mean = cost.iter().sum::<f64>() / 3.0;
        assert!(
            cost.iter().all(|c| (c - mean).abs() <= 0.2 * mean),
            "{cost:?}"
        );
        // References: FP32 cells of the backends a shard uses that another shard owns.
        for k in 1..=3 {
            for &i in &p.references[k - 1] {
                assert_eq!(cells[i].technique, FP32);
                assert_ne!(cells[i].shard, k);
                assert!(cells.iter().any(|c| c.shard == k
                    && c.batch == cells[i].batch
                    && (c.backend == cells[i].backend || c.technique == FP32)));
            }
        }
    }

    /// Every registered technique, the QAT rows and three imported models on three backends,
    /// costed as resnet's quick run: 2 to 8 shards, each within 20% of the mean.
    #[test]
    fn the_registered_techniques_split_within_twenty_percent() {
        let mut t = vec![PlannedTechnique {
            name: FP32.into(),
            format: Format::Fp32,
            scored_models: 0,
        }];
        t.extend(
            crate::registry::techniques()
                .iter()
                .map(|x| PlannedTechnique {
                    name: x.name().into(),
                    format: x.format(),
                    scored_models: x.scored_models(),
                }),
        );
        t.extend(qbench_qat::QatRecipe::ALL.iter().map(|r| PlannedTechnique {
            name: r.name().into(),
            format: r.format(),
            scored_models: 0,
        }));
        for (name, format) in [
            ("imported-qdq", Format::Qdq),
            ("imported-contrib", Format::OrtContrib),
            ("imported-dynamic", Format::Dynamic),
        ] {
            t.push(PlannedTechnique {
                name: name.into(),
                format,
                scored_models: 0,
            });
        }
        let backends: Vec<String> = ["ort", "tract", "candle"].map(String::from).into();
        let m = cost::CostModel {
            image_s: 314_271.0 * 1.3e-10,
            ..model()
        };
        for n in 2..=8 {
            let p = plan(&t, &backends, &[1], &[2], &m, n);
            let (cells, cost) = (&p.cells, &p.expected_s);
            assert_eq!(cells.len(), t.len() * 3);
            let mean = cost.iter().sum::<f64>() / n as f64;
            assert!(
                cost.iter().all(|c| (c - mean).abs() <= 0.2 * mean),
                "{n} shards: {cost:?}"
            );
        }
    }
}
