//! Metrics as plug-ins. Each scores one cell's outputs on the evaluation samples, against the
//! samples' labels or against the FP32 model's outputs on the same samples (the reference).
//!
//! A scenario's `[metric] kind` picks the default set (`top1`: top-1, top-5, KL and the
//! task-agnostic fidelity metrics; `fidelity`: SQNR, cosine and largest error only) and
//! `[metric] extra` adds more, with their parameters:
//! `extra = [{ name = "mask-iou", threshold = 0.3 }]`. Adding a metric is one file implementing
//! [`Metric`] plus one line in [`REGISTRY`]; its score appears in every results file (JSON
//! `metrics`, the CSV and Markdown `metrics` column).
//!
//! Top-1 agreement with FP32 is not here: it compares the predictions of two cells (FP32 rows
//! are compared with another backend's FP32), so the parent computes it after the cells ran.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::measure::logits::Logits;

pub mod cosine;
pub mod kl;
pub mod mask_iou;
pub mod max_abs_err;
pub mod sqnr;
pub mod top1;
pub mod top5;

/// What a metric scores.
pub struct Inputs<'a> {
    /// This cell's outputs, one row per evaluated sample.
    pub outputs: &'a Logits,
    /// The FP32 model's outputs on the same samples (absent in FP32 cells).
    pub reference: Option<&'a Logits>,
    /// The samples' labels, when the data has them.
    pub labels: Option<&'a [u32]>,
}

/// A metric's value and, where it has one, its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<[f64; 2]>,
}

/// One metric.
pub trait Metric {
    /// The name results files use.
    fn name(&self) -> &'static str;
    /// The score, or `None` when it does not apply to these inputs (no labels, no reference,
    /// too few values per sample).
    fn score(&self, inputs: &Inputs) -> Result<Option<Score>>;
}

/// Builds a metric from its parameters in the scenario file.
pub type Build = fn(&BTreeMap<String, f64>) -> Result<Box<dyn Metric>>;

/// Every metric qbench knows, by name.
pub const REGISTRY: &[(&str, Build)] = &[
    ("top1", top1::build),
    ("top5", top5::build),
    ("kl", kl::build),
    ("sqnr", sqnr::build),
    ("cosine", cosine::build),
    ("max-abs-err", max_abs_err::build),
    ("mask-iou", mask_iou::build),
];

/// Metrics with a column of their own in the tables (the others share the `metrics` column).
pub const OWN_COLUMNS: &[&str] = &["top1", "top5", "kl", "sqnr", "cosine", "max-abs-err"];

/// A metric named in a scenario file, with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    pub name: String,
    #[serde(flatten)]
    pub params: BTreeMap<String, f64>,
}

