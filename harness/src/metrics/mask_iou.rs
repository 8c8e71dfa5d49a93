//! Mask IoU against the reference: each sample's outputs thresholded into a binary mask (a
//! segmentation or text-detection probability map: `value > threshold`), and the intersection
//! over union of the model's mask with the FP32 model's, averaged over samples with its 95%
//! interval (two empty masks agree: IoU 1). It says whether quantization moved the decisions a
//! detector's post-processing takes, where SQNR and cosine only say how far the values moved.
//!
//! Parameter: `threshold` [default: 0.5]. A DB text detector (PaddleOCR's) binarizes its
//! probability map at 0.3.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::{only_params, per_sample_mean, Inputs, Metric, Score};

pub struct MaskIou {
    threshold: f32,
}

pub fn build(params: &BTreeMap<String, f64>) -> Result<Box<dyn Metric>> {
    only_params("mask-iou", params, &["threshold"])?;
    let threshold = params.get("threshold").copied().unwrap_or(0.5);
    if !threshold.is_finite() {
        bail!("metric 'mask-iou': threshold must be a finite number");
    }
    Ok(Box::new(MaskIou {
        threshold: threshold as f32,
    }))
}

impl Metric for MaskIou {
    fn name(&self) -> &'static str {
        "mask-iou"
    }

    fn score(&self, inputs: &Inputs) -> Result<Option<Score>> {
        let t = self.threshold;
        per_sample_mean(inputs, |a, b| {
            let (mut inter, mut union) = (0usize, 0usize);
            for (x, y) in a.iter().zip(b) {
                let (p, q) = (*x > t, *y > t);
                inter += usize::from(p && q);
                union += usize::from(p || q);
            }
            if union == 0 {
                1.0
            } else {
                inter as f64 / union as f64
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::logits;

    #[test]
    fn iou_by_hand() {
        // Sample 1: reference mask {0, 1}, model mask {1, 2}: IoU 1/3. Sample 2: both empty: 1.
        let r = logits(3, vec![0.9, 0.8, 0.1, 0.0, 0.0, 0.0]);
        let m = logits(3, vec![0.2, 0.6, 0.7, 0.3, 0.1, 0.0]);
        let metric = build(&[("threshold".to_string(), 0.5)].into()).unwrap();
        let s = metric
            .score(&Inputs {
                outputs: &m,
                reference: Some(&r),
                labels: None,
            })
            .unwrap()
            .unwrap();
        assert!((s.value - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12, "{s:?}");
        // At threshold 0.25 the model's second sample has one pixel: IoU 0 there.
        let low = build(&[("threshold".to_string(), 0.25)].into()).unwrap();
        let s = low
            .score(&Inputs {
                outputs: &m,
                reference: Some(&r),
                labels: None,
            })
            .unwrap()
            .unwrap();
        assert!((s.value - (1.0 / 3.0) / 2.0).abs() < 1e-12, "{s:?}");
        assert!(build(&[("threshold".to_string(), f64::NAN)].into()).is_err());
    }
}
