//! Packing of 8-bit RGB pixels into a sample, shared by the image sources: colour order (rgb or
//! bgr) or luma (1 channel), in the requested layout, as raw 0..255 values.

use image::{GenericImageView, Rgb};

use crate::{ColorOrder, DataError, Layout, Preprocess};

/// The validated `color`, `channels` and `layout` keys of an image source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ImagePacking {
    channels: usize,
    bgr: bool,
    layout: Layout,
}

impl ImagePacking {
    /// Validates `channels` (1 or 3, default 3).
    pub(crate) fn new(pre: &Preprocess) -> Result<Self, DataError> {
        let channels = pre.channels.unwrap_or(3);
        if channels != 1 && channels != 3 {
            return Err(DataError::Config(format!(
                "channels must be 1 or 3, got {channels}"
            )));
        }
        Ok(ImagePacking {
            channels,
            bgr: pre.color == Some(ColorOrder::Bgr),
            layout: pre.layout,
        })
    }

    /// Shape of a packed `h x w` image: [C, H, W] or [H, W, C].
    pub(crate) fn shape(&self, h: u32, w: u32) -> Vec<usize> {
        let (h, w, c) = (h as usize, w as usize, self.channels);
        match self.layout {
            Layout::Nchw => vec![c, h, w],
            Layout::Nhwc => vec![h, w, c],
        }
    }

    /// Packs all of `img` into `out` (len = channels x its width x its height).
    pub(crate) fn pack<I>(&self, img: &I, out: &mut [f32])
    where
        I: GenericImageView<Pixel = Rgb<u8>>,
    {
        let (w, h) = img.dimensions();
        let (oh, ow) = (h as usize, w as usize);
        let plane = oh * ow;
        for y in 0..oh {
            for x in 0..ow {
                let [r, g, b] = img.get_pixel(x as u32, y as u32).0;
                let at = y * ow + x;
                if self.channels == 1 {
                    // ITU-R 601 luma, computed as PIL's convert("L").
                    let l = (r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16;
                    out[at] = l as f32;
                    continue;
                }
                let px = if self.bgr { [b, g, r] } else { [r, g, b] };
                for (c, v) in px.iter().enumerate() {
                    let i = match self.layout {
                        Layout::Nchw => c * plane + at,
                        Layout::Nhwc => at * 3 + c,
                    };
                    out[i] = *v as f32;
                }
            }
        }
    }
}
