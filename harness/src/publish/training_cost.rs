//! The page's training-cost section: the rows made by quantization-aware training (those with
//! `training_s`), how long their fine-tuning took and what it bought, beside the post-training
//! rows at the same weight width, which cost no training.

use std::fmt::Write as _;

use anyhow::Result;

use crate::record::{Row, Run, Status};
use crate::report::top1_change;

/// Top-1 change against FP32 of `technique` on each backend (`-` where it did not run).
fn changes(run: &Run, technique: &str, backends: &[String]) -> String {
    backends
        .iter()
        .map(|b| {
            run.rows
                .iter()
                .find(|r| r.technique == technique && &r.backend == b && r.status == Status::Ok)
                .and_then(|r| Some(top1_change(r.accuracy_delta_vs_fp32?, r.mcnemar_p, 2)))
                .unwrap_or_else(|| "-".into())
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Whether two rows share their format and weight width (sub-8-bit rows carry a packed size):
/// the post-training rows a QAT row is set against.
fn same_width(a: &Row, b: &Row) -> bool {
    a.packed_bytes.is_some() == b.packed_bytes.is_some() && a.format == b.format
}

/// Writes the section when the run has QAT rows.
pub fn section(run: &Run, backends: &[String], s: &mut String) -> Result<()> {
    let mut trained: Vec<&Row> = Vec::new();
    for r in &run.rows {
        if r.training_s.is_some() && !trained.iter().any(|t| t.technique == r.technique) {
            trained.push(r);
        }
    }
    if trained.is_empty() {
        return Ok(());
    }
    writeln!(s, "\n## Training cost\n")?;
    writeln!(
        s,
        "Rows made by quantization-aware training: the fine-tuning ran once (`qbench train --qat`), \
         not in this run, and took the time below; post-training rows of the same format (sub-8-bit \
         rows beside sub-8-bit ones) need no training. Top-1 change against FP32 per backend ({}).\n",
        backends.join(" / ")
    )?;
    writeln!(
        s,
        "| QAT row | training | top-1 change | post-training rows of the same format |"
    )?;
    writeln!(s, "|---|---|---|---|")?;
    for t in trained {
        let mut peers: Vec<String> = Vec::new();
        for r in &run.rows {
            let ptq = r.training_s.is_none()
                && r.quantize_ms.is_some()
                && same_width(r, t)
                && !peers
                    .iter()
                    .any(|p| p.starts_with(&format!("`{}`", r.technique)));
            if ptq {
                peers.push(format!(
                    "`{}` {}",
                    r.technique,
                    changes(run, &r.technique, backends)
                ));
            }
        }
        writeln!(
            s,
            "| `{}` | {:.0} s | {} | {} |",
            t.technique,
            t.training_s.unwrap_or_default(),
            changes(run, &t.technique, backends),
            if peers.is_empty() {
                "-".into()
            } else {
                peers.join("; ")
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qat_rows_get_their_training_time_beside_post_training_rows_of_their_kind() {
        let mut run = crate::report::fixture::run();
        let mut s = String::new();
        section(&run, &["ort".into()], &mut s).unwrap();
        assert!(s.is_empty(), "no QAT row, no section: {s}");
        let fp32 = run
            .rows
            .iter()
            .find(|r| r.status == Status::Ok)
            .cloned()
            .expect("the fixture has a measured row");
        let mut ptq = fp32.clone();
        ptq.technique = "some-ptq".into();
        ptq.quantize_ms = Some(12.0);
        ptq.accuracy_delta_vs_fp32 = Some(-0.0277);
        ptq.mcnemar_p = Some(1e-9);
        let mut qat = ptq.clone();
        qat.technique = "some-qat".into();
        qat.quantize_ms = None;
        qat.training_s = Some(517.4);
        qat.accuracy_delta_vs_fp32 = Some(-0.0001);
        qat.mcnemar_p = Some(0.9);
        let mut other = ptq.clone();
        other.technique = "other-format".into();
        other.format = "dynamic".into();
        run.rows.extend([ptq, qat, other]);
        section(&run, std::slice::from_ref(&fp32.backend), &mut s).unwrap();
        assert!(s.contains("## Training cost"), "{s}");
        assert!(
            s.contains("| `some-qat` | 517 s | -0.01 | `some-ptq` -2.77* |"),
            "{s}"
        );
        assert!(!s.contains("other-format"), "{s}");
    }
}
