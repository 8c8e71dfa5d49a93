//! The quantizer's own kernels: element-wise quantize/dequantize, streaming observers and the
//! graph rewrites on the `resnet` scenario's model (quantize time without calibration).
//!
//! `cargo bench -p qbench-quant`

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qbench_onnx::Model;
use qbench_quant::observer::histogram::Extent;
use qbench_quant::observer::{
    EntropyObserver, MinMaxObserver, Observer, PercentileObserver, TorchHistogramObserver,
};
use qbench_quant::qdq::writer::{activations_of, remove_relus, QUANTIZED_OPS};
use qbench_quant::qdq::{ort_qdq, OrtQdqConfig};
use qbench_quant::{dequantize, quantize, QuantParams, Range};

/// Deterministic pseudo-normal values (no RNG dependency).
fn data(n: usize) -> Vec<f32> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            let mut acc = 0.0f32;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                acc += (s >> 40) as f32 / (1u64 << 24) as f32;
            }
            (acc - 2.0) * 1.7
        })
        .collect()
}

fn elementwise(c: &mut Criterion) {
    let x = data(1 << 20);
    let p = QuantParams::new(4.0 / 127.0, 0, -128, 127).unwrap();
    let q = quantize(&x, &p).unwrap();
    let mut g = c.benchmark_group("elementwise");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function("quantize_int8_1M", |b| {
        b.iter(|| quantize(black_box(&x), &p).unwrap())
    });
    g.bench_function("dequantize_int8_1M", |b| {
        b.iter(|| dequantize(black_box(&q), &p))
    });
    g.finish();
}

fn observers(c: &mut Criterion) {
    // 1,000 batches' worth of one activation tensor (16 x 14 x 14 per image, 50 images).
    let batch = data(50 * 16 * 14 * 14);
    let mut g = c.benchmark_group("observe_one_batch");
    g.throughput(Throughput::Elements(batch.len() as u64));
    type Make = fn() -> Box<dyn Observer>;
    let kinds: Vec<(&str, Make)> = vec![
        ("minmax", || Box::new(MinMaxObserver::global())),
        ("entropy_2048", || Box::new(EntropyObserver::recommended())),
        ("percentile_ort", || {
            Box::new(PercentileObserver::ort_default())
        }),
        ("torch_histogram", || {
            Box::new(TorchHistogramObserver::for_qtype(
                qbench_quant::QType::UINT8,
            ))
        }),
    ];
    for (name, make) in kinds {
        g.bench_with_input(BenchmarkId::from_parameter(name), &batch, |b, batch| {
            let mut o = make();
            o.observe(batch).unwrap();
            b.iter(|| o.observe(black_box(batch)).unwrap());
        });
    }
    // What `ort-static-entropy` / `-percentile` run on their second pass: whole-set edges, on a
    // ReLU output (half the values exactly 0, on an edge of the symmetric histogram).
    let relu: Vec<f32> = batch.iter().map(|v| v.max(0.0)).collect();
    let extent = Extent::of(&relu).unwrap();
    type MakeWhole = fn(Extent) -> Box<dyn Observer>;
    let whole: Vec<(&str, MakeWhole)> = vec![
        ("entropy_whole_set_relu", |e| {
            Box::new(EntropyObserver::ort_whole_set(e))
        }),
        ("percentile_whole_set_relu", |e| {
            Box::new(PercentileObserver::ort_whole_set(e))
        }),
    ];
    for (name, make) in whole {
        g.bench_with_input(BenchmarkId::from_parameter(name), &relu, |b, relu| {
            let mut o = make(extent);
            b.iter(|| o.observe(black_box(relu)).unwrap());
        });
    }
    g.finish();
}

fn rewrite(c: &mut Criterion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/resnet/resnet.onnx");
    let model = Model::load(&path).unwrap();
    let mut relu_free = model.clone();
    remove_relus(&mut relu_free.graph);
    // Every tensor gets a plausible range: the rewrite does not depend on the values.
    let ranges: HashMap<String, Range> = activations_of(&model.graph, QUANTIZED_OPS)
        .into_iter()
        .chain(activations_of(&relu_free.graph, QUANTIZED_OPS))
        .chain(model.graph.nodes.iter().flat_map(|n| n.outputs.clone()))
        .map(|t| (t, Range::new(-1.0, 4.0).unwrap()))
        .collect();
    let mut g = c.benchmark_group("rewrite_resnet");
    g.bench_function("ort_qdq_per_tensor", |b| {
        b.iter(|| ort_qdq(black_box(&model), &ranges, &OrtQdqConfig::default()).unwrap())
    });
    let pc = OrtQdqConfig {
        per_channel: true,
        ..OrtQdqConfig::default()
    };
    g.bench_function("ort_qdq_per_channel", |b| {
        b.iter(|| ort_qdq(black_box(&model), &ranges, &pc).unwrap())
    });
    let qdq = ort_qdq(&model, &ranges, &OrtQdqConfig::default()).unwrap();
    g.bench_function("qoperator_lite", |b| {
        b.iter(|| qbench_quant::qoperator::qoperator_lite(black_box(&qdq)).unwrap())
    });
    g.bench_function("ort_dynamic", |b| {
        b.iter(|| qbench_quant::dynamic::ort_dynamic(black_box(&model)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, elementwise, observers, rewrite);
criterion_main!(benches);
