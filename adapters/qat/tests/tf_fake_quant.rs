//! `tf_fake_quant` against TensorFlow 2.21's `fake_quant_with_min_max_vars` (fixture from
//! `scripts/tf_fake_quant_reference.py`): the same outputs and input gradients, bit for bit, over
//! 761 inputs (grid points, midpoints and their neighbours, and values far outside) and six
//! ranges (TF-MOT's initial -6..6, ranges that need nudging, ranges above and below zero,
//! symmetric narrow-range weights, 4 bits).

use candle_core::{Device, Tensor, Var};
use qbench_qat::{tf_fake_quant, TfFakeQuant};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| f32::from_bits(b.as_u64().unwrap() as u32))
        .collect()
}

/// Up to five (input, ours, TensorFlow's) where the bits differ.
fn mismatches(x: &[f32], ours: &[f32], theirs: &[f32]) -> Vec<(f32, f32, f32)> {
    (0..x.len())
        .filter(|&i| ours[i].to_bits() != theirs[i].to_bits())
        .map(|i| (x[i], ours[i], theirs[i]))
        .take(5)
        .collect()
}

#[test]
fn outputs_and_gradients_match_tensorflow_bit_for_bit() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tf_fake_quant.json"
    );
    let f: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let x = floats(&f["input_bits"]);
    let n = x.len();
    let dev = Device::Cpu;
    let upstream =
        Tensor::from_vec((1..=n).map(|k| k as f32).collect::<Vec<_>>(), n, &dev).unwrap();
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for c in cases {
        let q = TfFakeQuant {
            min: c["min"].as_f64().unwrap() as f32,
            max: c["max"].as_f64().unwrap() as f32,
            num_bits: c["num_bits"].as_u64().unwrap() as u32,
            narrow_range: c["narrow_range"].as_bool().unwrap(),
        };
        let v = Var::from_vec(x.clone(), n, &dev).unwrap();
        let y = tf_fake_quant(v.as_tensor(), &q).unwrap();
        let got: Vec<f32> = y.to_vec1().unwrap();
        let bad = mismatches(&x, &got, &floats(&c["output_bits"]));
        assert!(
            bad.is_empty(),
            "{q:?}: (input, ours, TensorFlow's): {bad:?}"
        );
        let grads = y
            .mul(&upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g: Vec<f32> = grads.get(v.as_tensor()).unwrap().to_vec1().unwrap();
        let bad = mismatches(&x, &g, &floats(&c["grad_bits"]));
        assert!(
            bad.is_empty(),
            "{q:?} gradient: (input, ours, TensorFlow's): {bad:?}"
        );
    }
}
