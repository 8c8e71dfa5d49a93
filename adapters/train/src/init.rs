//! Seeded weight initialisation (candle's CPU device cannot be seeded).

use candle_core::{Device, Tensor, Var};
use rand::{rngs::StdRng, Rng};

/// Kaiming-normal initialisation (fan-in, ReLU gain) from a seeded generator.
pub fn kaiming(rng: &mut StdRng, dims: &[usize], fan_in: usize) -> candle_core::Result<Var> {
    let std = (2.0 / fan_in as f64).sqrt();
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| (normal(rng) * std) as f32).collect();
    Var::from_tensor(&Tensor::from_vec(values, dims, &Device::Cpu)?)
}

/// A constant-filled trainable vector.
pub fn constant(len: usize, value: f32) -> candle_core::Result<Var> {
    Var::from_tensor(&Tensor::full(value, len, &Device::Cpu)?)
}

/// One standard normal sample (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
