//! QOperator-lite against the QDQ model it was rewritten from, on ONNX Runtime and on tract:
//! the resnet scenario quantized like `ort-static-minmax` (MinMax on the calibration split,
//! int8 activations, int8 per-tensor weights), its per-channel variant and a uint8-activation
//! variant, each run over the first 1,000 evaluation images. On each backend the rewritten model
//! must give the same top-1 class as the QDQ model for at least 99% of the images, and logits
//! within [`TRACT`] / [`ORT`] (counted in steps of the output quantizer).
//!
//! `qoperator_latency` (ignored; run with `--ignored --test-threads=1`) times 200 batch-1 runs
//! of each model on each backend and prints the medians.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use qbench::calibration::CandleCalibration;
use qbench::registry;
use qbench::scenario::Scenario;
use qbench_core::{Artifact, Batch, Format, LoadOptions};
use qbench_onnx::Model;
use qbench_quant::qdq::{ort_qdq, OrtQdqConfig};
use qbench_quant::qoperator::qoperator_lite;
use qbench_quant::recipe::ActivationSource;
use qbench_quant::{QType, Range};

/// Evaluation images compared.
const IMAGES: usize = 1000;
const BATCH: usize = 100;
const CLASSES: usize = 10;
const THREADS: usize = 2;

/// The FP32 model, its MinMax calibration ranges and the first evaluation images, once per run.
struct Setup {
    fp32: Artifact,
    model: Model,
    ranges: HashMap<String, Range>,
    data: Vec<f32>,
    labels: Vec<u32>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let sc = Scenario::load_resolved(&common::scenarios(), "resnet").unwrap();
        let fp32 = sc.fp32_artifact().unwrap();
        let model = Model::load(&fp32.path).unwrap();
        // ORT's MinMax calibrator, as the `ort-static-minmax` recipe runs it.
        let mut calib = CandleCalibration::new(&fp32, sc.calib_data().unwrap()).unwrap();
        let ranges = calib.global_minmax().unwrap();
        let eval = sc.eval_data().unwrap();
        let data = qbench_data::read_batch(eval.as_ref(), 0, IMAGES).unwrap();
        let labels = qbench_data::labels(eval.as_ref()).unwrap()[..IMAGES].to_vec();
        Setup {
            fp32,
            model,
            ranges,
            data,
            labels,
        }
    })
}

/// The QDQ model of one configuration and its QOperator-lite rewrite, saved in `dir`.
fn artifacts(cfg: &OrtQdqConfig, dir: &Path) -> (Model, Model, Artifact, Artifact) {
    let s = setup();
    let qdq = ort_qdq(&s.model, &s.ranges, cfg).unwrap();
    let qop = qoperator_lite(&qdq).unwrap();
    let art = |name: &str, format: Format, m: &Model| {
        let path = dir.join(format!("{name}.onnx"));
        m.save(&path).unwrap();
        Artifact {
            technique: name.into(),
            format,
            path,
            ..s.fp32.clone()
        }
    };
    let (a, b) = (
        art("qdq", Format::Qdq, &qdq),
        art("qoperator-lite", Format::QOperator, &qop),
    );
    (qdq, qop, a, b)
}

fn logits(backend: &str, artifact: &Artifact, data: &[f32]) -> Vec<f32> {
    assert_eq!(THREADS, 2, "common::outputs runs with 2 threads");
    let out = common::outputs(backend, artifact, data, IMAGES, BATCH);
    assert_eq!(out.len(), IMAGES * CLASSES);
    out
}

fn argmax(logits: &[f32]) -> Vec<usize> {
    logits
        .chunks(CLASSES)
        .map(|r| (0..CLASSES).max_by(|a, b| r[*a].total_cmp(&r[*b])).unwrap())
        .collect()
}

fn accuracy(pred: &[usize], labels: &[u32]) -> f64 {
    pred.iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as usize)
        .count() as f64
        / pred.len() as f64
}

fn count(m: &Model, op: &str) -> usize {
    m.graph.nodes.iter().filter(|n| n.op_type == op).count()
}

