//! Per-channel normalization shared by all real sources: `x = (v / scale - mean[c]) / std[c]`,
//! with `c` the channel of the value under the layout (axis 0 for nchw, the last for nhwc).

use crate::{DataError, Layout};

/// A validated `x = (v / scale - mean[c]) / std[c]` for samples of one shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalizer {
    scale: f32,
    mean: Vec<f32>,
    std: Vec<f32>,
    layout: Layout,
    channels: usize,
    len: usize,
}

/// Number of channels of a sample of `shape` under `layout` (1 for a scalar sample).
pub fn channel_count(shape: &[usize], layout: Layout) -> usize {
    match layout {
        Layout::Nchw => shape.first(),
        Layout::Nhwc => shape.last(),
    }
    .copied()
    .unwrap_or(1)
}

impl Normalizer {
    /// Validates the parameters against the channel count of `shape` under `layout`.
    pub fn new(
        scale: f32,
        mean: &[f32],
        std: &[f32],
        layout: Layout,
        shape: &[usize],
    ) -> Result<Self, DataError> {
        let bad = DataError::Config;
        if !scale.is_finite() || scale <= 0.0 {
            return Err(bad(format!("scale must be finite and > 0, got {scale}")));
        }
        let channels = channel_count(shape, layout);
        let fit = |name: &str, v: &[f32]| -> Result<Vec<f32>, DataError> {
            if v.len() != 1 && v.len() != channels {
                return Err(bad(format!(
                    "{name} has {} values: give 1 or one per channel ({channels} channels in \
                     sample shape {shape:?}, layout {layout:?})",
                    v.len()
                )));
            }
            if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
                return Err(bad(format!("{name}[{i}] must be finite, got {x}")));
            }
            Ok(if v.len() == channels {
                v.to_vec()
            } else {
                vec![v[0]; channels]
            })
        };
        let mean = fit("mean", mean)?;
        let std = fit("std", std)?;
        if let Some((i, s)) = std.iter().enumerate().find(|(_, s)| **s <= 0.0) {
            return Err(bad(format!("std[{i}] must be > 0, got {s}")));
        }
        Ok(Normalizer {
            scale,
            mean,
            std,
            layout,
            channels,
            len: shape.iter().product(),
        })
    }

    /// Normalizes one sample in place (`values` holds the raw values as f32).
    pub fn apply(&self, values: &mut [f32]) {
        let c = self.channels.max(1);
        match self.layout {
            Layout::Nchw => {
                let block = (self.len / c).max(1);
                for (i, v) in values.iter_mut().enumerate() {
                    let ch = (i / block).min(c - 1);
                    *v = (*v / self.scale - self.mean[ch]) / self.std[ch];
                }
            }
            Layout::Nhwc => {
                for (i, v) in values.iter_mut().enumerate() {
                    let ch = i % c;
                    *v = (*v / self.scale - self.mean[ch]) / self.std[ch];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PerChannel, Preprocess};

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn normalizes_per_channel_in_both_layouts() {
        // Two channels of two values: NCHW blocks [c0 c0 c1 c1], NHWC interleaved [c0 c1 c0 c1].
        let n = Normalizer::new(2.0, &[1.0, 0.0], &[0.5, 2.0], Layout::Nchw, &[2, 2]).unwrap();
        let mut v = [2.0, 4.0, 2.0, 4.0];
        n.apply(&mut v);
        assert!(close(&v, &[0.0, 2.0, 0.5, 1.0]), "{v:?}");
        let n = Normalizer::new(2.0, &[1.0, 0.0], &[0.5, 2.0], Layout::Nhwc, &[2, 2]).unwrap();
        let mut v = [2.0, 2.0, 4.0, 4.0];
        n.apply(&mut v);
        assert!(close(&v, &[0.0, 0.5, 2.0, 1.0]), "{v:?}");
    }

    #[test]
    fn single_values_broadcast_and_defaults() {
        let pre = Preprocess::default();
        let n = pre.normalizer(&[3, 1, 1], 255.0).unwrap();
        let mut v = [0.0, 51.0, 255.0];
        n.apply(&mut v);
        assert!(close(&v, &[0.0, 0.2, 1.0]));
        let pre = Preprocess {
            mean: Some(PerChannel(vec![0.5])),
            std: Some(PerChannel(vec![0.25])),
            ..Preprocess::default()
        };
        let mut v = [0.5, 1.0, 0.0];
        pre.normalizer(&[3], 1.0).unwrap().apply(&mut v);
        assert!(close(&v, &[0.0, 2.0, -2.0]));
    }

    #[test]
    fn rejects_bad_parameters() {
        let err = |scale, mean: &[f32], std: &[f32]| {
            Normalizer::new(scale, mean, std, Layout::Nchw, &[3, 2, 2])
                .unwrap_err()
                .to_string()
        };
        assert!(err(0.0, &[0.0], &[1.0]).contains("scale"));
        assert!(err(f32::NAN, &[0.0], &[1.0]).contains("scale"));
        assert!(err(1.0, &[0.0, 0.0], &[1.0]).contains("mean has 2 values"));
        assert!(err(1.0, &[0.0], &[1.0, 1.0]).contains("std has 2 values"));
        assert!(err(1.0, &[f32::INFINITY], &[1.0]).contains("mean[0] must be finite"));
        assert!(err(1.0, &[0.0], &[1.0, 0.0, 1.0]).contains("std[1] must be > 0"));
        assert!(err(1.0, &[0.0], &[-1.0]).contains("std[0]"));
        // The channel axis follows the layout: 3 values fit [2, 2, 3] only as NHWC.
        assert!(Normalizer::new(1.0, &[0.0; 3], &[1.0], Layout::Nhwc, &[2, 2, 3]).is_ok());
        assert!(Normalizer::new(1.0, &[0.0; 3], &[1.0], Layout::Nchw, &[2, 2, 3]).is_err());
    }
}
