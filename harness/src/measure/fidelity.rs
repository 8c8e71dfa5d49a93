//! Fidelity of a model's outputs against the FP32 model's outputs on the same samples: mean KL
//! divergence of the softmax distributions (classifier logits), the signal-to-quantization-noise
//! ratio, the mean cosine similarity per sample and the largest absolute error. The last three
//! are task-agnostic: they apply to any output (detection maps, embeddings, sequences).
//!
//! The FP32 cell stores its logits in a small binary file (`QBLOGIT1`, image count and class
//! count as little-endian u64, then f32 values) that later cells read.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"QBLOGIT1";

/// Logits of `rows` images, `classes` values each, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Logits {
    pub rows: usize,
    pub classes: usize,
    pub data: Vec<f32>,
}

impl Logits {
    /// Writes the logits atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("tmp");
        let mut buf = Vec::with_capacity(24 + 4 * self.data.len());
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(self.rows as u64).to_le_bytes());
        buf.extend_from_slice(&(self.classes as u64).to_le_bytes());
        for v in &self.data {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&buf)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
    }

    /// Reads and validates a logits file.
    pub fn load(path: &Path) -> Result<Logits> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let bad = |what: &str| anyhow::anyhow!("{}: {what}", path.display());
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            return Err(bad("not a qbench logits file"));
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let (rows, classes) = (word(8) as usize, word(16) as usize);
        let expected = rows
            .checked_mul(classes)
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.checked_add(24))
            .ok_or_else(|| bad("header overflows"))?;
        if bytes.len() != expected {
            return Err(bad(&format!(
                "{} bytes, expected {expected} for {rows} x {classes} logits (truncated?)",
                bytes.len()
            )));
        }
        let data = bytes[24..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(Logits {
            rows,
            classes,
            data,
        })
    }
}

/// How close a model's logits are to the reference (FP32) logits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Mean over images of KL(softmax(reference) ‖ softmax(model)), in nats.
    pub kl_mean: f64,
    /// Signal-to-quantization-noise ratio `10·log10(Σ ref² / Σ (ref − model)²)` in dB over all
    /// logits (infinite when identical).
    pub sqnr_db: f64,
    /// Mean over samples of `<ref, model> / (|ref|·|model|)` (1 when both are zero).
    #[serde(default)]
    pub cosine: f64,
    /// Largest `|ref − model|` over all values.
    #[serde(default)]
    pub max_abs_err: f64,
}

/// Cosine similarity of two vectors (1 when both are zero, 0 when only one is).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    match (aa == 0.0, bb == 0.0) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        _ => ab / (aa.sqrt() * bb.sqrt()),
    }
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v as f64));
    let lse = max
        + row
            .iter()
            .map(|v| (*v as f64 - max).exp())
            .sum::<f64>()
            .ln();
    row.iter().map(|v| *v as f64 - lse).collect()
}

/// Compares `model` logits with `reference` logits of the same images.
pub fn fidelity(reference: &Logits, model: &Logits) -> Result<Fidelity> {
    if reference.rows != model.rows || reference.classes != model.classes {
        bail!(
            "the reference logits are {} x {} but the model's are {} x {}",
            reference.rows,
            reference.classes,
            model.rows,
            model.classes
        );
    }
    if reference.rows == 0 || reference.classes == 0 {
        bail!("no logits to compare");
    }
    let c = reference.classes;
    let mut kl = 0.0f64;
    for (r, m) in reference.data.chunks(c).zip(model.data.chunks(c)) {
        let (lp, lq) = (log_softmax(r), log_softmax(m));
        kl += lp
            .iter()
            .zip(&lq)
            .map(|(a, b)| a.exp() * (a - b))
            .sum::<f64>();
    }
    let signal: f64 = reference.data.iter().map(|v| (*v as f64).powi(2)).sum();
    let noise: f64 = reference
        .data
        .iter()
        .zip(&model.data)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum();
    let cos = reference
        .data
        .chunks(c)
        .zip(model.data.chunks(c))
        .map(|(r, m)| cosine(r, m))
        .sum::<f64>()
        / reference.rows as f64;
    let max_abs_err = reference
        .data
        .iter()
        .zip(&model.data)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .fold(0.0, f64::max);
    Ok(Fidelity {
        cosine: cos,
        max_abs_err,
        // Rounding can make a near-zero sum of non-negative terms slightly negative.
        kl_mean: (kl / reference.rows as f64).max(0.0),
        sqnr_db: 10.0 * (signal / noise).log10(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(data: Vec<f32>) -> Logits {
        Logits {
            rows: data.len() / 2,
            classes: 2,
            data,
        }
    }

    #[test]
    fn identical_logits_have_zero_kl_and_infinite_sqnr() {
        let a = logits(vec![1.0, -1.0, 0.5, 2.0]);
        let f = fidelity(&a, &a).unwrap();
        assert_eq!(f.kl_mean, 0.0);
        assert!(f.sqnr_db.is_infinite());
    }

    #[test]
    fn hand_computed_kl_and_sqnr() {
        // One image: p = softmax(0, 0) = (1/2, 1/2), q = softmax(ln 3, 0) = (3/4, 1/4).
        // KL(p‖q) = 1/2·ln(2/3) + 1/2·ln(2) = 1/2·ln(4/3).
        let p = logits(vec![0.0, 0.0]);
        let q = logits(vec![3f32.ln(), 0.0]);
        let f = fidelity(&p, &q).unwrap();
        assert!(
            (f.kl_mean - 0.5 * (4.0f64 / 3.0).ln()).abs() < 1e-6,
            "{f:?}"
        );
        // Signal 3^2 + 4^2 = 25, noise 0.5^2 = 0.25: 20 dB.
        let f = fidelity(&logits(vec![3.0, 4.0]), &logits(vec![3.0, 4.5])).unwrap();
        assert!((f.sqnr_db - 20.0).abs() < 1e-9, "{f:?}");
        assert!((f.max_abs_err - 0.5).abs() < 1e-9, "{f:?}");
        // cos((3, 4), (3, 4.5)) = (9 + 18) / (5 · sqrt(29.25)).
        let want = 27.0 / (5.0 * 29.25f64.sqrt());
        assert!((f.cosine - want).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn cosine_edge_cases() {
        assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]), 1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 0.0], &[-2.0, 0.0]) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let a = logits(vec![1.0, 2.0]);
        let b = logits(vec![1.0, 2.0, 3.0, 4.0]);
        assert!(fidelity(&a, &b).unwrap_err().to_string().contains("1 x 2"));
    }

    #[test]
    fn files_round_trip_and_truncation_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/fp32.logits");
        let a = logits(vec![1.0, -2.5, 3.25, 0.0]);
        a.save(&path).unwrap();
        assert_eq!(Logits::load(&path).unwrap(), a);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = Logits::load(&path).unwrap_err().to_string();
        assert!(e.contains("fp32.logits") && e.contains("truncated"), "{e}");
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Logits::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a qbench logits file"));
    }
}
