//! What trains is what runs: a network under each QAT recipe, exported through the quantizer
//! (PyTorch's convert, TFLite's converter, the 4-bit QDQ model), gives on a backend the
//! predictions the fake-quantized network gives in inference mode; and fine-tuning runs its
//! schedule (quarter-point curve, batch norm and observers frozen where the recipe says) and
//! lowers the fake-quantized model's loss.

use candle_core::{Device, Tensor};
use qbench_candle::CandleBackend;
use qbench_core::{Artifact, Backend, Batch, InputSpec, LoadOptions};
use qbench_data::{LabelledImages, Normalization};
use qbench_qat::{export, finetune, FinetuneConfig, Optimizer, QatNet, QatRecipe};
use qbench_train::{EpochReport, Progress, ResNet, ResNetConfig};
use rand::{rngs::StdRng, Rng, SeedableRng};

const SIDE: usize = 12;

fn config() -> ResNetConfig {
    ResNetConfig {
        in_channels: 1,
        classes: 3,
        widths: vec![4, 8],
        blocks: 1,
        first_stride: 1,
        stem: Default::default(),
    }
}

/// Three classes: a bright band at the top, in the middle or at the bottom, with noise.
fn images(n: usize, seed: u64) -> LabelledImages {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(n * SIDE * SIDE);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.gen_range(0..3u8);
        for r in 0..SIDE {
            for _ in 0..SIDE {
                let band = r / (SIDE / 3) == class as usize;
                let base = if band { 170.0 } else { 60.0 };
                pixels.push((base + rng.gen_range(-60.0..60.0f32)).clamp(0.0, 255.0) as u8);
            }
        }
        labels.push(class);
    }
    LabelledImages {
        rows: SIDE,
        cols: SIDE,
        pixels,
        labels,
    }
}

const NORM: Normalization = Normalization {
    mean: 0.4,
    std: 0.3,
};

fn batch(set: &LabelledImages, n: usize) -> Tensor {
    Tensor::from_vec(set.batch(0, n, NORM), (n, 1, SIDE, SIDE), &Device::Cpu).unwrap()
}

/// A briefly trained FP32 network (training-mode passes give batch norm real statistics).
fn trained() -> ResNet {
    let train = images(384, 1);
    let cfg = qbench_train::TrainConfig {
        model: config(),
        epochs: 2,
        batch_size: 32,
        learning_rate: 3e-3,
        weight_decay: 0.0,
        seed: 3,
        norm: NORM,
        flip: false,
        limit: 0,
    };
    qbench_train::train(&train, &images(96, 2), &cfg, &mut Quiet)
        .unwrap()
        .model
}

struct Quiet;

impl Progress for Quiet {
    fn start_epoch(&mut self, _: usize, _: usize) {}
    fn step(&mut self, _: f64, _: f64) {}
    fn end_epoch(&mut self, _: &EpochReport) {}
}

fn run_exported(recipe: QatRecipe, net: &QatNet, x: &Tensor) -> Vec<f32> {
    let folded = net.model.to_onnx(SIDE, SIDE).unwrap();
    let q = export(recipe, &folded, &net.ranges()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qat.onnx");
    q.model.save(&path).unwrap();
    let n = x.dim(0).unwrap();
    let art = Artifact {
        technique: recipe.name().into(),
        format: q.format,
        path,
        input: InputSpec::image(qbench_train::INPUT, 1, SIDE, SIDE),
        output: qbench_train::OUTPUT.into(),
    };
    let mut s = CandleBackend
        .load(
            &art,
            &LoadOptions {
                threads: 1,
                batch: n,
            },
        )
        .unwrap();
    let data = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    s.run(&Batch {
        data: &data,
        dims: &[n, 1, SIDE, SIDE],
    })
    .unwrap()
    .data
}

fn argmax(v: &[f32], classes: usize) -> Vec<usize> {
    v.chunks(classes)
        .map(|r| (0..classes).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
        .collect()
}

#[test]
fn the_exported_model_predicts_what_the_fake_quantized_network_does() {
    let base = trained();
    let tensors: std::collections::HashMap<_, _> = base.named_tensors().into_iter().collect();
    let calib = images(256, 5);
    let test = images(128, 6);
    let x = batch(&test, 128);
    for recipe in QatRecipe::ALL {
        let model = ResNet::from_named(config(), &tensors).unwrap();
        let mut net = QatNet::new(model, recipe.settings()).unwrap();
        // Observe a few batches as training would (no optimizer step), then freeze.
        for k in 0..4 {
            let xb = Tensor::from_vec(
                calib.batch(k * 64, 64, NORM),
                (64, 1, SIDE, SIDE),
                &Device::Cpu,
            )
            .unwrap();
            net.forward(&xb, true).unwrap();
        }
        net.bn_frozen = true;
        net.observers_frozen = true;
        let want = net
            .forward(&x, false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let got = run_exported(recipe, &net, &x);
        assert_eq!(got.len(), want.len());
        let (a, b) = (argmax(&got, 3), argmax(&want, 3));
        let agree = a.iter().zip(&b).filter(|(p, q)| p == q).count();
        assert!(agree >= 122, "{recipe}: {agree}/128 predictions agree");
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let mean_diff: f32 = got
            .iter()
            .zip(&want)
            .map(|(p, q)| (p - q).abs())
            .sum::<f32>()
            / got.len() as f32;
        assert!(
            mean_diff < 0.05 * scale,
            "{recipe}: logits differ by {mean_diff} on average (largest logit {scale})"
        );
    }
}

#[test]
fn fine_tuning_follows_the_schedule_and_lowers_the_quantized_loss() {
    let base = trained();
    let train = images(512, 7);
    let test = images(96, 8);
    let mut settings = QatRecipe::Qat4bit.settings();
    settings.optimizer = Optimizer::Adam {
        lr: 3e-3,
        eps: 1e-8,
        cosine: true,
    };
    settings.batch_size = 32;
    settings.epochs = 2;
    let cfg = FinetuneConfig {
        recipe: QatRecipe::Qat4bit,
        settings,
        seed: 9,
        norm: NORM,
        flip: false,
        limit: 0,
    };
    let tuned = finetune(base, &train, &test, &cfg, &mut Quiet).unwrap();
    assert_eq!(tuned.steps, 32);
    let steps: Vec<usize> = tuned.curve.iter().map(|c| c.step).collect();
    assert_eq!(steps, vec![8, 16, 24, 32]);
    assert!(tuned.net.bn_frozen && tuned.net.observers_frozen);
    let first = tuned.curve.first().unwrap().loss;
    let last = tuned.curve.last().unwrap().loss;
    assert!(last < first, "loss {first} -> {last}");
    assert_eq!(tuned.epochs.len(), 2);
    // A recipe that never freezes (TF-MOT) leaves both running.
    let cfg = FinetuneConfig {
        recipe: QatRecipe::TfliteQat,
        settings: QatRecipe::TfliteQat.settings(),
        limit: 128,
        ..cfg
    };
    let tuned = finetune(trained(), &train, &test, &cfg, &mut Quiet).unwrap();
    assert!(!tuned.net.bn_frozen && !tuned.net.observers_frozen);
}

#[test]
fn too_few_images_for_one_batch_is_an_error() {
    let cfg = FinetuneConfig {
        recipe: QatRecipe::PytorchQat,
        settings: QatRecipe::PytorchQat.settings(),
        seed: 1,
        norm: NORM,
        flip: false,
        limit: 10,
    };
    let err = finetune(trained(), &images(100, 1), &images(10, 2), &cfg, &mut Quiet)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("fewer than one batch"), "{err}");
}
