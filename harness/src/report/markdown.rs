//! Markdown: the comparison table plus the environment block.

use std::io::Write;

use anyhow::Result;

use super::cells::{cells, HEADERS};
use super::Reporter;
use crate::record::{list, Run};

/// A Markdown document that can be published as is.
pub struct Markdown;

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Reporter for Markdown {
    fn name(&self) -> &'static str {
        "md"
    }

    fn render(&self, run: &Run, out: &mut dyn Write) -> Result<()> {
        writeln!(
            out,
            "# qbench: `{}`{}\n",
            run.scenario,
            if run.settings.quick {
                " (quick run)"
            } else {
                ""
            }
        )?;
        if let Some(line) = super::metric_line(run) {
            writeln!(out, "{line}\n")?;
        }
        // Merged results of several machines: a table and an environment per machine.
        let parts = run.by_machine();
        for (id, part) in &parts {
            if parts.len() > 1 {
                writeln!(out, "## Machine: {id}\n")?;
            }
            writeln!(out, "| {} |", HEADERS.join(" | "))?;
            writeln!(
                out,
                "|{}",
                HEADERS.iter().map(|_| "---|").collect::<String>()
            )?;
            for r in &part.rows {
                let c: Vec<String> = cells(r).iter().map(|s| escape(s)).collect();
                writeln!(out, "| {} |", c.join(" | "))?;
            }
            environment(part, out)?;
            writeln!(out)?;
        }
        Ok(())
    }
}

/// The environment block (command, commit, machine, runtimes, settings) as a Markdown section.
pub fn environment(run: &Run, out: &mut dyn Write) -> Result<()> {
    let s = &run.settings;
    writeln!(out, "\n## Environment\n")?;
    writeln!(out, "- command: `{}`", run.command)?;
    writeln!(
        out,
        "- qbench {} (commit {})",
        run.qbench_version,
        run.git_commit.as_deref().unwrap_or("unknown")
    )?;
    writeln!(out, "- started: {}", run.started_at)?;
    if let Some(b) = &run.build {
        let note = if b.optimized() {
            ""
        } else {
            " — NOT optimized: latencies distorted"
        };
        writeln!(out, "- build: {}{note}", b.describe())?;
    }
    writeln!(
        out,
        "- CPU: {} ({} cores; ISA: {})",
        run.machine.cpu,
        run.machine.cores,
        run.machine.isa.join(", ")
    )?;
    writeln!(
        out,
        "- OS: {}; governor: {}",
        run.machine.os,
        run.machine.governor.as_deref().unwrap_or("not readable")
    )?;
    for (b, v) in &run.backends {
        writeln!(out, "- {b}: {v}")?;
    }
    writeln!(
        out,
        "- settings: {} threads; latency at batch {} in {} round(s) per cell, each in a fresh \
         process and interleaved with the other cells (in total: warm-up {} per round, at least {} \
         runs and {} s, at most {} s); throughput and accuracy at batch {}; {} evaluation images{}",
        list(&s.threads),
        list(&s.batch),
        s.rounds,
        s.latency_rule.warmup,
        s.latency_rule.min_iters,
        s.latency_rule.min_seconds,
        s.latency_rule.max_seconds,
        s.throughput_batch,
        s.eval_samples,
        if s.quick { "; QUICK run" } else { "" }
    )?;
    if let Some(c) = &run.calibration {
        writeln!(out, "- calibration ran on: {c}")?;
    }
    writeln!(out, "- peak RSS is per cell (each cell runs in its own process) and includes the evaluation data.")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rows_and_environment() {
        let mut buf = Vec::new();
        Markdown
            .render(&crate::report::fixture::run(), &mut buf)
            .unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(
            s.contains(
                "| fp32 | ort | 1 | 2 | fp32 | ok | 302.7 KiB | 12.5 | 2.000 [1.000, 3.000] |"
            ),
            "{s}"
        );
        assert!(s.contains("| failed |"));
        assert!(s.contains("91.23 [90.66, 91.77]"));
        assert!(s.contains("Test CPU"));
        assert!(!s.contains("## Machine:"), "one machine: one table");
    }

    #[test]
    fn merged_machines_get_a_table_and_an_environment_each() {
        let one = crate::report::fixture::run();
        let mut other = one.clone();
        other.machine.cpu = "Other CPU".into();
        let mut merged = one.clone();
        merged.rows.clear();
        for r in [&one, &other] {
            let id = r.machine.id();
            merged
                .machines
                .insert(id.clone(), crate::machines::MachineRun::of(r, vec![]));
            merged.rows.extend(r.rows.iter().cloned().map(|mut row| {
                row.machine = Some(id.clone());
                row
            }));
        }
        let mut buf = Vec::new();
        Markdown.render(&merged, &mut buf).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.contains("## Machine: Test CPU [AVX2] 2 cores"), "{s}");
        assert!(s.contains("## Machine: Other CPU [AVX2] 2 cores"), "{s}");
        assert_eq!(s.matches("## Environment").count(), 2);
    }
}
