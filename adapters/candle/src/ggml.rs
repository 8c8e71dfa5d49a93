//! Native GGML weights: Gemm nodes listed in the model's `qbench.ggml` metadata run with
//! candle's `QMatMul` on a Q4_0 or Q8_0 copy of their (constant) weight.
//!
//! The metadata value is a JSON object mapping a Gemm node name to `"q4_0"` or `"q8_0"`, e.g.
//! `{"fc": "q4_0"}`. The artifact's float weight already lies on that GGML grid, so
//! `QTensor::quantize` reproduces the quantizer's blocks losslessly. At run time candle
//! quantizes each activation row to Q8_0 (blocks of 32, f16 scale) and takes integer block dot
//! products, so results are close to, not equal to, the float Gemm.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Module, Tensor};
use qbench_onnx::{Model, Node};

use crate::tensor_util::{e, R};

/// Metadata key naming the Gemm nodes to run with GGML weights.
pub const METADATA_KEY: &str = "qbench.ggml";

/// Display name of a supported GGML type.
pub fn dtype_name(t: GgmlDType) -> &'static str {
    match t {
        GgmlDType::Q4_0 => "Q4_0",
        GgmlDType::Q8_0 => "Q8_0",
        _ => "other",
    }
}

/// The `(node name, GGML type)` pairs the model's `qbench.ggml` metadata asks for (empty when
/// the key is absent), in the order of the JSON object.
pub fn requested(model: &Model) -> R<Vec<(String, GgmlDType)>> {
    let Some((_, json)) = model.metadata.iter().find(|(k, _)| k == METADATA_KEY) else {
        return Ok(Vec::new());
    };
    let entries = parse_object(json).map_err(|r| {
        format!(
            "metadata {METADATA_KEY} must be a JSON object of node name -> \"q4_0\" | \"q8_0\": \
             {r}"
        )
    })?;
    entries
        .into_iter()
        .map(|(node, kind)| {
            let t = match kind.to_ascii_lowercase().as_str() {
                "q4_0" => GgmlDType::Q4_0,
                "q8_0" => GgmlDType::Q8_0,
                _ => {
                    return Err(format!(
                        "metadata {METADATA_KEY}: node {node} asks for GGML type {kind:?} \
                         (supported: \"q4_0\", \"q8_0\")"
                    ))
                }
            };
            Ok((node, t))
        })
        .collect()
}

/// The note shown next to measured cells of an artifact with GGML layers.
pub fn note(layers: &[(String, String)]) -> Option<String> {
    if layers.is_empty() {
        return None;
    }
    let parts: Vec<String> = layers
        .iter()
        .map(|(node, t)| format!("Gemm {node} runs GGML {t} QMatMul"))
        .collect();
    Some(format!(
        "candle: {} (activations quantized to Q8_0 on the fly)",
        parts.join(", ")
    ))
}

/// Checks that a Gemm can run with a GGML weight and builds its `QMatMul`. `w` is the weight
/// after constant folding (`None` when it is computed at run time).
pub fn build(node: &Node, w: Option<&Tensor>, t: GgmlDType) -> R<QMatMul> {
    let fail = |why: String| {
        Err(format!(
            "node {} is listed in {METADATA_KEY} as {} but {why}",
            node.name,
            dtype_name(t)
        ))
    };
    if node.op_type != "Gemm" || !node.domain.is_empty() {
        return fail(format!("it is a {} node, not a Gemm", node.op_type));
    }
    if node.attr_int("transA", 0) != 0 || node.attr_int("transB", 0) != 1 {
        return fail("it needs transA=0 and transB=1 (weight stored [N, K])".into());
    }
    let (alpha, beta) = (node.attr_float("alpha", 1.0), node.attr_float("beta", 1.0));
    if alpha != 1.0 || beta != 1.0 {
        return fail(format!("it needs alpha=beta=1 (has {alpha}, {beta})"));
    }
    let Some(w) = w else {
        return fail(format!(
            "its weight {} is not a constant",
            node.inputs.get(1).map_or("(missing)", String::as_str)
        ));
    };
    let [_, k] = *w.dims() else {
        return fail(format!("its weight has shape {:?}, not [N, K]", w.dims()));
    };
    if k % 32 != 0 {
        return fail(format!(
            "its weight's K = {k} is not a multiple of the GGML block size 32"
        ));
    }
    let w = w.to_dtype(DType::F32).map_err(e)?;
    let q = QTensor::quantize(&w, t).map_err(|err| format!("node {}: {err}", node.name))?;
    // The QTensor variant directly: QMatMul::from_qtensor would dequantize it back to float
    // when CANDLE_DEQUANTIZE_ALL is set, and the artifact asks for the GGML kernels.
    Ok(QMatMul::QTensor(Arc::new(q)))
}

