//! What a cell is expected to cost, in seconds of a reference machine, from the plan alone (never
//! from the machine running the shard, so every shard computes the same split).
//!
//! A cell is one child process per latency round, one accuracy pass over the evaluation split,
//! one throughput run and its latency rounds. The accuracy pass dominates on slow integer cells
//! (tract's and candle's QOperator rows run the 10,000-image resnet pass 30 times slower than
//! ONNX Runtime's FP32), the latency rule on fast ones. Quantizing counts where it is long: a
//! technique that scores candidate models (Ristretto's accuracy search) costs every shard that
//! quantizes it one candle pass over the calibration split per model; the other techniques'
//! calibration is under half a second on resnet and not counted.

use qbench_core::Format;

use crate::measure::latency::IterationRule;
use crate::record::Settings;

/// Per-image time of an FP32 model on ONNX Runtime (batch 64, 2 threads) per byte of the
/// model file: resnet's 314,271-byte model ran 24,648 images/s on a 2-core Xeon
/// (`results/resnet/compare.json`), 1.3e-10 s per byte.
const IMAGE_SECONDS_PER_MODEL_BYTE: f64 = 1.3e-10;

/// Starting a child process and loading the artifact, per process (a quick resnet run: 180 cell
/// processes, 90 measured cells in 2 rounds, took 104.7 s in all, most of it the accuracy passes
/// and latency rules).
const PROCESS_SECONDS: f64 = 0.15;

/// Per-image time of a format on a backend, relative to FP32 on ONNX Runtime: the median over
/// the techniques of that format in the full resnet run on a 2-core Xeon
/// (`results/resnet/compare.json`, throughput at batch 64). `None`: the backend refuses the
/// format before running.
pub fn relative_image_cost(backend: &str, format: Format) -> Option<f64> {
    use Format::*;
    Some(match (backend, format) {
        ("ort", Fp32 | Fp16) => 1.0,
        ("ort", QOperator | OrtContrib) => 1.4,
        ("ort", Qdq) => 3.1,
        ("ort", Qdq16) => 4.8,
        ("ort", WeightOnly) => 4.9,
        ("ort", Dynamic) => 15.9,
        ("tract", Fp32 | Fp16) => 13.3,
        ("tract", WeightOnly) => 14.9,
        ("tract", Qdq) => 15.3,
        ("tract", Dynamic) => 24.0,
        ("tract", QOperator) => 33.3,
        ("tract", Qdq16 | OrtContrib) => return None,
        ("candle", Fp16) => 12.3,
        ("candle", Fp32 | WeightOnly) => 16.4,
        ("candle", Qdq | Qdq16) => 24.0,
        ("candle", Dynamic) => 27.8,
        ("candle", QOperator) => 35.3,
        ("candle", OrtContrib) => return None,
        // A backend this table does not know: as slow as the slowest known one.
        (_, _) => 35.3,
    })
}

/// The expected cost of the cells of one plan.
#[derive(Clone, Copy, Debug)]
pub struct CostModel {
    /// Seconds per image of the FP32 model on ONNX Runtime.
    pub image_s: f64,
    pub eval_samples: usize,
    pub calibration_samples: usize,
    pub rounds: usize,
    pub latency: IterationRule,
    pub throughput: IterationRule,
}

impl CostModel {
    /// The model of a plan: its settings, the FP32 model file's size and the calibration split's.
    pub fn new(settings: &Settings, model_bytes: u64, calibration_samples: usize) -> CostModel {
        CostModel {
            image_s: model_bytes as f64 * IMAGE_SECONDS_PER_MODEL_BYTE,
            eval_samples: settings.eval_samples,
            calibration_samples,
            rounds: settings.rounds.max(1),
            latency: settings.latency_rule,
            throughput: settings.throughput_rule,
        }
    }

    /// A cell's accuracy pass, all of its latency rounds and its throughput top-up, in seconds
    /// (`None`: the backend refuses the format before running it).
    fn work(&self, backend: &str, format: Format, batch: usize) -> Option<(f64, f64, f64)> {
        let image = self.image_s * relative_image_cost(backend, format)?;
        let timed = |rule: &IterationRule, per_run: f64| {
            (rule.min_iters as f64 * per_run)
                .max(rule.min_seconds)
                .min(rule.max_seconds)
                + rule.warmup as f64 * per_run
        };
        let accuracy = self.eval_samples as f64 * image;
        let latency = timed(&self.latency, image * batch as f64);
        // The accuracy pass's batches are throughput samples, topped up to the throughput rule.
        let throughput = (timed(&self.throughput, image * 64.0) - accuracy).max(0.0);
        Some((accuracy, latency, throughput))
    }

    /// Expected seconds of one cell (its first pass and every latency round).
    pub fn cell_seconds(&self, backend: &str, format: Format, batch: usize) -> f64 {
        self.work(backend, format, batch)
            .map_or(0.0, |(accuracy, latency, throughput)| {
                self.rounds as f64 * PROCESS_SECONDS + accuracy + latency + throughput
            })
    }

    /// Expected seconds of quantizing a technique that scores `models` candidate models (on
    /// candle, the harness's scoring backend) over the calibration split.
    pub fn quantize_seconds(&self, models: usize) -> f64 {
        let candle = relative_image_cost("candle", Format::Fp32).unwrap_or(1.0);
        models as f64 * self.calibration_samples as f64 * self.image_s * candle
    }

    /// Expected seconds of a reference FP32 cell: its first pass only (one process, one of the
    /// latency rounds).
    pub fn reference_seconds(&self, backend: &str, batch: usize) -> f64 {
        self.work(backend, Format::Fp32, batch)
            .map_or(0.0, |(accuracy, latency, throughput)| {
                PROCESS_SECONDS + accuracy + latency / self.rounds as f64 + throughput
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(eval: usize) -> CostModel {
        CostModel {
            image_s: 4e-5,
            eval_samples: eval,
            calibration_samples: 1000,
            rounds: 2,
            latency: IterationRule::QUICK,
            throughput: IterationRule::THROUGHPUT_QUICK,
        }
    }

    #[test]
    fn slow_integer_cells_cost_more_and_refused_ones_nothing() {
        let m = model(10_000);
        let fast = m.cell_seconds("ort", Format::Fp32, 1);
        let slow = m.cell_seconds("tract", Format::QOperator, 1);
        assert!(slow > 5.0 * fast, "{slow} vs {fast}");
        assert_eq!(m.cell_seconds("tract", Format::Qdq16, 1), 0.0);
        assert!(model(100).cell_seconds("tract", Format::QOperator, 1) < slow);
        assert!(m.reference_seconds("ort", 1) < fast);
        assert_eq!(m.quantize_seconds(0), 0.0);
        assert!(m.quantize_seconds(14) > fast);
    }
}