/// Builds the metric `spec` names; an unknown name lists the known ones.
pub fn build(spec: &MetricSpec) -> Result<Box<dyn Metric>> {
    match REGISTRY.iter().find(|(n, _)| *n == spec.name) {
        Some((_, b)) => b(&spec.params),
        None => bail!(
            "unknown metric '{}' (known: {})",
            spec.name,
            REGISTRY
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Refuses parameters a metric does not take.
pub fn only_params(name: &str, params: &BTreeMap<String, f64>, known: &[&str]) -> Result<()> {
    if let Some(k) = params.keys().find(|k| !known.contains(&k.as_str())) {
        bail!(
            "metric '{name}' has no parameter '{k}' (it takes: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(())
}

/// The names of the default set of a scenario's metric kind.
pub fn defaults(labelled: bool) -> &'static [&'static str] {
    if labelled {
        &["top1", "top5", "kl", "sqnr", "cosine", "max-abs-err"]
    } else {
        &["sqnr", "cosine", "max-abs-err"]
    }
}

/// Scores `inputs` with every metric in `metrics` that applies.
pub fn score_all(metrics: &[Box<dyn Metric>], inputs: &Inputs) -> Result<BTreeMap<String, Score>> {
    let mut out = BTreeMap::new();
    for m in metrics {
        if let Some(s) = m.score(inputs)? {
            out.insert(m.name().to_string(), s);
        }
    }
    Ok(out)
}

/// Mean of `values` and its 95% interval, mean ± 1.96·s/√n (no interval below two values).
pub fn mean_ci95(values: &[f64]) -> Score {
    let n = values.len() as f64;
    let value = values.iter().sum::<f64>() / n;
    let ci95 = (values.len() >= 2).then(|| {
        let var = values.iter().map(|v| (v - value).powi(2)).sum::<f64>() / (n - 1.0);
        let half = 1.96 * (var / n).sqrt();
        [value - half, value + half]
    });
    Score { value, ci95 }
}

/// The reference and the outputs when both are there and have the same shape.
pub fn paired<'a>(inputs: &Inputs<'a>) -> Result<Option<(&'a Logits, &'a Logits)>> {
    let Some(r) = inputs.reference else {
        return Ok(None);
    };
    let m = inputs.outputs;
    if r.rows != m.rows || r.classes != m.classes {
        bail!(
            "the reference outputs are {} x {} but the model's are {} x {}",
            r.rows,
            r.classes,
            m.rows,
            m.classes
        );
    }
    if r.rows == 0 || r.classes == 0 {
        bail!("no outputs to compare");
    }
    Ok(Some((r, m)))
}

/// `f(reference row, model row)` for every sample, averaged with its 95% interval (`None`
/// without a reference).
pub fn per_sample_mean(
    inputs: &Inputs,
    f: impl Fn(&[f32], &[f32]) -> f64,
) -> Result<Option<Score>> {
    let Some((r, m)) = paired(inputs)? else {
        return Ok(None);
    };
    let values: Vec<f64> = r
        .data
        .chunks(r.classes)
        .zip(m.data.chunks(m.classes))
        .map(|(a, b)| f(a, b))
        .collect();
    Ok(Some(mean_ci95(&values)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn logits(classes: usize, data: Vec<f32>) -> Logits {
        Logits {
            rows: data.len() / classes,
            classes,
            data,
        }
    }

    #[test]
    fn every_registered_metric_builds_and_names_itself() {
        for (name, b) in REGISTRY {
            assert_eq!(b(&BTreeMap::new()).unwrap().name(), *name);
        }
    }

    #[test]
    fn unknown_names_and_parameters_are_refused() {
        let spec = MetricSpec {
            name: "f1".into(),
            params: BTreeMap::new(),
        };
        let e = build(&spec).err().unwrap().to_string();
        assert!(
            e.contains("unknown metric 'f1'") && e.contains("mask-iou"),
            "{e}"
        );
        let spec = MetricSpec {
            name: "cosine".into(),
            params: [("threshold".to_string(), 0.5)].into(),
        };
        let e = build(&spec).err().unwrap().to_string();
        assert!(e.contains("no parameter 'threshold'"), "{e}");
    }

    #[test]
    fn specs_read_from_toml_with_their_parameters() {
        #[derive(Deserialize)]
        struct T {
            extra: Vec<MetricSpec>,
        }
        let t: T = toml::from_str("extra = [{ name = \"mask-iou\", threshold = 0.3 }]").unwrap();
        assert_eq!(t.extra[0].name, "mask-iou");
        assert_eq!(t.extra[0].params["threshold"], 0.3);
    }

    #[test]
    fn metrics_that_do_not_apply_are_left_out() {
        let out = logits(2, vec![1.0, 0.0, 0.0, 1.0]);
        let all: Vec<_> = REGISTRY
            .iter()
            .map(|(_, b)| b(&BTreeMap::new()).unwrap())
            .collect();
        // No labels, no reference: nothing applies.
        let none = Inputs {
            outputs: &out,
            reference: None,
            labels: None,
        };
        assert!(score_all(&all, &none).unwrap().is_empty());
        let labels = [0, 1];
        let with = Inputs {
            outputs: &out,
            reference: Some(&out),
            labels: Some(&labels),
        };
        let s = score_all(&all, &with).unwrap();
        assert_eq!(s["top1"].value, 1.0);
        assert_eq!(s["cosine"].value, 1.0);
        // Two classes: no top-5.
        assert!(!s.contains_key("top5"));
    }

    #[test]
    fn mean_interval_by_hand() {
        let s = mean_ci95(&[1.0, 0.0]);
        let half = 1.96 * (0.5f64 / 2.0).sqrt();
        assert_eq!(s.value, 0.5);
        let [lo, hi] = s.ci95.unwrap();
        assert!((lo - (0.5 - half)).abs() < 1e-12 && (hi - (0.5 + half)).abs() < 1e-12);
        assert_eq!(mean_ci95(&[0.7]).ci95, None);
    }
}