/// Runs a GGML Gemm: `A [M, K] x W^T` with the quantized weight, then adds the bias.
pub fn gemm(w: &QMatMul, a: &Tensor, c: Option<&Tensor>) -> R<Tensor> {
    if a.rank() != 2 {
        return Err(format!("Gemm input A must be 2-D, got {:?}", a.dims()));
    }
    let a = a
        .to_dtype(DType::F32)
        .and_then(|a| a.contiguous())
        .map_err(e)?;
    let y = w.forward(&a).map_err(e)?;
    match c {
        Some(c) => y
            .broadcast_add(&c.to_dtype(DType::F32).map_err(e)?)
            .map_err(e),
        None => Ok(y),
    }
}

/// Parses a flat JSON object whose values are strings (`{"a": "b", ...}`), keeping the order.
/// Duplicate keys are an error.
pub fn parse_object(s: &str) -> R<Vec<(String, String)>> {
    let mut p = Parser {
        c: s.chars().collect(),
        i: 0,
    };
    p.ws();
    p.expect('{')?;
    let mut out: Vec<(String, String)> = Vec::new();
    p.ws();
    if p.peek() == Some('}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.expect(':')?;
            p.ws();
            let v = p.string()?;
            if out.iter().any(|(x, _)| *x == k) {
                return Err(format!("key {k:?} appears twice"));
            }
            out.push((k, v));
            p.ws();
            match p.next() {
                Some(',') => continue,
                Some('}') => break,
                other => return Err(format!("expected ',' or '}}' at {}, found {other:?}", p.i)),
            }
        }
    }
    p.ws();
    if p.i != p.c.len() {
        return Err(format!("trailing characters after the object at {}", p.i));
    }
    Ok(out)
}

struct Parser {
    c: Vec<char>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += 1;
        c
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn expect(&mut self, want: char) -> R<()> {
        match self.next() {
            Some(c) if c == want => Ok(()),
            other => Err(format!(
                "expected {want:?} at {}, found {other:?}",
                self.i - 1
            )),
        }
    }

