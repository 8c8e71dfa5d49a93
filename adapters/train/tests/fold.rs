//! Folding batch norm into the convolutions keeps the network's function: the exported graph,
//! run by the candle IR backend, matches the candle model in inference mode.

use candle_core::{Device, Tensor};
use qbench_candle::CandleBackend;
use qbench_core::{Artifact, Backend, Batch, Format, InputSpec, LoadOptions};
use qbench_train::{ResNet, ResNetConfig};

#[test]
fn folded_export_matches_the_model() {
    let cfg = ResNetConfig {
        in_channels: 1,
        classes: 10,
        widths: vec![4, 8, 8],
        blocks: 1,
        first_stride: 2,
        stem: Default::default(),
    };
    let model = ResNet::new(cfg, 7).unwrap();
    // A few training-mode passes give the batch-norm statistics non-trivial values.
    for i in 0..3 {
        let x = Tensor::randn(i as f32 * 0.1, 1.0, (16, 1, 28, 28), &Device::Cpu).unwrap();
        model.forward(&x, true).unwrap();
    }
    let x = Tensor::randn(0f32, 1.0, (3, 1, 28, 28), &Device::Cpu).unwrap();
    let want = model
        .forward(&x, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.onnx");
    model.to_onnx(28, 28).unwrap().save(&path).unwrap();
    let art = Artifact {
        technique: "fp32".into(),
        format: Format::Fp32,
        path,
        input: InputSpec::image(qbench_train::INPUT, 1, 28, 28),
        output: qbench_train::OUTPUT.into(),
    };
    let mut s = CandleBackend
        .load(
            &art,
            &LoadOptions {
                threads: 1,
                batch: 3,
            },
        )
        .unwrap();
    let data = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let got = s
        .run(&Batch {
            data: &data,
            dims: &[3, 1, 28, 28],
        })
        .unwrap();
    assert_eq!(got.dims, vec![3, 10]);
    for (a, b) in got.data.iter().zip(&want) {
        assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{a} vs {b}");
    }
}
