//! torchvision's ResNet-18 layout with data-dependent batch-norm statistics: the statistics
//! normalize the batch they were measured on, and the unfused export (Conv + BatchNormalization,
//! MaxPool stem) computes what the candle model computes.

use candle_core::{Device, Tensor};
use qbench_candle::CandleBackend;
use qbench_core::{Artifact, Backend, Batch, Format, InputSpec, LoadOptions};
use qbench_onnx::Model;
use qbench_train::{resnet18, ResNet};

fn run(model: &Model, x: &Tensor, side: usize) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    model.save(&path).unwrap();
    let n = x.dim(0).unwrap();
    let art = Artifact {
        technique: "fp32".into(),
        format: Format::Fp32,
        path,
        input: InputSpec::image(qbench_train::INPUT, 3, side, side),
        output: qbench_train::OUTPUT.into(),
    };
    let opts = LoadOptions {
        threads: 2,
        batch: n,
    };
    let mut s = CandleBackend.load(&art, &opts).unwrap();
    let data = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    s.run(&Batch {
        data: &data,
        dims: &[n, 3, side, side],
    })
    .unwrap()
    .data
}

#[test]
fn resnet18_statistics_and_unfused_export() {
    let side = 64;
    let mut model = ResNet::new(resnet18(1000), 3).unwrap();
    let calib = Tensor::randn(0.5f32, 2.0, (4, 3, side, side), &Device::Cpu).unwrap();
    model.set_batch_norm_statistics(&calib).unwrap();

    // The stem's batch norm now normalizes the calibration batch per channel.
    let y = model.stem.forward(&calib, false).unwrap();
    let per_channel = y.transpose(0, 1).unwrap().contiguous().unwrap();
    let per_channel = per_channel.flatten_from(1).unwrap();
    let mean = per_channel.mean(1).unwrap().to_vec1::<f32>().unwrap();
    let var = per_channel.var(1).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(mean.len(), 64);
    assert!(mean.iter().all(|m| m.abs() < 1e-3), "{mean:?}");
    assert!(var.iter().all(|v| (v - 1.0).abs() < 0.01), "{var:?}");

    let x = Tensor::randn(0.5f32, 2.0, (2, 3, side, side), &Device::Cpu).unwrap();
    let want = model.forward(&x, false).unwrap();
    assert_eq!(want.dims(), &[2, 1000]);
    let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    // Logits of a sane scale: neither vanished nor exploded through 18 layers.
    let rms = (want.iter().map(|v| v * v).sum::<f32>() / want.len() as f32).sqrt();
    assert!((0.05..50.0).contains(&rms), "logit rms {rms}");

    let unfolded = model.to_onnx_unfolded(side, side).unwrap();
    let ops: Vec<&str> = unfolded
        .graph
        .nodes
        .iter()
        .map(|n| n.op_type.as_str())
        .collect();
    assert_eq!(
        ops.iter().filter(|o| **o == "BatchNormalization").count(),
        20
    );
    assert_eq!(ops.iter().filter(|o| **o == "Conv").count(), 20);
    assert_eq!(ops.iter().filter(|o| **o == "MaxPool").count(), 1);
    for (name, m) in [
        ("unfolded", unfolded),
        ("folded", model.to_onnx(side, side).unwrap()),
    ] {
        let got = run(&m, &x, side);
        assert_eq!(got.len(), want.len(), "{name}");
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{name}: {a} vs {b}");
        }
    }
}
