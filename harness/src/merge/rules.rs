//! The rules of `qbench merge`, over results already read: which files may be joined, what a
//! missing or duplicated shard is, and the merged run with the machine as a dimension.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{bail, Result};

use crate::machines::MachineRun;
use crate::record::{CellId, Row, RowKey, Run, Status};

/// A results file and what it holds.
pub struct Input {
    pub path: String,
    pub run: Run,
}

/// What may be relaxed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Write the merged results although shards are missing: their cells become `failed` rows
    /// that say which shard is missing.
    pub allow_missing: bool,
    /// Join files written by different qbench versions.
    pub allow_mixed_versions: bool,
}

/// The merged run and what the merge noticed (missing shards it was allowed to skip, artifacts
/// that differ between shards, one label on several CPUs).
pub struct Merged {
    pub run: Run,
    pub notes: Vec<String>,
}

/// One machine's part of one file.
struct Part<'a> {
    source: String,
    run: Run,
    input: &'a Input,
}

fn short(plan: &str) -> &str {
    &plan[..plan.len().min(12)]
}

/// Joins `inputs` (shards of one plan per machine, or whole runs, or merged files) into one run.
pub fn merge(inputs: &[Input], opts: Options) -> Result<Merged> {
    let Some(first) = inputs.first() else {
        bail!("no results files to merge");
    };
    // Every file taken apart into one part per machine (a merged file holds several).
    let mut parts: Vec<Part> = Vec::new();
    for input in inputs {
        let split = input.run.by_machine();
        let several = split.len() > 1;
        for (id, run) in split {
            let source = if several {
                format!("{} (machine {id})", input.path)
            } else {
                input.path.clone()
            };
            parts.push(Part { source, run, input });
        }
    }
    for p in &parts {
        compatible(first, p.input, opts)?;
    }
    // Parts by machine, in the order the files name them.
    let mut machines: Vec<(String, Vec<&Part>)> = Vec::new();
    for p in &parts {
        let id = p.run.machine.id();
        match machines.iter_mut().find(|(m, _)| *m == id) {
            Some((_, v)) => v.push(p),
            None => machines.push((id, vec![p])),
        }
    }
    let mut notes = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut records: BTreeMap<String, MachineRun> = BTreeMap::new();
    for (id, group) in &machines {
        let (mut machine_rows, sources) = join_machine(id, group, opts, &mut notes)?;
        let base = &group[0].run;
        for p in group {
            let (a, b) = (&base.machine, &p.run.machine);
            if a.cpu != b.cpu || a.isa != b.isa {
                notes.push(format!(
                    "machine {id:?}: {} ran on {} [{}] but {} on {} [{}]: its rows keep one \
                     machine, so latency of one CPU is compared with FP32 of another",
                    group[0].source,
                    a.cpu,
                    a.isa.join(" "),
                    p.source,
                    b.cpu,
                    b.isa.join(" ")
                ));
            }
            if p.run.backends != base.backends {
                notes.push(format!(
                    "machine {id:?}: the runtimes of {} ({:?}) differ from those of {} ({:?})",
                    p.source, p.run.backends, group[0].source, base.backends
                ));
            }
        }
        if machines.len() > 1 {
            for r in &mut machine_rows {
                r.machine = Some(id.clone());
            }
        }
        rows.extend(machine_rows);
        records.insert(id.clone(), MachineRun::of(base, sources));
    }
    notes.extend(artifact_differences(&parts));
    let base = &machines[0].1[0].run;
    let plans: BTreeSet<Option<&String>> = parts.iter().map(|p| p.run.plan.as_ref()).collect();
    let mut run = base.clone();
    run.rows = rows;
    run.shard = None;
    run.complete = true;
    run.stopped = None;
    run.plan = if plans.len() == 1 {
        base.plan.clone()
    } else {
        None
    };
    run.started_at = parts
        .iter()
        .map(|p| p.run.started_at.clone())
        .min()
        .unwrap_or_default();
    run.command = format!(
        "qbench merge {}",
        inputs
            .iter()
            .map(|i| i.path.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    run.machines = if machines.len() > 1 {
        records
    } else {
        BTreeMap::new()
    };
    Ok(Merged { run, notes })
}

/// Whether `other` may be merged with `first`: same scenario, evaluation and settings, and the
/// same qbench version unless mixed versions are allowed.
fn compatible(first: &Input, other: &Input, opts: Options) -> Result<()> {
    let (a, b) = (&first.run, &other.run);
    let refuse = |what: &str, x: &str, y: &str| -> Result<()> {
        bail!(
            "cannot merge {} with {}: {what} differs ({x} vs {y})",
            other.path,
            first.path
        )
    };
    if a.scenario != b.scenario {
        refuse("the scenario", &a.scenario, &b.scenario)?;
    }
    if a.metric != b.metric {
        refuse(
            "the metric",
            &format!("{:?}", a.metric),
            &format!("{:?}", b.metric),
        )?;
    }
    if a.qbench_version != b.qbench_version && !opts.allow_mixed_versions {
        bail!(
            "cannot merge {} with {}: written by qbench {} and {} (add --allow-mixed-versions to \
             join them anyway; their cells may not be comparable)",
            other.path,
            first.path,
            b.qbench_version,
            a.qbench_version
        );
    }
    if a.settings != b.settings {
        refuse(
            "the run settings (mode, sweep, samples, rounds or latency rules)",
            &serde_json::to_string(&a.settings)?,
            &serde_json::to_string(&b.settings)?,
        )?;
    }
    Ok(())
}

/// One machine's rows: its one whole run, or its shards of one plan joined in plan order.
fn join_machine(
    id: &str,
    group: &[&Part],
    opts: Options,
    notes: &mut Vec<String>,
) -> Result<(Vec<Row>, Vec<String>)> {
    let whole: Vec<&&Part> = group.iter().filter(|p| p.run.shard.is_none()).collect();
    if let Some(w) = whole.first() {
        if let Some(other) = group.iter().find(|p| !std::ptr::eq(**p, **w)) {
            bail!(
                "{} and {} both hold cells of machine {id:?}: a machine's cells come from one \
                 run or from the shards of one plan (give runs on different machines of one kind \
                 their own --machine-label to keep them apart)",
                w.source,
                other.source
            );
        }
        return Ok((
            w.run.rows.clone(),
            vec![format!("{} (whole run)", w.source)],
        ));
    }
    let first = group[0];
    let info = first.run.shard.as_ref().expect("sharded");
    let mut by_index: BTreeMap<usize, &Part> = BTreeMap::new();
    for p in group {
        let s = p.run.shard.as_ref().expect("sharded");
        if s.plan != info.plan || s.count != info.count {
            bail!(
                "{} is shard {}/{} of plan {} but {} is shard {}/{} of plan {}: shards of \
                 different plans (scenario settings, techniques, backends, qbench build or model) \
                 cannot be merged for one machine ({id:?})",
                p.source,
                s.index,
                s.count,
                short(&s.plan),
                first.source,
                info.index,
                info.count,
                short(&info.plan)
            );
        }
        if s.cells != info.cells {
            bail!(
                "{} and {} split plan {} differently (built from different code with the same \
                 commit?): their cells cannot be joined",
                p.source,
                first.source,
                short(&info.plan)
            );
        }
        if let Some(prev) = by_index.insert(s.index, p) {
            bail!(
                "shard {}/{} of machine {id:?} is given twice: {} and {}",
                s.index,
                s.count,
                prev.source,
                p.source
            );
        }
        // Its rows must be exactly the cells the plan gives it.
        let want: BTreeSet<CellId> = s
            .cells
            .iter()
            .filter(|c| c.shard == s.index)
            .map(|c| c.id())
            .collect();
        let got: BTreeSet<CellId> = p.run.rows.iter().map(Row::cell_id).collect();
        if want != got || got.len() != p.run.rows.len() {
            bail!(
                "{}: its rows are not the {} cells shard {}/{} of its plan runs ({} rows; \
                 missing {:?}, extra {:?})",
                p.source,
                want.len(),
                s.index,
                s.count,
                p.run.rows.len(),
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>()
            );
        }
    }
    let missing: Vec<usize> = (1..=info.count)
        .filter(|k| !by_index.contains_key(k))
        .collect();
    let mut rows: HashMap<CellId, Row> = group
        .iter()
        .flat_map(|p| p.run.rows.iter().map(|r| (r.cell_id(), r.clone())))
        .collect();
    if !missing.is_empty() {
        let what = missing
            .iter()
            .map(|k| {
                let cells = info.cells.iter().filter(|c| c.shard == *k).count();
                format!("{k}/{} ({cells} cells)", info.count)
            })
            .collect::<Vec<_>>()
            .join(", ");
        if !opts.allow_missing {
            bail!(
                "machine {id:?}: shard(s) {what} of plan {} are missing (given: {}); merge them \
                 too, or add --allow-missing to write their cells as failed",
                short(&info.plan),
                by_index
                    .values()
                    .map(|p| p.source.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        notes.push(format!(
            "machine {id:?}: shard(s) {what} missing: their cells are failed rows"
        ));
        for c in info.cells.iter().filter(|c| missing.contains(&c.shard)) {
            // Framework and format as another row of the technique states them, if any.
            let like = rows.values().find(|r| r.technique == c.technique);
            let key = RowKey {
                technique: c.technique.clone(),
                framework: like.map_or("-".into(), |r| r.framework.clone()),
                backend: c.backend.clone(),
                format: like.map_or("-".into(), |r| r.format.clone()),
                threads: c.threads,
                batch: c.batch,
                throughput_batch: first.run.settings.throughput_batch,
            };
            let reason = format!(
                "not measured: shard {}/{} of this machine was missing from the merge",
                c.shard, info.count
            );
            rows.insert(c.id(), Row::not_run(key, Status::Failed, reason));
        }
    }
    let ordered = info
        .cells
        .iter()
        .filter_map(|c| rows.remove(&c.id()))
        .collect();
    let sources = by_index
        .iter()
        .map(|(k, p)| format!("{} (shard {k}/{})", p.source, info.count))
        .collect();
    Ok((ordered, sources))
}

/// Techniques whose artifact differs between files of one plan (the quantizer is deterministic:
/// a difference means the shards did not quantize the same model with the same data).
fn artifact_differences(parts: &[Part]) -> Vec<String> {
    // (plan, technique) -> artifact hash -> the files that hold it
    type Seen<'a> = BTreeMap<(Option<&'a String>, &'a str), BTreeMap<&'a str, Vec<&'a str>>>;
    let mut seen: Seen = BTreeMap::new();
    for p in parts {
        for r in &p.run.rows {
            if let Some(h) = &r.artifact_sha256 {
                let files = seen
                    .entry((p.run.plan.as_ref(), r.technique.as_str()))
                    .or_default()
                    .entry(h.as_str())
                    .or_default();
                if !files.contains(&p.source.as_str()) {
                    files.push(&p.source);
                }
            }
        }
    }
    seen.into_iter()
        .filter(|(_, hashes)| hashes.len() > 1)
        .map(|((_, technique), hashes)| {
            format!(
                "warning: `{technique}`'s artifact differs between files of one plan: {}",
                hashes
                    .iter()
                    .map(|(h, files)| format!("{} in {}", &h[..h.len().min(12)], files.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::{PlannedCell, ShardInfo};

    /// The report fixture's two cells as a plan of two shards, one cell each.
    fn whole() -> Run {
        let mut run = crate::report::fixture::run();
        run.plan = Some("plan-a".into());
        run
    }

    fn shard(index: usize, plan: &str) -> Run {
        let full = whole();
        let cells: Vec<PlannedCell> = full
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| PlannedCell {
                technique: r.technique.clone(),
                backend: r.backend.clone(),
                batch: r.batch,
                threads: r.threads,
                shard: i + 1,
                expected_s: 1.0,
            })
            .collect();
        let mut run = full.clone();
        run.rows = vec![full.rows[index - 1].clone()];
        run.plan = Some(plan.into());
        run.shard = Some(ShardInfo {
            index,
            count: 2,
            plan: plan.into(),
            cells,
            references: vec![],
            expected_s: vec![1.0, 1.0],
        });
        run
    }

    fn input(path: &str, run: Run) -> Input {
        Input {
            path: path.into(),
            run,
        }
    }

    fn err(inputs: &[Input], opts: Options) -> String {
        format!("{:#}", merge(inputs, opts).err().expect("refused"))
    }

    #[test]
    fn shards_join_in_plan_order_into_the_whole_run() {
        let m = merge(
            &[
                input("b.json", shard(2, "p")),
                input("a.json", shard(1, "p")),
            ],
            Options::default(),
        )
        .unwrap();
        assert_eq!(m.run.rows, whole().rows);
        assert_eq!(m.run.shard, None);
        assert_eq!(m.run.plan.as_deref(), Some("p"));
        assert!(m.run.machines.is_empty(), "one machine: a plain run");
        assert!(m.notes.is_empty(), "{:?}", m.notes);
        assert_eq!(m.run.command, "qbench merge b.json a.json");
    }

    #[test]
    fn missing_duplicated_and_foreign_shards_are_refused() {
        let e = err(&[input("a.json", shard(1, "p"))], Options::default());
        assert!(
            e.contains("shard(s) 2/2 (1 cells)") && e.contains("a.json"),
            "{e}"
        );
        let e = err(
            &[
                input("a.json", shard(1, "p")),
                input("a2.json", shard(1, "p")),
                input("b.json", shard(2, "p")),
            ],
            Options::default(),
        );
        assert!(e.contains("given twice: a.json and a2.json"), "{e}");
        let e = err(
            &[
                input("a.json", shard(1, "p")),
                input("x.json", shard(2, "q")),
            ],
            Options::default(),
        );
        assert!(e.contains("x.json is shard 2/2 of plan q"), "{e}");
        // A shard whose rows are not the cells its plan gives it.
        let mut wrong = shard(2, "p");
        wrong.rows[0].technique = "other".into();
        let e = err(
            &[input("a.json", shard(1, "p")), input("w.json", wrong)],
            Options::default(),
        );
        assert!(e.contains("w.json: its rows are not the 1 cells"), "{e}");
        // Shards that disagree on the split.
        let mut other_split = shard(2, "p");
        other_split.shard.as_mut().unwrap().cells.swap(0, 1);
        let e = err(
            &[input("a.json", shard(1, "p")), input("o.json", other_split)],
            Options::default(),
        );
        assert!(e.contains("split plan p differently"), "{e}");
        // A whole run and a shard of the same machine.
        let e = err(
            &[input("whole.json", whole()), input("a.json", shard(1, "p"))],
            Options::default(),
        );
        assert!(e.contains("both hold cells of machine"), "{e}");
    }

    #[test]
    fn allowed_missing_shards_are_failed_rows_naming_the_shard() {
        let m = merge(
            &[input("a.json", shard(1, "p"))],
            Options {
                allow_missing: true,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(m.run.rows.len(), 2);
        let missing = &m.run.rows[1];
        assert_eq!(missing.status, Status::Failed);
        assert!(missing.reason.as_deref().unwrap().contains("shard 2/2"));
        assert!(m.notes[0].contains("missing"), "{:?}", m.notes);
    }

    #[test]
    fn other_scenarios_versions_and_settings_are_refused() {
        let mut other = whole();
        other.machine.cpu = "Other".into();
        let mut scenario = other.clone();
        scenario.scenario = "ppocr-cls".into();
        let e = err(
            &[input("a.json", whole()), input("s.json", scenario)],
            Options::default(),
        );
        assert!(
            e.contains("cannot merge s.json with a.json: the scenario differs"),
            "{e}"
        );
        let mut version = other.clone();
        version.qbench_version = "9.9.9".into();
        let e = err(
            &[input("a.json", whole()), input("v.json", version.clone())],
            Options::default(),
        );
        assert!(e.contains("--allow-mixed-versions"), "{e}");
        let mixed = Options {
            allow_mixed_versions: true,
            ..Options::default()
        };
        assert!(merge(&[input("a.json", whole()), input("v.json", version)], mixed).is_ok());
        let mut settings = other;
        settings.settings.rounds += 1;
        let e = err(
            &[input("a.json", whole()), input("r.json", settings)],
            Options::default(),
        );
        assert!(e.contains("the run settings"), "{e}");
    }

    #[test]
    fn two_machines_are_two_rows_per_cell_and_merged_files_merge_again() {
        let mut other = whole();
        other.machine.cpu = "Other CPU".into();
        other.backends.insert("ort".into(), "1.99".into());
        other.rows[0].accuracy = Some(0.5);
        let m = merge(
            &[input("a.json", whole()), input("b.json", other.clone())],
            Options::default(),
        )
        .unwrap();
        assert_eq!(m.run.rows.len(), 4);
        assert_eq!(m.run.machines.len(), 2);
        let ids: BTreeSet<_> = m
            .run
            .rows
            .iter()
            .map(|r| r.machine.clone().unwrap())
            .collect();
        assert_eq!(ids.len(), 2);
        let b = &m.run.machines[&other.machine.id()];
        assert_eq!(b.backends["ort"], "1.99", "each machine keeps its runtimes");
        assert_eq!(b.sources, vec!["b.json (whole run)".to_string()]);
        // The merged file with a third machine.
        let mut third = whole();
        third.machine.cpu = "Third CPU".into();
        let again = merge(
            &[input("m.json", m.run.clone()), input("c.json", third)],
            Options::default(),
        )
        .unwrap();
        assert_eq!(again.run.machines.len(), 3);
        assert_eq!(again.run.rows.len(), 6);
        // The same machine twice is refused.
        let e = err(
            &[input("m.json", m.run), input("b2.json", other)],
            Options::default(),
        );
        assert!(e.contains("both hold cells of machine"), "{e}");
    }

    #[test]
    fn different_artifacts_within_one_plan_are_reported() {
        let mut a = shard(1, "p");
        a.rows[0].artifact_sha256 = Some("aaaa".into());
        let mut b = shard(2, "p");
        b.rows[0].technique = a.rows[0].technique.clone();
        b.rows[0].artifact_sha256 = Some("bbbb".into());
        let (ia, ib) = (input("a.json", a.clone()), input("b.json", b.clone()));
        let parts = [
            Part {
                source: "a.json".into(),
                run: a,
                input: &ia,
            },
            Part {
                source: "b.json".into(),
                run: b,
                input: &ib,
            },
        ];
        let notes = artifact_differences(&parts);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("aaaa in a.json; bbbb in b.json"),
            "{}",
            notes[0]
        );
    }
}