/// The operators the rewrite must produce for the resnet graph.
fn check_structure(fp32: &Model, qdq: &Model, qop: &Model) {
    let convs = count(fp32, "Conv");
    assert!(convs > 0);
    assert_eq!(count(qop, "Conv"), 0, "every Conv rewritten");
    assert_eq!(count(qop, "Gemm"), 0, "the Gemm rewritten");
    assert_eq!(count(qop, "QLinearConv"), convs);
    assert_eq!(count(qop, "MatMulInteger"), count(fp32, "Gemm"));
    for op in ["Add", "GlobalAveragePool", "Flatten"] {
        assert!(count(qop, op) >= count(fp32, op), "{op} kept in float");
    }
    assert!(qop.graph.nodes.iter().all(|n| n.domain.is_empty()));
    assert_eq!(qop.opset_imports, qdq.opset_imports);
    // Every activation QuantizeLinear is either still there or now a QLinearConv.
    assert_eq!(
        count(qdq, "QuantizeLinear"),
        count(qop, "QuantizeLinear") + convs
    );
}

/// Logit differences, in steps of the output quantizer (`logits_scale`).
struct Diff {
    agree: f64,
    max_steps: f32,
    mean_steps: f32,
    /// Fraction of logits more than 2 steps apart.
    over2: f64,
}

fn diff(a: &[f32], b: &[f32], step: f32) -> Diff {
    let (pa, pb) = (argmax(a), argmax(b));
    let agree = pa.iter().zip(&pb).filter(|(x, y)| x == y).count() as f64 / pa.len() as f64;
    let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs() / step).collect();
    Diff {
        agree,
        max_steps: d.iter().copied().fold(0.0, f32::max),
        mean_steps: d.iter().sum::<f32>() / d.len() as f32,
        over2: d.iter().filter(|v| **v > 2.5).count() as f64 / d.len() as f64,
    }
}

const MIN_AGREEMENT: f64 = 0.99;

/// How far the QOperator-lite logits may be from the QDQ model's on one backend, in steps of
/// the output quantizer (`logits_scale`).
struct Tolerance {
    mean_steps: f32,
    max_steps: f32,
    /// Largest fraction of logits more than 2 steps apart.
    over2: f64,
}

/// tract runs the QDQ model as exact float fake-quantization, so the rewrite differs from it only
/// where an integer requantization rounds a value to the neighbouring step (measured: at most 1
/// step on the logits).
const TRACT: Tolerance = Tolerance {
    mean_steps: 0.02,
    max_steps: 2.0,
    over2: 0.0,
};

/// ONNX Runtime does not run an int8-activation QDQ model as the integer QLinearConv computes
/// it on x86: int8 QDQ groups are not fused directly there (`QDQIsInt8Allowed()` is false off
/// ARM) but go through its S8->U8 rewrites first. Measured on a 2-core AMD EPYC (AVX2, no VNNI):
/// QDQ vs QOperator-lite up to 13 steps on 0.27% of the logits (per-channel), while
/// QOperator-lite on ORT and on tract agree within 1 step. uint8 QDQ is fused by ORT into the
/// same QLinearConv as ours (0 steps).
const ORT: Tolerance = Tolerance {
    mean_steps: 0.05,
    max_steps: 16.0,
    over2: 0.005,
};

fn report(what: &str, d: &Diff, step: f32) {
    eprintln!(
        "{what}: top-1 agreement {:.4}; logits |diff| in steps of {step}: mean {:.4}, max {:.0}, \
         {:.4}% over 2 steps",
        d.agree,
        d.mean_steps,
        d.max_steps,
        d.over2 * 100.0
    );
}

