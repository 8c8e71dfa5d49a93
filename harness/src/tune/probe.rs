//! Measuring one candidate on the chosen backend: top-1 on the tuning split and the median of a
//! short batch-1 latency run.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use qbench_core::{Backend, Format};
use qbench_onnx::Model;

use crate::debug::runner::Plain;
use crate::debug::split::Split;

/// A latency measurement: warm-up runs, then timed runs until both minimums are reached (or the
/// time cap): 100 runs of a 0.1 ms model are 10 ms, shorter than the machine's noise.
const WARMUP: usize = 20;
const MIN_TIMED: usize = 300;
const MIN_SECONDS: f64 = 0.3;
const MAX_SECONDS: f64 = 3.0;

/// A candidate's figures.
pub struct Probed {
    pub top1: f64,
    pub latency_ms: f64,
    pub size_bytes: u64,
}

/// Where candidates run: the backend, the tuning split and the output the metric reads.
pub struct Target<'a> {
    pub backend: &'a dyn Backend,
    pub split: &'a Split,
    pub output: &'a str,
}

impl Target<'_> {
    /// The model written at `path`, loaded for `batch` samples per run.
    fn session(&self, path: &Path, format: Format, batch: usize) -> Result<Plain> {
        Plain::open(
            self.backend,
            path,
            format,
            &self.split.input,
            self.output,
            batch,
        )
    }

    /// Top-1 (percent) of `model`, written to `path`, on the tuning split, run at the split's
    /// batch.
    pub fn top1(&self, model: &Model, path: &Path, format: Format) -> Result<f64> {
        model.save(path)?;
        self.top1_of(path, format)
    }

    /// Top-1 (percent) of the model written at `path` on the tuning split.
    fn top1_of(&self, path: &Path, format: Format) -> Result<f64> {
        let split = self.split;
        let mut s = self.session(path, format, split.batch)?;
        let mut hits = 0;
        for k in 0..split.len() {
            let b = split.get(k)?;
            let y = s.run(&b)?;
            match split.hits(&b, &y) {
                Some(h) => hits += h,
                None => bail!("the tuning split has no labels: tune needs a top-1 metric"),
            }
        }
        Ok(100.0 * hits as f64 / split.samples as f64)
    }

    /// Median latency (ms) of batch-1 runs of the model written at `path` on the first tuning
    /// sample, after `WARMUP` runs: at least `MIN_TIMED` runs and `MIN_SECONDS`, at most
    /// `MAX_SECONDS` (a model with a fixed batch runs at that batch).
    pub fn latency_ms(&self, path: &Path, format: Format) -> Result<f64> {
        let split = self.split;
        let n = split.fixed_batch.unwrap_or(1);
        let b = split.get(0)?;
        let one = crate::debug::split::SplitBatch {
            start: 0,
            real: n.min(split.samples),
            data: b.data[..b.data.len() / b.dims[0] * n].to_vec(),
            dims: split.input.dims(n),
        };
        let mut s = self.session(path, format, n)?;
        for _ in 0..WARMUP {
            s.run(&one)?;
        }
        let mut t = Vec::with_capacity(MIN_TIMED);
        let begin = Instant::now();
        loop {
            let start = Instant::now();
            s.run(&one)?;
            t.push(start.elapsed().as_secs_f64() * 1e3);
            let spent = begin.elapsed().as_secs_f64();
            if (t.len() >= MIN_TIMED && spent >= MIN_SECONDS) || spent >= MAX_SECONDS {
                break;
            }
        }
        t.sort_by(f64::total_cmp);
        Ok(t[t.len() / 2])
    }

    /// All three figures; the model is written to `path` once.
    pub fn probe(&self, model: &Model, path: &Path, format: Format) -> Result<Probed> {
        model.save(path)?;
        let top1 = self.top1_of(path, format)?;
        let latency_ms = self.latency_ms(path, format)?;
        let size_bytes = packed_bytes(model, std::fs::metadata(path)?.len());
        Ok(Probed {
            top1,
            latency_ms,
            size_bytes,
        })
    }
}

/// The artifact's bytes with sub-byte weights counted at 4 bits: integers stored in an int8
/// container behind a `DequantizeLinear` whose values are 16 levels (all in [-8, 7]: mid-tread;
/// all odd in [-15, 15]: mid-rise) take half a byte each once packed (what a 4-bit runtime
/// stores; the file keeps a byte per value).
pub fn packed_bytes(model: &Model, file_bytes: u64) -> u64 {
    let g = &model.graph;
    let sub_byte: u64 = g
        .nodes
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear")
        .filter_map(|n| g.initializer(&n.inputs[0]))
        .filter_map(|t| t.to_i8().ok())
        .filter(|v| {
            v.iter().all(|x| (-8..=7).contains(x))
                || v.iter().all(|x| (-15..=15).contains(x) && x % 2 != 0)
        })
        .map(|v| v.len() as u64)
        .sum();
    file_bytes - sub_byte / 2
}
