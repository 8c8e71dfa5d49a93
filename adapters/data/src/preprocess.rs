//! The `[preprocess]` table: image geometry (resize, crop, color, channels), the sample layout,
//! and the normalization parameters (scale, mean, std) that `Normalizer` validates and applies.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{DataError, Normalizer};

/// Where the channel axis of a sample is: first (`nchw`) or last (`nhwc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Nchw,
    Nhwc,
}

/// Channel order of colour images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    #[default]
    Rgb,
    Bgr,
}

/// A crop size, `crop = 224` (square) or `crop = [h, w]`: the center crop of image folders,
/// the output size of image crops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crop {
    pub h: u32,
    pub w: u32,
}

/// Per-channel values: `mean = 0.5` (broadcast to all channels) or `mean = [0.485, 0.456, 0.406]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PerChannel(pub Vec<f32>);

/// The `[preprocess]` table of a scenario. Every key is optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Preprocess {
    /// Image folders: resize so the shorter side has this many pixels (bilinear, aspect kept).
    /// Not for image crops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<u32>,
    /// Image folders: center crop to this size after the resize. Image crops: the output size
    /// (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
    /// Images: channel order (default rgb).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<ColorOrder>,
    /// Images: 3 (colour, default) or 1 (luma).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<usize>,
    /// Channel axis of a sample; images are produced in this layout.
    pub layout: Layout,
    /// Divisor applied first (default 255 for u8 data, 1 otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    /// Subtracted per channel after scaling (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<PerChannel>,
    /// Divides per channel after the mean (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<PerChannel>,
}

impl Preprocess {
    /// Errors if an image-only key (resize, crop, color, channels) is set for source `kind`.
    pub fn reject_image_keys(&self, kind: &str) -> Result<(), DataError> {
        let set: Vec<&str> = [
            ("resize", self.resize.is_some()),
            ("crop", self.crop.is_some()),
            ("color", self.color.is_some()),
            ("channels", self.channels.is_some()),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
        if set.is_empty() {
            return Ok(());
        }
        Err(DataError::Config(format!(
            "preprocess key(s) {} apply only to image sources (image-folder, image-crops), \
             not to {kind}",
            set.join(", ")
        )))
    }

    /// Errors if a normalization key (scale, mean, std) is set for source `kind`.
    pub fn reject_normalization_keys(&self, kind: &str) -> Result<(), DataError> {
        if self.scale.is_some() || self.mean.is_some() || self.std.is_some() {
            return Err(DataError::Config(format!(
                "{kind} samples are not preprocessed: remove scale, mean and std"
            )));
        }
        Ok(())
    }

    /// The validated normalization for samples of `shape` (channel axis from `layout`).
    pub fn normalizer(&self, shape: &[usize], default_scale: f32) -> Result<Normalizer, DataError> {
        Normalizer::new(
            self.scale.unwrap_or(default_scale),
            self.mean.as_ref().map_or(&[0.0][..], |m| &m.0),
            self.std.as_ref().map_or(&[1.0][..], |s| &s.0),
            self.layout,
            shape,
        )
    }
}

impl<'de> Deserialize<'de> for PerChannel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PerChannel;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a list of numbers (one per channel)")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PerChannel, E> {
                Ok(PerChannel(vec![v as f32]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PerChannel, E> {
                Ok(PerChannel(vec![v as f32]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PerChannel, E> {
                Ok(PerChannel(vec![v as f32]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PerChannel, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element::<f32>()? {
                    out.push(x);
                }
                if out.is_empty() {
                    return Err(de::Error::invalid_length(0, &self));
                }
                Ok(PerChannel(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for PerChannel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_f32(*one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Crop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn side<E: de::Error>(v: i128) -> Result<u32, E> {
            match u32::try_from(v) {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(E::custom(format!(
                    "crop sizes must be positive integers, got {v}"
                ))),
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = Crop;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive integer or [height, width]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Crop, E> {
                let n = side(v as i128)?;
                Ok(Crop { h: n, w: n })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Crop, E> {
                let n = side(v as i128)?;
                Ok(Crop { h: n, w: n })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Crop, A::Error> {
                let mut sides = Vec::new();
                while let Some(x) = seq.next_element::<i64>()? {
                    sides.push(side::<A::Error>(x as i128)?);
                }
                match sides[..] {
                    [h, w] => Ok(Crop { h, w }),
                    _ => Err(de::Error::invalid_length(sides.len(), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Crop {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.h == self.w {
            s.serialize_u32(self.h)
        } else {
            [self.h, self.w].serialize(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_forms() {
        let p: Preprocess = toml::from_str(
            "resize = 256\ncrop = [224, 192]\ncolor = \"bgr\"\nchannels = 1\nlayout = \"nhwc\"\n\
             scale = 255\nmean = 0\nstd = [1, 0.5, 2.0]",
        )
        .unwrap();
        assert_eq!(p.crop, Some(Crop { h: 224, w: 192 }));
        assert_eq!(
            (p.color, p.layout, p.channels),
            (Some(ColorOrder::Bgr), Layout::Nhwc, Some(1))
        );
        assert_eq!(p.scale, Some(255.0));
        assert_eq!(p.mean, Some(PerChannel(vec![0.0])));
        assert_eq!(p.std, Some(PerChannel(vec![1.0, 0.5, 2.0])));
        let q: Preprocess = toml::from_str("crop = 28").unwrap();
        assert_eq!(q.crop, Some(Crop { h: 28, w: 28 }));
        assert_eq!(q.layout, Layout::Nchw);
        let back: Preprocess = toml::from_str(&toml::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        for bad in [
            "crop = 0",
            "crop = [1, 2, 3]",
            "crop = -4",
            "mean = []",
            "layout = \"chw\"",
            "colour = \"rgb\"",
            "std = \"x\"",
        ] {
            assert!(
                toml::from_str::<Preprocess>(bad).is_err(),
                "{bad} should not parse"
            );
        }
    }

    #[test]
    fn rejects_keys_that_would_be_ignored() {
        let p = Preprocess {
            resize: Some(32),
            channels: Some(1),
            ..Default::default()
        };
        let e = p.reject_image_keys("npy").unwrap_err().to_string();
        assert!(e.contains("resize, channels") && e.contains("npy"), "{e}");
        assert!(Preprocess::default().reject_image_keys("npy").is_ok());
        let p = Preprocess {
            scale: Some(2.0),
            ..Default::default()
        };
        assert!(p.reject_normalization_keys("synthetic").is_err());
        assert!(Preprocess::default()
            .reject_normalization_keys("synthetic")
            .is_ok());
    }
}