fn check(name: &str, cfg: OrtQdqConfig) {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let (qdq, qop, qdq_art, qop_art) = artifacts(&cfg, dir.path());
    check_structure(&s.model, &qdq, &qop);
    let step = qdq
        .graph
        .initializer("logits_scale")
        .expect("output quantizer scale")
        .to_f32()
        .unwrap()[0];
    let mut qop_logits = Vec::new();
    for (backend, tol) in [("ort", ORT), ("tract", TRACT)] {
        let a = logits(backend, &qdq_art, &s.data);
        let b = logits(backend, &qop_art, &s.data);
        let d = diff(&a, &b, step);
        report(
            &format!("{name}, {backend}, QOperator-lite vs QDQ"),
            &d,
            step,
        );
        eprintln!(
            "{name}, {backend}: accuracy on {IMAGES} images QDQ {:.4}, QOperator-lite {:.4}",
            accuracy(&argmax(&a), &s.labels),
            accuracy(&argmax(&b), &s.labels)
        );
        assert!(
            d.agree >= MIN_AGREEMENT,
            "{name} on {backend}: top-1 agreement {}",
            d.agree
        );
        assert!(
            d.mean_steps <= tol.mean_steps && d.max_steps <= tol.max_steps && d.over2 <= tol.over2,
            "{name} on {backend}: logits differ by {} steps on average, {} at most, {} of them \
             by more than 2",
            d.mean_steps,
            d.max_steps,
            d.over2
        );
        qop_logits.push(b);
    }
    let d = diff(&qop_logits[0], &qop_logits[1], step);
    report(&format!("{name}, QOperator-lite, ort vs tract"), &d, step);
    assert!(d.agree >= MIN_AGREEMENT);
}

#[test]
fn qoperator_lite_matches_qdq_ort_static_minmax() {
    check("ort-static-minmax", OrtQdqConfig::default());
}

#[test]
fn qoperator_lite_matches_qdq_per_channel() {
    check(
        "ort-static-minmax-per-channel",
        OrtQdqConfig {
            per_channel: true,
            ..OrtQdqConfig::default()
        },
    );
}

#[test]
fn qoperator_lite_matches_qdq_uint8_activations() {
    check(
        "ort-static-minmax-u8",
        OrtQdqConfig {
            activation: QType::UINT8,
            ..OrtQdqConfig::default()
        },
    );
}

/// Median of 200 batch-1 runs (after 20 warm-up runs) per model and backend, one thread.
#[test]
#[ignore = "timing; run with --ignored --test-threads=1 --nocapture"]
fn qoperator_latency() {
    const RUNS: usize = 200;
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let image = 28 * 28;
    for (name, cfg) in [
        ("s8 per-tensor", OrtQdqConfig::default()),
        (
            "s8 per-channel",
            OrtQdqConfig {
                per_channel: true,
                ..OrtQdqConfig::default()
            },
        ),
        (
            "u8 per-tensor",
            OrtQdqConfig {
                activation: QType::UINT8,
                ..OrtQdqConfig::default()
            },
        ),
    ] {
        let sub = dir.path().join(name.replace(' ', "_"));
        std::fs::create_dir_all(&sub).unwrap();
        let (_, _, qdq, qop) = artifacts(&cfg, &sub);
        for threads in [1, 2] {
            for backend in ["ort", "tract"] {
                let mut p50 = Vec::new();
                for art in [&s.fp32, &qdq, &qop] {
                    let b = registry::backend(backend).unwrap();
                    let mut sess = b.load(art, &LoadOptions { threads, batch: 1 }).unwrap();
                    let mut times = Vec::with_capacity(RUNS);
                    for i in 0..RUNS + 20 {
                        let x = &s.data[(i % IMAGES) * image..(i % IMAGES + 1) * image];
                        let t = Instant::now();
                        sess.run(&Batch {
                            data: x,
                            dims: &[1, 1, 28, 28],
                        })
                        .unwrap();
                        if i >= 20 {
                            times.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                    }
                    times.sort_by(f64::total_cmp);
                    p50.push(times[RUNS / 2]);
                }
                eprintln!(
                    "latency p50 ({name}, {backend}, {threads} thread(s), batch 1, {RUNS} runs): \
                     fp32 {:.3} ms, QDQ {:.3} ms, QOperator-lite {:.3} ms",
                    p50[0], p50[1], p50[2]
                );
            }
        }
    }
}
