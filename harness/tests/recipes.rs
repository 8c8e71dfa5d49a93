//! Each framework recipe applied to the resnet scenario's model with its real calibration split:
//! the written artifact follows that framework's rules (types, symmetry, ranges, granularity).

mod common;

use std::collections::HashMap;

use qbench::calibration::CandleCalibration;
use qbench::registry;
use qbench::scenario::Scenario;
use qbench_core::Format;
use qbench_onnx::{DType, Model, TensorData};
use qbench_quant::recipe::{Quantized, Technique};

fn technique(name: &str) -> Box<dyn Technique> {
    registry::techniques()
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no technique {name}"))
}

fn fp32() -> Model {
    let sc = Scenario::load_resolved(&common::scenarios(), "resnet").unwrap();
    Model::load(&sc.fp32_artifact().unwrap().path).unwrap()
}

fn apply(name: &str) -> Quantized {
    let sc = Scenario::load_resolved(&common::scenarios(), "resnet").unwrap();
    let fp32 = sc.fp32_artifact().unwrap();
    let model = Model::load(&fp32.path).unwrap();
    let mut calib = CandleCalibration::new(&fp32, sc.calib_data().unwrap()).unwrap();
    technique(name).apply(&model, &mut calib).unwrap()
}

fn init<'a>(m: &'a Model, name: &str) -> &'a TensorData {
    m.graph
        .initializer(name)
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

fn ints(t: &TensorData) -> Vec<i32> {
    match t.dtype {
        DType::I8 => t.to_i8().unwrap().into_iter().map(i32::from).collect(),
        DType::U8 => t.to_u8().unwrap().into_iter().map(i32::from).collect(),
        DType::I16 => t.to_i16().unwrap().into_iter().map(i32::from).collect(),
        DType::I32 => t.to_i32().unwrap(),
        other => panic!("{} is {other:?}", t.name),
    }
}

/// (weight name, op type) of every Conv/Gemm of the FP32 model.
fn weights() -> Vec<(String, String, Vec<f32>, Vec<i64>)> {
    let m = fp32();
    m.graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "Conv" || n.op_type == "Gemm")
        .map(|n| {
            let w = init(&m, &n.inputs[1]);
            (
                w.name.clone(),
                n.op_type.clone(),
                w.to_f32().unwrap(),
                w.dims.clone(),
            )
        })
        .collect()
}

fn per_channel_absmax(v: &[f32], channels: usize) -> Vec<f32> {
    v.chunks(v.len() / channels)
        .map(|c| c.iter().fold(0f32, |a, x| a.max(x.abs())))
        .collect()
}

/// The nodes of one operator type, in graph order.
fn nodes<'a>(m: &'a Model, op: &str) -> Vec<&'a qbench_onnx::Node> {
    m.graph.nodes.iter().filter(|n| n.op_type == op).collect()
}

fn count(m: &Model, op: &str) -> usize {
    nodes(m, op).len()
}

#[test]
fn tflite_full_int8_uses_tflite_weight_rules() {
    let q = apply("tflite-full-int8");
    assert_eq!(q.format, Format::QOperator);
    assert_eq!(count(&q.model, "Conv"), 0, "integer convolutions");
    assert!(count(&q.model, "QLinearConv") > 0);
    assert_eq!(count(&q.model, "MatMulInteger"), 1);
    // Conv weights (the Gemm's scale is folded into its MatMulInteger rescale).
    for (w, op, v, dims) in weights().into_iter().filter(|w| w.1 == "Conv") {
        let s = init(&q.model, &format!("{w}_scale")).to_f32().unwrap();
        let qv = ints(init(&q.model, &format!("{w}_quantized")));
        // Symmetric narrow range: -128 never appears.
        assert!(qv.iter().all(|x| (-127..=127).contains(x)), "{w}");
        if op == "Conv" {
            assert_eq!(s.len(), dims[0] as usize, "{w}: per channel");
            for (sc, m) in s.iter().zip(per_channel_absmax(&v, dims[0] as usize)) {
                assert_eq!(*sc, (2.0 * m) / 254.0, "{w}: scale = 2·absmax/254 in f32");
            }
        } else {
            assert_eq!(s.len(), 1, "{w}: fully connected is per tensor");
        }
    }
    // Activations int8; flatten shares its input's parameters.
    let flat = q
        .model
        .graph
        .nodes
        .iter()
        .find(|n| n.op_type == "Flatten")
        .unwrap()
        .clone();
    let src = flat.inputs[0].trim_end_matches("_DequantizeLinear_Output");
    let dst = &flat.outputs[0];
    assert_eq!(
        init(&q.model, &format!("{src}_scale")).to_f32().unwrap(),
        init(&q.model, &format!("{dst}_scale")).to_f32().unwrap()
    );
    assert_eq!(count(&q.model, "Relu"), 0, "Relu fused");
}

