//! Warnings about the FP32 baseline itself: when it scores at chance level or produces NaN or
//! infinity, every quantized row is compared with a broken reference, and the run's summary says
//! so rather than leaving it to the numbers (usually a preprocessing or label mistake).

use crate::record::{Row, Status};
use crate::registry::FP32;

/// One warning per FP32 cell that is at or near chance level (its accuracy's 95% interval
/// reaches a tenth of the way from `1 / classes` to 100%) or failed on a non-finite output.
pub fn fp32_warnings(rows: &[Row], classes: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows.iter().filter(|r| r.technique == FP32) {
        let cell = format!(
            "FP32 on {} (batch {}, {} threads)",
            r.backend, r.batch, r.threads
        );
        match r.status {
            Status::Failed
                if r.reason
                    .as_deref()
                    .is_some_and(|x| x.contains("NaN or infinity")) =>
            {
                out.push(format!(
                    "{cell} produces NaN or infinity: the baseline is broken; check the model and \
                     the preprocessing (mean, std)"
                ));
            }
            Status::Ok => {
                let (Some(acc), Some(k)) = (r.accuracy, classes.filter(|k| *k >= 2)) else {
                    continue;
                };
                let chance = 1.0 / k as f64;
                let low = r.accuracy_ci95.map_or(acc, |ci| ci[0]);
                if low <= chance + 0.1 * (1.0 - chance) {
                    out.push(format!(
                        "{cell} scores {:.1}%, near chance level for {k} classes ({:.1}%): the \
                         baseline is not working; check the preprocessing (mean, std, channel \
                         order) and the labels",
                        acc * 100.0,
                        chance * 100.0
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RowKey;

    fn row(technique: &str, status: Status, acc: Option<f64>, ci: Option<[f64; 2]>) -> Row {
        let key = RowKey {
            technique: technique.into(),
            framework: "qbench".into(),
            backend: "ort".into(),
            format: "fp32".into(),
            threads: 2,
            batch: 1,
            throughput_batch: 64,
        };
        let mut r = Row::not_run(key, status, String::new());
        r.accuracy = acc;
        r.accuracy_ci95 = ci;
        r
    }

    #[test]
    fn chance_level_and_non_finite_baselines_are_named() {
        let ok = row(FP32, Status::Ok, Some(0.92), Some([0.90, 0.94]));
        let chance = row(FP32, Status::Ok, Some(0.12), Some([0.08, 0.17]));
        let near = row(FP32, Status::Ok, Some(0.22), Some([0.18, 0.26]));
        let weak_but_working = row(FP32, Status::Ok, Some(0.35), Some([0.31, 0.39]));
        let mut nan = row(FP32, Status::Failed, None, None);
        nan.reason = Some("output contains NaN or infinity".into());
        let quantized_at_chance = row("ort-static-minmax", Status::Ok, Some(0.1), None);
        assert!(fp32_warnings(&[ok, quantized_at_chance, weak_but_working], Some(10)).is_empty());
        assert_eq!(fp32_warnings(&[near], Some(10)).len(), 1);
        let w = fp32_warnings(&[chance], Some(10));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("12.0%") && w[0].contains("10 classes"),
            "{w:?}"
        );
        let w = fp32_warnings(&[nan], Some(10));
        assert!(w[0].contains("NaN or infinity"), "{w:?}");
        // Without a class count (fidelity runs) accuracy is not judged.
        assert!(fp32_warnings(&[row(FP32, Status::Ok, Some(0.1), None)], None).is_empty());
    }
}
