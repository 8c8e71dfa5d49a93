//! The machine dimension of merged results: which machine measured each row, and a merged file
//! taken apart again into one run per machine (for `publish` and `check`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::measure::machine::Machine;
use crate::record::Run;

/// One machine's part of merged results: where, with which runtimes and build it ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineRun {
    pub machine: Machine,
    /// Backend name -> runtime version on that machine.
    pub backends: BTreeMap<String, String>,
    pub qbench_version: String,
    pub git_commit: Option<String>,
    #[serde(default)]
    pub build: Option<crate::measure::build_info::Build>,
    /// When its first file's run started.
    pub started_at: String,
    /// The files merged for it, with the shard each held (`3/3 shards`, or `unsharded`).
    pub sources: Vec<String>,
}

impl MachineRun {
    /// The record of the machine that ran `run`.
    pub fn of(run: &Run, sources: Vec<String>) -> MachineRun {
        MachineRun {
            machine: run.machine.clone(),
            backends: run.backends.clone(),
            qbench_version: run.qbench_version.clone(),
            git_commit: run.git_commit.clone(),
            build: run.build.clone(),
            started_at: run.started_at.clone(),
            sources,
        }
    }
}

impl Run {
    /// The run as one run per machine, in the order the rows first name them: a single run is
    /// itself; merged results give each machine its rows, its machine block and its runtimes.
    pub fn by_machine(&self) -> Vec<(String, Run)> {
        if self.machines.is_empty() {
            return vec![(self.machine.id(), self.clone())];
        }
        let mut order: Vec<&str> = Vec::new();
        for r in &self.rows {
            if let Some(m) = r.machine.as_deref().filter(|m| !order.contains(m)) {
                order.push(m);
            }
        }
        for m in self.machines.keys() {
            if !order.contains(&m.as_str()) {
                order.push(m);
            }
        }
        order
            .into_iter()
            .filter_map(|id| {
                let m = self.machines.get(id)?;
                let mut part = self.clone();
                part.machines = BTreeMap::new();
                part.machine = m.machine.clone();
                part.backends = m.backends.clone();
                part.qbench_version = m.qbench_version.clone();
                part.git_commit = m.git_commit.clone();
                part.build = m.build.clone();
                part.started_at = m.started_at.clone();
                part.rows.retain(|r| r.machine.as_deref() == Some(id));
                for r in &mut part.rows {
                    r.machine = None;
                }
                Some((id.to_string(), part))
            })
            .collect()
    }

    /// How many machines measured the run (1 unless merged from several).
    pub fn machine_count(&self) -> usize {
        self.machines.len().max(1)
    }

    /// The machine that measured `r`.
    pub fn machine_of(&self, r: &crate::record::Row) -> &Machine {
        self.record_of(r).map_or(&self.machine, |m| &m.machine)
    }

    /// The runtime versions (backend -> version) of the machine that measured `r`.
    pub fn backends_of(&self, r: &crate::record::Row) -> &BTreeMap<String, String> {
        self.record_of(r).map_or(&self.backends, |m| &m.backends)
    }

    /// The qbench commit that measured `r`.
    pub fn git_commit_of(&self, r: &crate::record::Row) -> Option<&str> {
        self.record_of(r)
            .map_or(self.git_commit.as_deref(), |m| m.git_commit.as_deref())
    }

    fn record_of(&self, r: &crate::record::Row) -> Option<&MachineRun> {
        r.machine.as_deref().and_then(|id| self.machines.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_run_is_one_machine_and_merged_rows_go_to_theirs() {
        let run = crate::report::fixture::run();
        let parts = run.by_machine();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].1, run);

        let mut merged = run.clone();
        let mut other = run.machine.clone();
        other.cpu = "Other CPU".into();
        let a = run.machine.id();
        let b = other.id();
        merged
            .machines
            .insert(a.clone(), MachineRun::of(&run, vec!["a.json".into()]));
        let mut second = run.clone();
        second.machine = other;
        second.backends.insert("ort".into(), "9.9".into());
        merged
            .machines
            .insert(b.clone(), MachineRun::of(&second, vec!["b.json".into()]));
        let mut rows = Vec::new();
        for (id, r) in [(&b, &run.rows[0]), (&a, &run.rows[0]), (&a, &run.rows[1])] {
            let mut r = r.clone();
            r.machine = Some(id.clone());
            rows.push(r);
        }
        merged.rows = rows;
        let parts = merged.by_machine();
        let ids: Vec<_> = parts.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(
            ids,
            [b.clone(), a.clone()],
            "in the order the rows name them"
        );
        assert_eq!(parts[0].1.rows.len(), 1);
        assert_eq!(parts[0].1.machine.cpu, "Other CPU");
        assert_eq!(parts[0].1.backends["ort"], "9.9");
        assert_eq!(parts[1].1.rows.len(), 2);
        assert!(parts[1].1.rows.iter().all(|r| r.machine.is_none()));
        assert_eq!(merged.machine_of(&merged.rows[0]).cpu, "Other CPU");
        assert_eq!(merged.backends_of(&merged.rows[0])["ort"], "9.9");
        assert_eq!(merged.backends_of(&merged.rows[1])["ort"], "1.31.1");
        assert_eq!(run.backends_of(&run.rows[0])["ort"], "1.31.1");
    }
}
