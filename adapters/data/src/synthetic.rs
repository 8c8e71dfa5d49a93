//! `Synthetic`: seeded random samples of a fixed shape, with no labels. Sample `i` depends only
//! on the seed and `i` (its own generator), so any subset reads the same values.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::dataset::check_read;
use crate::{DataError, Dataset};

/// The distribution of synthetic values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Gaussian with this mean and standard deviation (Box-Muller).
    Normal { mean: f64, std: f64 },
    /// Uniform on [low, high).
    Uniform { low: f64, high: f64 },
}

/// Seeded random samples.
#[derive(Clone, Debug)]
pub struct Synthetic {
    shape: Vec<usize>,
    count: usize,
    dist: Distribution,
    seed: u64,
}

/// The splitmix64 finalizer: a bijective mix of 64 bits.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Synthetic {
    /// `count` samples of `shape` drawn from `dist`, reproducible for `seed`.
    pub fn new(
        shape: Vec<usize>,
        count: usize,
        dist: Distribution,
        seed: u64,
    ) -> Result<Self, DataError> {
        let bad = |m: String| Err(DataError::Config(format!("synthetic: {m}")));
        if shape.is_empty() || shape.contains(&0) {
            return bad(format!(
                "shape must be non-empty with positive sizes, got {shape:?}"
            ));
        }
        if shape
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(*d))
            .is_none()
        {
            return bad(format!("shape {shape:?} overflows"));
        }
        if count == 0 {
            return bad("count must be > 0".into());
        }
        match dist {
            Distribution::Normal { mean, std }
                if !mean.is_finite() || !std.is_finite() || std < 0.0 =>
            {
                return bad(format!(
                    "normal needs a finite mean and a finite std >= 0, got {mean} and {std}"
                ));
            }
            Distribution::Uniform { low, high }
                if !low.is_finite() || !high.is_finite() || low > high =>
            {
                return bad(format!(
                    "uniform needs finite low <= high, got {low} and {high}"
                ));
            }
            _ => {}
        }
        Ok(Synthetic {
            shape,
            count,
            dist,
            seed,
        })
    }
}

impl Dataset for Synthetic {
    fn len(&self) -> usize {
        self.count
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
        check_read(self, index, out)?;
        let mut rng = StdRng::seed_from_u64(splitmix64(self.seed ^ splitmix64(index as u64)));
        match self.dist {
            Distribution::Uniform { low, high } => {
                for v in out.iter_mut() {
                    *v = (low + (high - low) * rng.gen::<f64>()) as f32;
                }
            }
            Distribution::Normal { mean, std } => {
                for pair in out.chunks_mut(2) {
                    // u1 in (0, 1] keeps the logarithm finite.
                    let u1 = 1.0 - rng.gen::<f64>();
                    let u2 = rng.gen::<f64>();
                    let r = (-2.0 * u1.ln()).sqrt();
                    let theta = std::f64::consts::TAU * u2;
                    pair[0] = (mean + std * r * theta.cos()) as f32;
                    if let Some(second) = pair.get_mut(1) {
                        *second = (mean + std * r * theta.sin()) as f32;
                    }
                }
            }
        }
        Ok(())
    }

    fn label(&self, _index: usize) -> Option<u32> {
        None
    }

    fn describe(&self) -> String {
        let dist = match self.dist {
            Distribution::Normal { mean, std } => format!("normal(mean {mean}, std {std})"),
            Distribution::Uniform { low, high } => format!("uniform[{low}, {high})"),
        };
        format!(
            "synthetic {dist} {:?} x {} seed {}",
            self.shape, self.count, self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{labels, read_batch};

    fn moments(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|x| *x as f64).sum::<f64>() / n;
        let var = v.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn deterministic_per_index_and_seed() {
        let ds = Synthetic::new(
            vec![3, 5],
            10,
            Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            },
            7,
        )
        .unwrap();
        let all = read_batch(&ds, 0, 10).unwrap();
        let mut one = [0f32; 15];
        ds.read(6, &mut one).unwrap();
        assert_eq!(
            &all[90..105],
            &one,
            "sample 6 alone equals sample 6 in a batch"
        );
        let again = Synthetic::new(
            vec![3, 5],
            10,
            Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            },
            7,
        )
        .unwrap();
        assert_eq!(read_batch(&again, 0, 10).unwrap(), all);
        let other = Synthetic::new(
            vec![3, 5],
            10,
            Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            },
            8,
        )
        .unwrap();
        assert_ne!(read_batch(&other, 0, 10).unwrap(), all);
        assert_ne!(&all[..15], &all[15..30], "samples differ");
        assert_eq!(labels(&ds), None);
        assert!(ds.describe().contains("seed 7"));
    }

    #[test]
    fn normal_moments() {
        let ds = Synthetic::new(
            vec![1001],
            40,
            Distribution::Normal {
                mean: 2.0,
                std: 3.0,
            },
            1,
        )
        .unwrap();
        let (m, s) = moments(&read_batch(&ds, 0, 40).unwrap());
        assert!(
            (m - 2.0).abs() < 0.05 && (s - 3.0).abs() < 0.05,
            "mean {m} std {s}"
        );
    }

    #[test]
    fn uniform_range_and_moments() {
        let ds = Synthetic::new(
            vec![10, 100],
            40,
            Distribution::Uniform {
                low: -1.0,
                high: 3.0,
            },
            3,
        )
        .unwrap();
        let v = read_batch(&ds, 0, 40).unwrap();
        assert!(v.iter().all(|x| (-1.0..3.0).contains(x)));
        let (m, s) = moments(&v);
        // Uniform on [a, b): mean (a + b) / 2 = 1, std (b - a) / sqrt(12) = 1.1547.
        assert!(
            (m - 1.0).abs() < 0.02 && (s - 4.0 / 12f64.sqrt()).abs() < 0.02,
            "mean {m} std {s}"
        );
    }

    #[test]
    fn rejects_bad_parameters() {
        let n = Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        };
        assert!(Synthetic::new(vec![], 1, n, 0).is_err());
        assert!(Synthetic::new(vec![2, 0], 1, n, 0).is_err());
        assert!(Synthetic::new(vec![usize::MAX, 2], 1, n, 0)
            .unwrap_err()
            .to_string()
            .contains("overflows"));
        assert!(Synthetic::new(vec![2], 0, n, 0)
            .unwrap_err()
            .to_string()
            .contains("count"));
        let bad_std = Distribution::Normal {
            mean: 0.0,
            std: -1.0,
        };
        assert!(Synthetic::new(vec![2], 1, bad_std, 0).is_err());
        let nan = Distribution::Normal {
            mean: f64::NAN,
            std: 1.0,
        };
        assert!(Synthetic::new(vec![2], 1, nan, 0).is_err());
        let flipped = Distribution::Uniform {
            low: 1.0,
            high: 0.0,
        };
        assert!(Synthetic::new(vec![2], 1, flipped, 0)
            .unwrap_err()
            .to_string()
            .contains("low <= high"));
        assert_ne!(splitmix64(0), splitmix64(1));
    }
}
