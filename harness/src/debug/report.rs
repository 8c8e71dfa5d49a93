//! `qbench debug`'s outputs: the ranked table (terminal, Markdown), the JSON report and the SVG
//! chart of SQNR along the network's depth.

use std::path::{Path, PathBuf};

use anyhow::Result;
use tabled::{builder::Builder, settings::Style};

use super::{DebugReport, Entry, Kind};
use crate::publish::svg;
use crate::report::write_atomic;

/// Most damaging first: by the output's SQNR when only that tensor is quantized, then (entries
/// without a sensitivity run) by their own SQNR. No error at all ranks last.
pub fn rank(entries: &mut [Entry]) {
    let key = |e: &Entry| {
        let db = |v: Option<f64>| v.unwrap_or(f64::INFINITY);
        match e.output_sqnr_db {
            Some(v) => (0, v),
            None if e.top1_change.is_some() => (0, f64::INFINITY),
            None => (1, db(e.sqnr_db)),
        }
    };
    entries.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
}

fn db(v: Option<f64>) -> String {
    v.map_or_else(|| "exact".into(), |v| format!("{v:.1}"))
}

fn points(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:+.2}"))
}

fn kind(k: Kind) -> &'static str {
    match k {
        Kind::Weight => "weight",
        Kind::Bias => "bias",
        Kind::Activation => "activation",
    }
}

const HEADER: [&str; 11] = [
    "#",
    "kind",
    "tensor",
    "op",
    "quantization",
    "SQNR here (dB)",
    "SQNR alone (dB)",
    "cosine",
    "max abs error",
    "output SQNR, only this (dB)",
    "top-1 change, only this",
];

fn rows(r: &DebugReport, top: Option<usize>) -> Vec<Vec<String>> {
    let sensitivity = r.entries.iter().any(|e| e.output_sqnr_db.is_some());
    r.entries
        .iter()
        .take(top.unwrap_or(usize::MAX))
        .enumerate()
        .map(|(i, e)| {
            vec![
                (i + 1).to_string(),
                kind(e.kind).into(),
                e.tensor.clone(),
                e.op_type.clone(),
                e.quantization.clone(),
                db(e.sqnr_db),
                db(e.alone_sqnr_db),
                format!("{:.5}", e.cosine),
                format!("{:.3e}", e.max_abs_error),
                if sensitivity && e.kind != Kind::Bias {
                    db(e.output_sqnr_db)
                } else {
                    "-".into()
                },
                points(e.top1_change),
            ]
        })
        .collect()
}

fn headline(r: &DebugReport) -> Vec<String> {
    let pct = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.2}%"));
    let o = &r.output;
    vec![
        format!(
            "{} / {} ({}) on {} {}, {} calibration samples; {}, {} cores ({})",
            r.scenario,
            r.technique,
            r.framework,
            r.backend,
            r.backend_version,
            r.samples,
            r.machine.cpu,
            r.machine.cores,
            r.machine.isa.join(", ")
        ),
        format!(
            "top-1 FP32 {} -> quantized {}; output SQNR {} dB (runtime kernels), {} dB (tensors exposed), cosine {:.5}",
            pct(o.fp32_top1),
            pct(o.quantized_top1),
            db(o.output_sqnr_db),
            db(o.exposed_output_sqnr_db),
            o.output_cosine
        ),
    ]
}

/// The terminal table.
pub fn terminal(r: &DebugReport, top: Option<usize>) -> String {
    let mut b = Builder::default();
    b.push_record(HEADER);
    for row in rows(r, top) {
        b.push_record(row);
    }
    let mut t = b.build();
    t.with(Style::sharp());
    let mut s = headline(r).join("\n");
    s.push('\n');
    s.push_str(&t.to_string());
    s.push('\n');
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}

/// The Markdown page.
pub fn markdown(r: &DebugReport, top: Option<usize>) -> String {
    let mut s = format!(
        "# `qbench debug`: {} / {} on {}\n\n",
        r.scenario, r.technique, r.backend
    );
    for h in headline(r) {
        s.push_str(&format!("{h}  \n"));
    }
    if let Some(set) = &r.settings {
        s.push_str(&format!("settings: {set}  \n"));
    }
    s.push_str(
        "\nRanked by the model output's SQNR when only that tensor is quantized (everything else \
         FP32). *SQNR here*: the quantized model's tensor against the FP32 model's (activations: \
         the error accumulated up to that point); *SQNR alone*: the FP32 tensor quantized with \
         the same parameters.\n\n",
    );
    s.push_str(&format!("| {} |\n", HEADER.join(" | ")));
    s.push_str(&format!("|{}\n", "---|".repeat(HEADER.len())));
    for row in rows(r, top) {
        let cells: Vec<String> = row
            .into_iter()
            .enumerate()
            .map(|(i, c)| if i == 2 { format!("`{c}`") } else { c })
            .collect();
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s.push('\n');
    for n in &r.notes {
        s.push_str(&format!("- {n}\n"));
    }
    s
}

/// SQNR along the network's depth: activations (accumulated and alone), weights, and the
/// output's SQNR when only that tensor is quantized.
pub fn chart(r: &DebugReport) -> String {
    let mut entries: Vec<&Entry> = r.entries.iter().collect();
    entries.sort_by_key(|e| e.depth);
    let series = |name: &str, pick: &dyn Fn(&Entry) -> Option<f64>| svg::Series {
        name: name.into(),
        points: entries
            .iter()
            .filter_map(|e| pick(e).map(|v| (e.depth as f64, v, e.tensor.clone())))
            .collect(),
    };
    let act = |e: &Entry| e.kind == Kind::Activation;
    let all = [
        series("output, only this weight quantized", &|e| {
            e.output_sqnr_db.filter(|_| e.kind == Kind::Weight)
        }),
        series("output, only this activation quantized", &|e| {
            e.output_sqnr_db.filter(|_| act(e))
        }),
        series("activation: accumulated", &|e| e.sqnr_db.filter(|_| act(e))),
        series("activation: alone", &|e| e.alone_sqnr_db.filter(|_| act(e))),
        series("weight", &|e| e.sqnr_db.filter(|_| e.kind == Kind::Weight)),
    ];
    let all: Vec<svg::Series> = all.into_iter().filter(|s| !s.points.is_empty()).collect();
    svg::lines(
        &format!(
            "{} / {} on {}: SQNR along the network",
            r.scenario, r.technique, r.backend
        ),
        "depth (node position in the FP32 graph)",
        "SQNR (dB)",
        &all,
        4,
    )
}

/// Writes `<technique>.<backend>.{json,md,svg}` in `dir` (atomically).
pub fn write(r: &DebugReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let stem = format!("{}.{}", r.technique, r.backend);
    let files = [
        ("json", serde_json::to_string_pretty(r)? + "\n"),
        ("md", markdown(r, None)),
        ("svg", chart(r)),
    ];
    let mut written = Vec::new();
    for (ext, text) in files {
        let p = dir.join(format!("{stem}.{ext}"));
        write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    Ok(written)
}