    fn string(&mut self) -> R<String> {
        self.expect('"')?;
        let mut s = String::new();
        loop {
            match self.next() {
                None => return Err("unterminated string".into()),
                Some('"') => return Ok(s),
                Some('\\') => match self.next() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('/') => s.push('/'),
                    Some('b') => s.push('\u{8}'),
                    Some('f') => s.push('\u{c}'),
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some('u') => {
                        let hex: String = (0..4).filter_map(|_| self.next()).collect();
                        let code = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 4)
                            .ok_or_else(|| format!("bad \\u escape {hex:?}"))?;
                        s.push(char::from_u32(code).ok_or_else(|| {
                            format!("\\u{hex} is not a character (surrogates are not supported)")
                        })?);
                    }
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some(c) => s.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn metadata_json_object() {
        assert_eq!(
            parse_object(r#" { "fc": "q4_0" , "a\"b\u0041": "Q8_0" } "#).unwrap(),
            vec![
                ("fc".to_string(), "q4_0".to_string()),
                ("a\"bA".to_string(), "Q8_0".to_string())
            ]
        );
        assert_eq!(parse_object("{}").unwrap(), vec![]);
        for bad in [
            "",
            "[]",
            r#"{"fc": 4}"#,
            r#"{"fc": "q4_0",}"#,
            r#"{"fc": "q4_0"} x"#,
            r#"{"fc": "q4_0", "fc": "q8_0"}"#,
            r#"{"fc": "q4_0"#,
        ] {
            assert!(parse_object(bad).is_err(), "{bad}");
        }
    }

    /// Values on the GGML grid, built as the quantizer stores them: per block of 32, an f16
    /// scale `d` and integer codes, with the block's largest magnitude at the extreme code
    /// (-8 for Q4_0, +-127 for Q8_0), which is what ggml's quantizers always produce.
    fn grid(t: GgmlDType, n: usize, k: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * k);
        let mut seed = 12345u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        for b in 0..n * k / 32 {
            // f16-exact scales of both signs and a range of magnitudes.
            let d = candle_core::Tensor::new(
                (rnd() * 0.05 + 1e-3) * if b % 2 == 0 { 1.0 } else { -1.0 },
                &Device::Cpu,
            )
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
            let extreme = (rnd() * 32.0) as usize;
            for j in 0..32 {
                let code = match t {
                    GgmlDType::Q4_0 if j == extreme => -8,
                    GgmlDType::Q4_0 => (rnd() * 16.0) as i32 - 8,
                    _ if j == extreme => {
                        if b % 3 == 0 {
                            -127
                        } else {
                            127
                        }
                    }
                    _ => (rnd() * 255.0) as i32 - 127,
                };
                out.push(code as f32 * d);
            }
        }
        // One all-zero block.
        out[..32].fill(0.0);
        out
    }

    #[test]
    fn requantizing_grid_values_is_lossless() {
        for t in [GgmlDType::Q4_0, GgmlDType::Q8_0] {
            let (n, k) = (16, 128);
            let v = grid(t, n, k);
            let w = Tensor::from_vec(v.clone(), (n, k), &Device::Cpu).unwrap();
            let q = QTensor::quantize(&w, t).unwrap();
            let back: Vec<f32> = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(back, v, "{t:?}");
            // Arbitrary floats are not lossless (sanity check of the test itself).
            let off: Vec<f32> = v.iter().map(|x| x * 1.0001 + 1e-4).collect();
            let w = Tensor::from_vec(off.clone(), (n, k), &Device::Cpu).unwrap();
            let back = QTensor::quantize(&w, t)
                .unwrap()
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_ne!(back, off, "{t:?}");
        }
    }

    /// QMatMul against the float Gemm on the same (grid) weights. The only approximation is the
    /// activations' Q8_0 quantization: per block of 32 with `amax = max|x|`, candle uses
    /// `d = amax / 127` (stored as f16) and `q = round(x / d)`, so
    /// `|x - q·d16| <= d/2 + 127·|d - d16| <= amax·(1/254 + 2^-11)`. Hence for each output
    /// `|y_q - y_f| <= sum_blocks amax_b·(1/254 + 2^-11)·sum_{k in b}|w_k|`, plus f32 rounding of
    /// the sums (a relative 1e-5 of `sum|w·x|`).
    #[test]
    fn qmatmul_is_close_to_the_float_gemm() {
        for t in [GgmlDType::Q4_0, GgmlDType::Q8_0] {
            let (m, n, k) = (5, 16, 128);
            let wv = grid(t, n, k);
            let w = Tensor::from_vec(wv.clone(), (n, k), &Device::Cpu).unwrap();
            let mut seed = 7u32;
            let xv: Vec<f32> = (0..m * k)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 1.5
                })
                .collect();
            let x = Tensor::from_vec(xv.clone(), (m, k), &Device::Cpu).unwrap();
            let bias =
                Tensor::from_vec((0..n).map(|i| i as f32).collect(), n, &Device::Cpu).unwrap();
            let node = Node::new("fc", "Gemm", &["x", "w", "b"], &["y"])
                .with_attr("transB", qbench_onnx::Attribute::Int(1));
            let qm = build(&node, Some(&w), t).unwrap();
            assert!(matches!(qm, QMatMul::QTensor(_)));
            let yq: Vec<f32> = gemm(&qm, &x, Some(&bias))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let bound = 1.0 / 254.0 + 2f64.powi(-11);
            for i in 0..m {
                for j in 0..n {
                    let (mut yf, mut tol, mut mag) = (j as f64, 0.0f64, 0.0f64);
                    for b in 0..k / 32 {
                        let xs = &xv[i * k + b * 32..i * k + b * 32 + 32];
                        let ws = &wv[j * k + b * 32..j * k + b * 32 + 32];
                        let amax = xs.iter().fold(0.0f64, |a, v| a.max(v.abs() as f64));
                        let wsum: f64 = ws.iter().map(|v| v.abs() as f64).sum();
                        tol += amax * bound * wsum;
                        for (a, c) in xs.iter().zip(ws) {
                            yf += *a as f64 * *c as f64;
                            mag += (*a as f64 * *c as f64).abs();
                        }
                    }
                    let got = yq[i * n + j] as f64;
                    assert!(
                        (got - yf).abs() <= tol + 1e-5 * mag + 1e-5,
                        "{t:?} [{i},{j}]: {got} vs {yf} (tolerance {tol})"
                    );
                }
            }
        }
    }

    #[test]
    fn unfit_nodes_are_load_errors_naming_the_node() {
        let w = Tensor::zeros((4, 48), DType::F32, &Device::Cpu).unwrap();
        let gemm = Node::new("fc", "Gemm", &["x", "w"], &["y"])
            .with_attr("transB", qbench_onnx::Attribute::Int(1));
        let err = build(&gemm, Some(&w), GgmlDType::Q4_0).unwrap_err();
        assert!(err.contains("node fc") && err.contains("K = 48"), "{err}");
        let err = build(&gemm, None, GgmlDType::Q8_0).unwrap_err();
        assert!(
            err.contains("node fc") && err.contains("not a constant"),
            "{err}"
        );
        let conv = Node::new("c1", "Conv", &["x", "w"], &["y"]);
        let w = Tensor::zeros((4, 64), DType::F32, &Device::Cpu).unwrap();
        let err = build(&conv, Some(&w), GgmlDType::Q8_0).unwrap_err();
        assert!(
            err.contains("node c1") && err.contains("not a Gemm"),
            "{err}"
        );
        let no_t = Node::new("fc", "Gemm", &["x", "w"], &["y"]);
        assert!(build(&no_t, Some(&w), GgmlDType::Q8_0)
            .unwrap_err()
            .contains("transB=1"));
    }
}
