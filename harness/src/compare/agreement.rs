//! Agreement with FP32 and the paired accuracy change, from the cells' predictions.

use std::collections::HashMap;

use crate::measure::accuracy::{agreement, paired, wilson95};
use crate::record::{Row, Status};
use crate::registry;

pub(super) use crate::record::CellId;

pub(super) fn cell_id(technique: &str, r: &Row) -> CellId {
    (technique.to_string(), r.backend.clone(), r.batch, r.threads)
}

/// Agreement of each row's predictions with its FP32 reference: the FP32 artifact on the same
/// backend at the same batch and threads, or, for FP32 rows, the first backend whose FP32
/// cell succeeded.
pub(super) fn fill_agreement(
    rows: &mut [Row],
    predictions: &HashMap<CellId, Vec<u32>>,
    labels: &[u32],
    agreement_applies: bool,
) {
    let first_fp32 = |r: &Row| {
        rows.iter()
            .find(|f| {
                f.technique == registry::FP32
                    && f.batch == r.batch
                    && f.threads == r.threads
                    && predictions.contains_key(&cell_id(registry::FP32, f))
            })
            .map(|f| f.backend.clone())
    };
    let references: Vec<Option<String>> = rows
        .iter()
        .map(|r| {
            if r.technique == registry::FP32 {
                first_fp32(r)
            } else {
                Some(r.backend.clone())
            }
        })
        .collect();
    for (r, reference) in rows.iter_mut().zip(references) {
        if r.status != Status::Ok {
            continue;
        }
        let Some(reference) = reference else { continue };
        let mine = predictions.get(&cell_id(&r.technique, r));
        let theirs = predictions.get(&(
            registry::FP32.to_string(),
            reference.clone(),
            r.batch,
            r.threads,
        ));
        if let (Some(a), Some(b), true) = (mine, theirs, agreement_applies) {
            r.agreement_with_fp32 = agreement(a, b);
            r.agreement_ci95 = r.agreement_with_fp32.map(|p| {
                let n = a.len().min(b.len());
                let (lo, hi) = wilson95((p * n as f64).round() as usize, n);
                [lo, hi]
            });
            r.agreement_reference = Some(format!("fp32 on {reference}"));
        }
    }
    // Accuracy change against the FP32 artifact on the same backend, batch and threads.
    let fp32_acc: HashMap<(String, usize, usize), f64> = rows
        .iter()
        .filter(|r| r.technique == registry::FP32)
        .filter_map(|r| Some(((r.backend.clone(), r.batch, r.threads), r.accuracy?)))
        .collect();
    for r in rows.iter_mut().filter(|r| r.technique != registry::FP32) {
        r.accuracy_delta_vs_fp32 = match (
            r.accuracy,
            fp32_acc.get(&(r.backend.clone(), r.batch, r.threads)),
        ) {
            (Some(a), Some(f)) => Some(a - f),
            _ => None,
        };
        // Paired on the same images: interval of the difference and McNemar's exact test.
        let mine = predictions.get(&cell_id(&r.technique, r));
        let fp32 = predictions.get(&cell_id(registry::FP32, r));
        if let (Some(q), Some(f)) = (mine, fp32) {
            if let Some(p) = paired(f, q, labels) {
                r.accuracy_delta_ci95 = Some(p.ci95);
                r.mcnemar_p = Some(p.p_value);
            }
        }
    }
}

/// [`fill_agreement`] over this run's rows and the FP32 cells a shard measured as references
/// only, in plan order (`position`), so that every row is compared with the FP32 cell it would be
/// compared with in the unsharded run; `rows` keep their order and the references stay out.
pub(super) fn fill_with_references(
    rows: &mut Vec<Row>,
    references: &[Row],
    position: impl Fn(&Row) -> usize,
    predictions: &HashMap<CellId, Vec<u32>>,
    labels: &[u32],
    agreement_applies: bool,
) {
    if references.is_empty() {
        return fill_agreement(rows, predictions, labels, agreement_applies);
    }
    // (plan position, index among the run's rows or None for a reference, row)
    let mut all: Vec<(usize, Option<usize>, Row)> = rows
        .drain(..)
        .enumerate()
        .map(|(i, r)| (position(&r), Some(i), r))
        .chain(references.iter().map(|r| (position(r), None, r.clone())))
        .collect();
    all.sort_by_key(|(p, _, _)| *p);
    let (places, mut flat): (Vec<Option<usize>>, Vec<Row>) =
        all.into_iter().map(|(_, i, r)| (i, r)).unzip();
    fill_agreement(&mut flat, predictions, labels, agreement_applies);
    let mut back: Vec<(usize, Row)> = places
        .into_iter()
        .zip(flat)
        .filter_map(|(i, r)| i.map(|i| (i, r)))
        .collect();
    back.sort_by_key(|(i, _)| *i);
    *rows = back.into_iter().map(|(_, r)| r).collect();
}
