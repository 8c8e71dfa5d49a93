//! A cell's outputs on the evaluation samples, one row per sample (a classifier's logits, or
//! any output flattened), which the metrics (`crate::metrics`) score.
//!
//! The FP32 cell stores its outputs in a small binary file (`QBLOGIT1`, image count and class
//! count as little-endian u64, then f32 values) that later cells read.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

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
    fn cosine_edge_cases() {
        assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]), 1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((cosine(&[1.0, 0.0], &[-2.0, 0.0]) + 1.0).abs() < 1e-12);
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
