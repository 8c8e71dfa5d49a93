//! Times a few training steps: `cargo run --release -p qbench-train --example speed -- 16,32,64 1`
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use qbench_train::{ResNet, ResNetConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let widths: Vec<usize> = args[1].split(',').map(|s| s.parse().unwrap()).collect();
    let blocks: usize = args[2].parse().unwrap();
    let first_stride: usize = args[3].parse().unwrap();
    let bs = 128;
    let model = ResNet::new(
        ResNetConfig {
            in_channels: 1,
            classes: 10,
            widths,
            blocks,
            first_stride,
            stem: Default::default(),
        },
        1,
    )
    .unwrap();
    let mut opt = AdamW::new(model.vars(), ParamsAdamW::default()).unwrap();
    let x = Tensor::randn(0f32, 1.0, (bs, 1, 28, 28), &Device::Cpu).unwrap();
    let y = Tensor::from_vec(
        (0..bs as u32).map(|i| i % 10).collect::<Vec<_>>(),
        bs,
        &Device::Cpu,
    )
    .unwrap();
    for i in 0..6 {
        let t = Instant::now();
        let logits = model.forward(&x, true).unwrap();
        let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
        let f = t.elapsed().as_secs_f64();
        let grads = loss.backward().unwrap();
        let b = t.elapsed().as_secs_f64();
        opt.step(&grads).unwrap();
        println!(
            "step {i}: fwd {f:.3}s bwd {:.3}s total {:.3}s loss {}",
            b - f,
            t.elapsed().as_secs_f64(),
            loss.to_scalar::<f32>().unwrap()
        );
    }
}
