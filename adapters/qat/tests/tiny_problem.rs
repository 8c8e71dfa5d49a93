//! A short QAT run on a small synthetic problem lowers the loss of the quantized model below
//! what post-training quantization of the float optimum gives: a linear map with correlated
//! inputs, 3-bit per-channel symmetric weights (scales from the float weights' per-channel
//! absmax, then frozen), SGD with cosine decay through the straight-through estimator. Measured
//! here: quantized loss 0.442 after PTQ, 0.253 after 300 steps of QAT.

use candle_core::{Device, Tensor, Var};
use qbench_qat::{fake_quantize, FakeQuant};
use qbench_quant::{QuantParams, Rounding};
use rand::{rngs::StdRng, Rng, SeedableRng};

const OUT: usize = 4;
const IN: usize = 12;
const N: usize = 512;
const QMAX: i32 = 3; // 3-bit symmetric, narrow range: [-3, 3]

/// Per-output-channel symmetric parameters from the weights' absolute maxima.
fn weight_fq(w: &Tensor) -> FakeQuant {
    let absmax: Vec<f32> = w.abs().unwrap().max(1).unwrap().to_vec1().unwrap();
    FakeQuant::per_channel(
        absmax
            .iter()
            .map(|m| QuantParams::new(m.max(1e-8) / QMAX as f32, 0, -QMAX, QMAX).unwrap())
            .collect(),
        Rounding::HalfEven,
    )
}

fn quantized_loss(w: &Tensor, fq: &FakeQuant, x: &Tensor, y: &Tensor) -> f32 {
    let wq = fake_quantize(w, fq).unwrap();
    let pred = x.matmul(&wq.t().unwrap()).unwrap();
    (pred - y)
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar()
        .unwrap()
}

#[test]
fn qat_lowers_the_quantized_loss_below_post_training_quantization() {
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(7);
    let mut normal = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                // Box-Muller
                let (u, v): (f32, f32) = (rng.gen_range(1e-6..1.0), rng.gen_range(0.0..1.0));
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect()
    };
    // Correlated inputs: x = z A with a random mixing matrix.
    let z = Tensor::from_vec(normal(N * IN), (N, IN), &dev).unwrap();
    let a =
        (Tensor::from_vec(normal(IN * IN), (IN, IN), &dev).unwrap() / (IN as f64).sqrt()).unwrap();
    let x = z.matmul(&a).unwrap();
    let w_true = Tensor::from_vec(normal(OUT * IN), (OUT, IN), &dev).unwrap();
    let y = x.matmul(&w_true.t().unwrap()).unwrap();

    // The float optimum is w_true itself (zero float loss); quantizing it is PTQ.
    // The observer is then frozen (as PyTorch's QAT schedule does after its first epochs): the
    // grid stays, and training moves each weight to the grid point that serves the loss best.
    let fq = weight_fq(&w_true);
    let ptq = quantized_loss(&w_true, &fq, &x, &y);
    assert!(ptq > 0.0);

    let w = Var::from_tensor(&w_true).unwrap();
    let lr = 0.01;
    let steps = 300;
    for step in 0..steps {
        // Cosine decay to zero, so the weights settle instead of hopping between grid points.
        let lr = lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / steps as f64).cos());
        let wq = fake_quantize(w.as_tensor(), &fq).unwrap();
        let pred = x.matmul(&wq.t().unwrap()).unwrap();
        let loss = (pred - &y).unwrap().sqr().unwrap().mean_all().unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(w.as_tensor()).unwrap();
        w.set(&(w.as_tensor() - (g * lr).unwrap()).unwrap())
            .unwrap();
    }
    let qat = quantized_loss(w.as_tensor(), &fq, &x, &y);
    eprintln!("quantized loss: post-training {ptq}, after QAT {qat}");
    assert!(
        qat < 0.8 * ptq,
        "quantized loss after QAT {qat} vs post-training quantization {ptq}"
    );
}