#[test]
fn tflite_int16x8_has_symmetric_int16_activations_at_opset_21() {
    let q = apply("tflite-int16x8");
    assert_eq!(q.format, Format::Qdq16);
    assert!(q.model.opset().unwrap() >= 21);
    let zps: Vec<&TensorData> = nodes(&q.model, "QuantizeLinear")
        .into_iter()
        .map(|n| init(&q.model, &n.inputs[2]))
        .collect();
    assert!(!zps.is_empty());
    for z in zps {
        assert_eq!(z.dtype, DType::I16, "{}", z.name);
        assert_eq!(ints(z), vec![0], "{}: symmetric", z.name);
    }
}

#[test]
fn tflite_dynamic_range_skips_small_tensors() {
    let q = apply("tflite-dynamic-range");
    assert_eq!(q.format, Format::Dynamic);
    let small = weights()
        .iter()
        .filter(|(_, _, v, _)| v.len() < 1024)
        .count();
    let big = weights().len() - small;
    assert!(small > 0 && big > 0);
    assert_eq!(count(&q.model, "Conv") + count(&q.model, "Gemm"), small);
    assert_eq!(
        count(&q.model, "ConvInteger") + count(&q.model, "MatMulInteger"),
        big
    );
}

#[test]
fn tflite_float16_stores_every_float_constant_in_half() {
    let q = apply("tflite-float16");
    assert_eq!(q.format, Format::Fp16);
    assert!(q
        .model
        .graph
        .initializers
        .iter()
        .all(|t| t.dtype != DType::F32));
    let fp: usize = fp32().graph.initializers.iter().map(|t| t.raw.len()).sum();
    let half: usize = q.model.graph.initializers.iter().map(|t| t.raw.len()).sum();
    assert_eq!(half * 2, fp);
}

#[test]
fn pytorch_fbgemm_reduces_the_activation_range_and_uses_absmax_over_127_5() {
    let q = apply("pytorch-fbgemm");
    let clips = nodes(&q.model, "Clip");
    assert!(!clips.is_empty());
    for c in clips {
        assert_eq!(ints(init(&q.model, &c.inputs[1])), vec![0]);
        assert_eq!(
            ints(init(&q.model, &c.inputs[2])),
            vec![127],
            "reduce_range"
        );
    }
    for (w, _, v, dims) in weights().into_iter().filter(|w| w.1 == "Conv") {
        let s = init(&q.model, &format!("{w}_scale")).to_f32().unwrap();
        for (sc, m) in s.iter().zip(per_channel_absmax(&v, dims[0] as usize)) {
            assert!(
                (*sc - m / 127.5).abs() <= f32::EPSILON * sc,
                "{w}: {sc} vs {}",
                m / 127.5
            );
        }
    }
    // qnnpack: full range, per-tensor weights.
    let q = apply("pytorch-qnnpack");
    assert_eq!(count(&q.model, "Clip"), 0);
    for (w, _, _, _) in weights().into_iter().filter(|w| w.1 == "Conv") {
        assert_eq!(init(&q.model, &format!("{w}_scale")).len(), 1);
    }
}

