//! Shared test helpers: artifacts, tiny ONNX models, plain-Rust reference math.
#![allow(dead_code)]

use std::path::Path;

use qbench_core::{Artifact, Format, InputSpec};
use qbench_onnx::{DType, Dim, Model, ValueInfo};

/// An artifact for `path` with input `x` of shape `[N, c, h, w]` and output `y`.
pub fn artifact(path: &Path, format: Format, c: usize, h: usize, w: usize) -> Artifact {
    Artifact {
        technique: "test".into(),
        format,
        path: path.to_path_buf(),
        input: InputSpec::image("x", c, h, w),
        output: "y".into(),
    }
}

/// A float32 value with a symbolic batch dimension followed by `dims`.
pub fn value(name: &str, dims: &[i64]) -> ValueInfo {
    let mut shape = vec![Dim::Param("N".into())];
    shape.extend(dims.iter().map(|d| Dim::Fixed(*d)));
    ValueInfo {
        name: name.into(),
        dtype: DType::F32,
        shape,
    }
}

/// Saves `model` as `name` in `dir`.
pub fn save(model: &Model, dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    model.save(&path).expect("save model");
    path
}

/// Deterministic pseudo-random values in [-1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// NCHW convolution, stride 1, symmetric zero padding `pad`, weights `[m, c, k, k]`.
pub fn conv2d(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    weight: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    pad: usize,
) -> Vec<f32> {
    let (oh, ow) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
    let mut out = vec![0f32; n * m * oh * ow];
    for b in 0..n {
        for o in 0..m {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = bias[o] as f64;
                    for ci in 0..c {
                        for di in 0..k {
                            for dj in 0..k {
                                let (y, xx) = (i + di, j + dj);
                                if y < pad || xx < pad || y - pad >= h || xx - pad >= w {
                                    continue;
                                }
                                let xv = x[((b * c + ci) * h + y - pad) * w + xx - pad] as f64;
                                let wv = weight[((o * c + ci) * k + di) * k + dj] as f64;
                                acc += xv * wv;
                            }
                        }
                    }
                    out[((b * m + o) * oh + i) * ow + j] = acc as f32;
                }
            }
        }
    }
    out
}

/// Asserts two float slices are equal within `tol`.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "element {i}: got {g}, want {w}");
    }
}
