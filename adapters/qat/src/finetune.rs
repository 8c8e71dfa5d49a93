//! The QAT fine-tuning loop: the recipe's optimizer over the FP32 network's variables, seeded
//! shuffling and horizontal flips as the FP32 training, batch norm and observers frozen at the
//! recipe's fractions of the steps, the fake-quantized model's test accuracy measured at every
//! quarter of the run (the training curve).

use std::time::Instant;

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW, SGD};
use qbench_data::{LabelledImages, Normalization};
use qbench_train::{hits, training_batch, EpochReport, Progress, ResNet};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use crate::net::QatNet;
use crate::recipe::{Optimizer, QatRecipe, QatSettings};

/// What the fine-tuning run is given besides the recipe.
#[derive(Clone, Debug)]
pub struct FinetuneConfig {
    pub recipe: QatRecipe,
    pub settings: QatSettings,
    pub seed: u64,
    pub norm: Normalization,
    pub flip: bool,
    /// Use only the first N training images (0 = all); for smoke tests.
    pub limit: usize,
}

/// One point of the training curve.
#[derive(Clone, Debug)]
pub struct CurvePoint {
    pub step: usize,
    /// Mean training loss (fake-quantized model) since the previous point.
    pub loss: f64,
    /// Top-1 of the fake-quantized model on the test set.
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// The fine-tuned network and its history.
pub struct Finetuned {
    pub net: QatNet,
    pub epochs: Vec<EpochReport>,
    pub curve: Vec<CurvePoint>,
    pub steps: usize,
    pub seconds: f64,
}

/// Top-1 of the fake-quantized network (observers and batch norm in inference mode).
pub fn evaluate(
    net: &mut QatNet,
    set: &LabelledImages,
    norm: Normalization,
) -> candle_core::Result<f64> {
    qbench_train::top1(set, norm, |x| net.forward(x, false))
}

enum Opt {
    Sgd(SGD),
    Adam(AdamW),
}

impl Opt {
    fn new(o: Optimizer, model: &ResNet) -> candle_core::Result<Self> {
        Ok(match o {
            Optimizer::Sgd { lr } => Opt::Sgd(SGD::new(model.vars(), lr)?),
            Optimizer::Adam { lr, eps, .. } => Opt::Adam(AdamW::new(
                model.vars(),
                ParamsAdamW {
                    lr,
                    eps,
                    weight_decay: 0.0,
                    ..Default::default()
                },
            )?),
        })
    }

    fn step(&mut self, loss: &Tensor, o: Optimizer, done: f64) -> candle_core::Result<()> {
        match (self, o) {
            (Opt::Sgd(s), _) => s.backward_step(loss),
            (Opt::Adam(a), Optimizer::Adam { lr, cosine, .. }) => {
                if cosine {
                    a.set_learning_rate(lr * 0.5 * (1.0 + (std::f64::consts::PI * done).cos()));
                }
                a.backward_step(loss)
            }
            (Opt::Adam(a), _) => a.backward_step(loss),
        }
    }
}

/// Fine-tunes `model` (trained FP32) with the recipe's fake quantization on `train`, measuring
/// the fake-quantized model on `test` at every quarter of the run.
pub fn finetune(
    model: ResNet,
    train: &LabelledImages,
    test: &LabelledImages,
    cfg: &FinetuneConfig,
    progress: &mut dyn Progress,
) -> candle_core::Result<Finetuned> {
    let s = cfg.settings.clone();
    let train = if cfg.limit > 0 {
        train.take(cfg.limit)
    } else {
        train.clone()
    };
    if train.len() < s.batch_size || s.epochs == 0 {
        candle_core::bail!(
            "{} training images and {} epochs: fewer than one batch of {}",
            train.len(),
            s.epochs,
            s.batch_size
        );
    }
    let started = Instant::now();
    let mut opt = Opt::new(s.optimizer, &model)?;
    let mut net = QatNet::new(model, s.clone())?;
    let steps = train.len() / s.batch_size;
    let total = steps * s.epochs;
    let at = |f: Option<f64>| f.map(|f| (f * total as f64).round() as usize);
    let (freeze_bn, freeze_obs) = (at(s.freeze_bn_at), at(s.freeze_observers_at));
    let marks: Vec<usize> = (1..=4).map(|k| (k * total).div_ceil(4)).collect();
    let mut order: Vec<usize> = (0..train.len()).collect();
    let (mut epochs, mut curve) = (Vec::new(), Vec::new());
    let (mut since_loss, mut since_n, mut since_t) = (0.0, 0usize, Instant::now());
    for epoch in 0..s.epochs {
        let mut rng = StdRng::seed_from_u64(cfg.seed.wrapping_add(1 + epoch as u64));
        order.shuffle(&mut rng);
        progress.start_epoch(epoch + 1, steps);
        let t0 = Instant::now();
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for step in 0..steps {
            let global = epoch * steps + step;
            net.bn_frozen = freeze_bn.is_some_and(|f| global >= f);
            net.observers_frozen = freeze_obs.is_some_and(|f| global >= f);
            let idx = &order[step * s.batch_size..(step + 1) * s.batch_size];
            let (x, y) = training_batch(&train, idx, cfg.norm, cfg.flip, &mut rng)?;
            let logits = net.forward(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.step(&loss, s.optimizer, global as f64 / total as f64)?;
            let loss_v = loss.to_scalar::<f32>()? as f64;
            if !loss_v.is_finite() {
                candle_core::bail!("the loss became {loss_v} at step {global}");
            }
            let hits = hits(&logits, &y)?;
            loss_sum += loss_v;
            correct += hits;
            since_loss += loss_v;
            since_n += 1;
            progress.step(loss_v, hits as f64 / idx.len() as f64);
            if marks.contains(&(global + 1)) {
                curve.push(CurvePoint {
                    step: global + 1,
                    loss: since_loss / since_n as f64,
                    test_accuracy: evaluate(&mut net, test, cfg.norm)?,
                    seconds: since_t.elapsed().as_secs_f64(),
                });
                (since_loss, since_n, since_t) = (0.0, 0, Instant::now());
            }
        }
        let report = EpochReport {
            epoch: epoch + 1,
            loss: loss_sum / steps as f64,
            train_accuracy: correct as f64 / (steps * s.batch_size) as f64,
            test_accuracy: curve.last().map_or(f64::NAN, |c| c.test_accuracy),
            seconds: t0.elapsed().as_secs_f64(),
        };
        progress.end_epoch(&report);
        epochs.push(report);
    }
    Ok(Finetuned {
        net,
        epochs,
        curve,
        steps: total,
        seconds: started.elapsed().as_secs_f64(),
    })
}