#[test]
fn pytorch_dynamic_quantizes_only_linear_layers() {
    let q = apply("pytorch-dynamic");
    assert_eq!(count(&q.model, "MatMulInteger"), 1);
    assert_eq!(count(&q.model, "ConvInteger"), 0);
    assert_eq!(count(&q.model, "Gemm"), 0);
}

#[test]
fn caffe_dfp8_uses_power_of_two_scales() {
    let q = apply("caffe-dfp8");
    let scales: Vec<f32> = nodes(&q.model, "DequantizeLinear")
        .into_iter()
        .flat_map(|n| init(&q.model, &n.inputs[1]).to_f32().unwrap())
        .collect();
    assert!(!scales.is_empty());
    for s in scales {
        assert_eq!(s.log2().fract(), 0.0, "{s} is not a power of two");
    }
    // Add and pooling are not Ristretto layers: no Q/DQ on the pooled tensor.
    let pool = q
        .model
        .graph
        .nodes
        .iter()
        .find(|n| n.op_type == "GlobalAveragePool")
        .unwrap();
    assert!(!pool.inputs[0].ends_with("_DequantizeLinear_Output"));
}

#[test]
fn caffe_dfp_search_reports_its_chosen_widths() {
    let q = apply("caffe-dfp-search");
    let notes = q.notes.join("; ");
    assert!(notes.contains("chosen conv"), "{notes}");
    assert!(notes.contains("tried conv16:"), "{notes}");
}

#[test]
fn weight_only_q4_0_stores_ggml_blocks() {
    let q = apply("weight-only-q4_0");
    assert_eq!(q.format, Format::WeightOnly);
    assert_eq!(
        count(&q.model, "QuantizeLinear"),
        0,
        "activations stay float"
    );
    for (w, _, v, _) in weights() {
        let qv = ints(init(&q.model, &format!("{w}_quantized")));
        assert!(qv.iter().all(|x| (-8..=8).contains(x)), "{w}");
        assert_eq!(qv.len() % 32, 0);
        assert!(qv.len() >= v.len());
    }
    let meta: HashMap<_, _> = q.model.metadata.iter().cloned().collect();
    assert!(meta["qbench.ggml"].contains("q4_0"));
    let packed = q.packed_bytes.unwrap();
    let fp: u64 = fp32()
        .graph
        .initializers
        .iter()
        .map(|t| t.raw.len() as u64)
        .sum();
    assert!(packed * 3 < fp, "packed {packed} vs fp32 {fp}");
}

#[test]
fn mid_rise_weights_are_odd_and_mid_tread_has_zero() {
    let rise = apply("uniform-midrise-4bit");
    let tread = apply("uniform-midtread-4bit");
    let mut tread_zeros = 0;
    for (w, _, _, _) in weights() {
        let r = ints(init(&rise.model, &format!("{w}_quantized")));
        assert!(
            r.iter().all(|x| x % 2 != 0 && (-15..=15).contains(x)),
            "{w}"
        );
        let t = ints(init(&tread.model, &format!("{w}_quantized")));
        assert!(t.iter().all(|x| (-8..=7).contains(x)), "{w}");
        tread_zeros += t.iter().filter(|x| **x == 0).count();
    }
    assert!(tread_zeros > 0);
    assert_eq!(rise.packed_bytes, tread.packed_bytes);
}

/// Every technique writes the format it declares (`compare --shard` estimates a cell's cost from
/// the declared one, before quantizing). The Ristretto search is left out for its time: it writes
/// the same QDQ graph as `caffe-dfp8`.
#[test]
fn every_technique_writes_the_format_it_declares() {
    for t in registry::techniques() {
        if t.name() == "caffe-dfp-search" {
            assert_eq!(t.format(), Format::Qdq);
            continue;
        }
        let q = apply(t.name());
        assert_eq!(q.format, t.format(), "{}", t.name());
    }
}
