//! `qbench merge`: joins the shards of a run, and runs of different machines, into one results
//! file with the machine as a dimension (the same cell on two machines is two rows, never an
//! average). The rules are in [`rules`]; this reads the files and writes the merged ones.

pub mod rules;

use std::io::Write;

use anyhow::Result;

use crate::check::load_run;
use crate::cli::MergeArgs;
use crate::report;

/// Runs `qbench merge`: reads every file (refusing unreadable or unfinished ones), merges them,
/// writes `<out>/<stem>.{json,csv,md}` (`quick` or `compare`) and prints what it did.
pub fn run(args: &MergeArgs) -> Result<()> {
    let inputs = args
        .files
        .iter()
        .map(|path| {
            Ok(rules::Input {
                path: path.display().to_string(),
                run: load_run(path)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let merged = rules::merge(
        &inputs,
        rules::Options {
            allow_missing: args.allow_missing,
            allow_mixed_versions: args.allow_mixed_versions,
        },
    )?;
    for n in &merged.notes {
        eprintln!("{n}");
    }
    if args.out.exists() && !args.out.is_dir() {
        anyhow::bail!(
            "--out {}: this is a file; the merged results go in a folder",
            args.out.display()
        );
    }
    let stem = if merged.run.settings.quick {
        "quick"
    } else {
        "compare"
    };
    let written = report::write_results(&merged.run, &args.out, stem)?;
    let machines = merged.run.by_machine();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "merged {} file(s): {} rows on {} machine(s)",
        inputs.len(),
        merged.run.rows.len(),
        machines.len()
    )?;
    for (id, part) in &machines {
        writeln!(out, "  {id}: {} rows", part.rows.len())?;
    }
    writeln!(out, "{}", report::results_line(&written))?;
    Ok(())
}
