//! The training loop: AdamW with a cosine learning-rate schedule, horizontal-flip augmentation,
//! seeded shuffling, evaluation on the test set after each epoch.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use qbench_data::{LabelledImages, Normalization};
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

use crate::{ResNet, ResNetConfig, TrainError};

/// Training hyper-parameters.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub model: ResNetConfig,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
    pub norm: Normalization,
    /// Randomly mirror training images left-right.
    pub flip: bool,
    /// Use only the first N training images (0 = all); for smoke tests.
    pub limit: usize,
}

/// What one epoch achieved.
#[derive(Clone, Debug)]
pub struct EpochReport {
    pub epoch: usize,
    pub loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// Callbacks for progress display.
pub trait Progress {
    fn start_epoch(&mut self, epoch: usize, steps: usize);
    fn step(&mut self, loss: f64, accuracy: f64);
    fn end_epoch(&mut self, report: &EpochReport);
}

/// The trained network and its history.
pub struct Trained {
    pub model: ResNet,
    pub epochs: Vec<EpochReport>,
    pub seconds: f64,
}

fn flip_batch(pixels: &mut [f32], rows: usize, cols: usize, rng: &mut StdRng) {
    for img in pixels.chunks_mut(rows * cols) {
        if rng.gen_bool(0.5) {
            img.chunks_mut(cols).for_each(|r| r.reverse());
        }
    }
}

/// Top-1 accuracy of the model (inference mode) on a labelled set.
pub fn evaluate(
    model: &ResNet,
    set: &LabelledImages,
    norm: Normalization,
) -> Result<f64, TrainError> {
    Ok(top1(set, norm, |x| model.forward(x, false))?)
}

/// Top-1 accuracy of `logits` (a batch of NCHW images in, logits out) on a labelled set, in
/// batches of 500.
pub fn top1(
    set: &LabelledImages,
    norm: Normalization,
    mut logits: impl FnMut(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<f64> {
    let bs = 500;
    let mut correct = 0usize;
    for start in (0..set.len()).step_by(bs) {
        let n = bs.min(set.len() - start);
        let x = Tensor::from_vec(
            set.batch(start, n, norm),
            (n, 1, set.rows, set.cols),
            &Device::Cpu,
        )?;
        let pred = logits(&x)?.argmax(1)?.to_vec1::<u32>()?;
        correct += pred
            .iter()
            .zip(&set.labels[start..start + n])
            .filter(|(p, l)| **p == **l as u32)
            .count();
    }
    Ok(correct as f64 / set.len().max(1) as f64)
}

/// The training batch of images `idx`: pixels normalized (and mirrored at random with `flip`)
/// as an NCHW tensor, and the labels.
pub fn training_batch(
    set: &LabelledImages,
    idx: &[usize],
    norm: Normalization,
    flip: bool,
    rng: &mut StdRng,
) -> candle_core::Result<(Tensor, Tensor)> {
    let mut pixels = Vec::with_capacity(idx.len() * set.image_len());
    let mut labels = Vec::with_capacity(idx.len());
    for &i in idx {
        pixels.extend(set.batch(i, 1, norm));
        labels.push(set.labels[i] as u32);
    }
    if flip {
        flip_batch(&mut pixels, set.rows, set.cols, rng);
    }
    let x = Tensor::from_vec(pixels, (idx.len(), 1, set.rows, set.cols), &Device::Cpu)?;
    let y = Tensor::from_vec(labels, idx.len(), &Device::Cpu)?;
    Ok((x, y))
}

/// The number of correct predictions in a batch of logits.
pub fn hits(logits: &Tensor, labels: &Tensor) -> candle_core::Result<usize> {
    Ok(logits
        .argmax(1)?
        .eq(labels)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()? as usize)
}

/// Trains a ResNet on `train`, reporting test accuracy on `test` after every epoch.
pub fn train(
    train: &LabelledImages,
    test: &LabelledImages,
    cfg: &TrainConfig,
    progress: &mut dyn Progress,
) -> Result<Trained, TrainError> {
    let train = if cfg.limit > 0 {
        train.take(cfg.limit)
    } else {
        train.clone()
    };
    if train.len() < cfg.batch_size {
        return Err(TrainError::Invalid(format!(
            "{} training images is fewer than one batch of {}",
            train.len(),
            cfg.batch_size
        )));
    }
    let started = Instant::now();
    let model = ResNet::new(cfg.model.clone(), cfg.seed)?;
    let params = ParamsAdamW {
        lr: cfg.learning_rate,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let mut opt = AdamW::new(model.vars(), params)?;
    let steps = train.len() / cfg.batch_size;
    let total = (steps * cfg.epochs) as f64;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut epochs = Vec::new();
    for epoch in 0..cfg.epochs {
        let mut rng = StdRng::seed_from_u64(cfg.seed.wrapping_add(1 + epoch as u64));
        order.shuffle(&mut rng);
        progress.start_epoch(epoch + 1, steps);
        let t0 = Instant::now();
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for step in 0..steps {
            let done = (epoch * steps + step) as f64 / total;
            opt.set_learning_rate(
                cfg.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * done).cos()),
            );
            let idx = &order[step * cfg.batch_size..(step + 1) * cfg.batch_size];
            let (x, y) = training_batch(&train, idx, cfg.norm, cfg.flip, &mut rng)?;
            let logits = model.forward(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            let loss_v = loss.to_scalar::<f32>()? as f64;
            let hits = hits(&logits, &y)?;
            loss_sum += loss_v;
            correct += hits;
            progress.step(loss_v, hits as f64 / idx.len() as f64);
        }
        let report = EpochReport {
            epoch: epoch + 1,
            loss: loss_sum / steps as f64,
            train_accuracy: correct as f64 / (steps * cfg.batch_size) as f64,
            test_accuracy: evaluate(&model, test, cfg.norm)?,
            seconds: t0.elapsed().as_secs_f64(),
        };
        progress.end_epoch(&report);
        epochs.push(report);
    }
    Ok(Trained {
        model,
        epochs,
        seconds: started.elapsed().as_secs_f64(),
    })
}
