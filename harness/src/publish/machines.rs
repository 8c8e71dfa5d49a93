//! The page of merged results from several machines: one column group per machine (and, in it,
//! per backend), so a reader sees on which CPU a technique pays, with each machine's
//! environment. Built by naming every backend after its machine and reusing the one-machine
//! page and charts; nothing is averaged across machines.

use std::fmt::Write as _;

use anyhow::Result;

use crate::record::Run;
use crate::report::environment;

/// One machine of merged results: its short name for column headers, its id, its rows.
pub type Named = (String, String, Run);

/// The run's machines with short names for column headers: the label, else the ISA class (with
/// `#k` when two machines share it).
pub fn short_names(run: &Run) -> Vec<Named> {
    let parts = run.by_machine();
    let base: Vec<String> = parts
        .iter()
        .map(|(_, p)| {
            p.machine
                .label
                .clone()
                .unwrap_or_else(|| p.machine.isa_class().to_string())
        })
        .collect();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, (id, part))| {
            let same = base.iter().filter(|b| **b == base[i]).count();
            let name = if same > 1 {
                let k = base[..=i].iter().filter(|b| **b == base[i]).count();
                format!("{} #{k}", base[i])
            } else {
                base[i].clone()
            };
            (name, id, part)
        })
        .collect()
}

/// The run with each backend named `<machine> · <backend>`: the one-machine page then has a
/// column group per machine and backend, and FP32 ratios stay within a machine.
pub fn by_machine_columns(run: &Run, names: &[Named]) -> Run {
    let mut out = run.clone();
    out.machines.clear();
    out.rows = names
        .iter()
        .flat_map(|(name, _, part)| {
            part.rows.iter().cloned().map(move |mut r| {
                r.backend = format!("{name} · {}", r.backend);
                r
            })
        })
        .collect();
    out.machine.cpu = format!("{} machines", names.len());
    out
}

/// The machines section: what each column group's machine is, and its environment.
pub fn legend(run: &Run, names: &[Named], s: &mut String) -> Result<()> {
    writeln!(
        s,
        "\n## Machines\n\nEach column group above is one machine; the same cell on two machines \
         is two cells, never an average, and each speed-up is against FP32 on the same machine \
         and backend.\n\n| columns | machine | ISA class | cores | sources |\n|---|---|---|---|---|"
    )?;
    for (name, id, part) in names {
        let sources = run
            .machines
            .get(id)
            .map(|m| m.sources.join("; "))
            .unwrap_or_default();
        writeln!(
            s,
            "| {name} | {} | {} | {} | {} |",
            part.machine.cpu,
            part.machine.isa_class(),
            part.machine.cores,
            sources.replace('|', "\\|")
        )?;
    }
    for (name, _, part) in names {
        let mut env = Vec::new();
        environment(part, &mut env)?;
        let text = String::from_utf8_lossy(&env).replace("## Environment", &format!("### {name}"));
        s.push_str(&text);
    }
    Ok(())
}

/// Where a technique pays, machine by machine: its latency speed-up against FP32 on the same
/// machine and backend (first batch size and thread count), or why the cell has none.
pub fn speedup_table(names: &[Named], s: &mut String) -> Result<()> {
    let parts: Vec<(String, Run)> = names
        .iter()
        .map(|(n, _, p)| (n.clone(), super::primary(p)))
        .collect();
    let mut columns: Vec<(usize, String)> = Vec::new();
    for (i, (_, p)) in parts.iter().enumerate() {
        for b in super::backends(p) {
            columns.push((i, b));
        }
    }
    writeln!(
        s,
        "## Speed-up against FP32, machine by machine\n\nFP32 p50 / technique p50 on the same \
         machine and backend (above 1.00x: faster than FP32 there).\n"
    )?;
    let header: Vec<String> = columns
        .iter()
        .map(|(i, b)| format!("{} · {b}", parts[*i].0))
        .collect();
    writeln!(s, "| technique | {} |", header.join(" | "))?;
    writeln!(s, "|---|{}", "---|".repeat(columns.len()))?;
    let mut techniques: Vec<String> = Vec::new();
    for (_, p) in &parts {
        for t in super::techniques(p) {
            if t != crate::registry::FP32 && !techniques.contains(&t) {
                techniques.push(t);
            }
        }
    }
    for t in techniques {
        let cells: Vec<String> = columns
            .iter()
            .map(|(i, b)| {
                let p = &parts[*i].1;
                match super::cell(p, &t, b) {
                    Some(r) => super::speedup(p, r)
                        .map(|x| format!("{x:.2}x"))
                        .unwrap_or_else(|| r.status.as_str().to_string()),
                    None => "not run".into(),
                }
            })
            .collect();
        writeln!(s, "| `{t}` | {} |", cells.join(" | "))?;
    }
    writeln!(s)?;
    Ok(())
}
