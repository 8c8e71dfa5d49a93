//! Per-backend inference of the `resnet` scenario's FP32 model (batch 1 and batch 64) and one
//! calibration pass, so a change that slows qbench's own code paths (backend adapters, candle
//! interpreter, calibration) shows up. Backends that are unavailable here are skipped.
//!
//! `cargo bench -p qbench`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qbench::calibration::CandleCalibration;
use qbench::registry;
use qbench::scenario::Scenario;
use qbench_core::{Batch, LoadOptions};
use qbench_quant::recipe::ActivationSource;

fn scenario() -> Scenario {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    Scenario::load_resolved(&dir, "resnet").expect("resnet scenario")
}

fn inference(c: &mut Criterion) {
    let sc = scenario();
    let art = sc.fp32_artifact().unwrap();
    let eval = sc.eval_data().expect("evaluation data");
    let i = &art.input;
    let mut g = c.benchmark_group("fp32_inference");
    for backend in registry::backends() {
        if backend.check().is_err() {
            eprintln!("skipping {}: unavailable", backend.name());
            continue;
        }
        for batch in [1usize, 64] {
            let mut s = backend
                .load(&art, &LoadOptions { threads: 2, batch })
                .expect("load");
            let x = qbench_data::read_batch(eval.as_ref(), 0, batch).unwrap();
            let b = Batch {
                data: &x,
                dims: &i.dims(batch),
            };
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(
                BenchmarkId::new(backend.name(), format!("batch{batch}")),
                &b,
                |bench, b| bench.iter(|| s.run(black_box(b)).unwrap()),
            );
        }
    }
    g.finish();
}

fn calibration(c: &mut Criterion) {
    let sc = scenario();
    let calib = sc.calib_data().expect("calibration data");
    let n = calib.len();
    let mut source = CandleCalibration::new(&sc.fp32_artifact().unwrap(), calib).expect("candle");
    let mut g = c.benchmark_group("calibration");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("minmax_pass_candle", |b| {
        b.iter(|| source.global_minmax().unwrap())
    });
    g.finish();
}

criterion_group!(benches, inference, calibration);
criterion_main!(benches);
