//! Decoding and geometric preprocessing of one image: RGB conversion, resize of the shorter
//! side (bilinear/triangle, aspect kept, as torchvision's `Resize(int)`), center crop (offsets
//! rounded as torchvision's `CenterCrop`), then packing into the requested channels and layout
//! (`ImagePacking`).

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageReader, RgbImage};

use crate::image_packing::ImagePacking;
use crate::{Crop, DataError, Preprocess};

/// The resampling filter of every image resize: bilinear (triangle) weights, widened when
/// shrinking as PIL's and torchvision's antialiased bilinear resize.
pub(crate) const RESIZE_FILTER: FilterType = FilterType::Triangle;

/// Decodes a PNG or JPEG file (the format is taken from the content).
pub fn decode_image(path: &Path) -> Result<DynamicImage, DataError> {
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| DataError::io(path, e))?;
    reader
        .decode()
        .map_err(|e| DataError::invalid(path, format!("cannot decode image: {e}")))
}

/// Width and height of an image file, from its header only.
pub fn image_dimensions(path: &Path) -> Result<(u32, u32), DataError> {
    let reader = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| DataError::io(path, e))?;
    reader
        .into_dimensions()
        .map_err(|e| DataError::invalid(path, format!("cannot read image header: {e}")))
}

/// Size (width, height) after resizing the shorter side of a `w x h` image to `side` pixels
/// (the longer side is truncated, as torchvision does).
pub fn resized_size(w: u32, h: u32, side: u32) -> Option<(u32, u32)> {
    if w == 0 || h == 0 {
        return None;
    }
    let long = |l: u32, s: u32| u32::try_from(side as u64 * l as u64 / s as u64).ok();
    if w <= h {
        Some((side, long(h, w)?))
    } else {
        Some((long(w, h)?, side))
    }
}

/// Offset of a centered window of `inner` pixels in `outer` (round half to even, as Python).
fn center_offset(outer: u32, inner: u32) -> u32 {
    ((outer - inner) as f64 / 2.0).round_ties_even() as u32
}

/// The geometric part of the preprocessing, producing raw 0..255 values.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageTransform {
    resize: Option<u32>,
    crop: Option<Crop>,
    /// Output height and width.
    size: (u32, u32),
    packing: ImagePacking,
}

impl ImageTransform {
    /// Validates the image keys; `native` is the (width, height) of a reference image, used for
    /// the output size when there is no crop.
    pub fn new(pre: &Preprocess, native: (u32, u32), reference: &Path) -> Result<Self, DataError> {
        let packing = ImagePacking::new(pre)?;
        if pre.resize == Some(0) {
            return Err(DataError::Config("resize must be > 0".into()));
        }
        if let Some(c) = pre.crop {
            if c.h == 0 || c.w == 0 {
                return Err(DataError::Config(format!(
                    "crop sizes must be > 0, got [{}, {}]",
                    c.h, c.w
                )));
            }
        }
        let size = match (pre.crop, pre.resize) {
            (Some(c), _) => (c.h, c.w),
            (None, Some(r)) => {
                let (w, h) = resized_size(native.0, native.1, r).ok_or_else(|| {
                    DataError::invalid(
                        reference,
                        format!("cannot resize a {}x{} image to {r}", native.0, native.1),
                    )
                })?;
                (h, w)
            }
            (None, None) => (native.1, native.0),
        };
        Ok(ImageTransform {
            resize: pre.resize,
            crop: pre.crop,
            size,
            packing,
        })
    }

    /// Shape of one output sample: [C, H, W] or [H, W, C].
    pub fn shape(&self) -> Vec<usize> {
        self.packing.shape(self.size.0, self.size.1)
    }

    /// Resizes, crops and packs `img` (read from `path`) into `out` as raw 0..255 values.
    pub fn apply(&self, img: DynamicImage, path: &Path, out: &mut [f32]) -> Result<(), DataError> {
        let mut rgb: RgbImage = img.into_rgb8();
        let (w0, h0) = rgb.dimensions();
        if let Some(side) = self.resize {
            let (w, h) = resized_size(w0, h0, side).ok_or_else(|| {
                DataError::invalid(path, format!("cannot resize a {w0}x{h0} image to {side}"))
            })?;
            if (w, h) != (w0, h0) {
                rgb = imageops::resize(&rgb, w, h, RESIZE_FILTER);
            }
        }
        let (w, h) = rgb.dimensions();
        let (oh, ow) = self.size;
        let resized = match self.resize {
            Some(side) => format!(" (from {w0}x{h0}, shorter side resized to {side})"),
            None => String::new(),
        };
        let (top, left) = match self.crop {
            Some(_) if w < ow || h < oh => {
                return Err(DataError::invalid(
                    path,
                    format!("image is {w}x{h}{resized}, smaller than the {ow}x{oh} (WxH) crop"),
                ));
            }
            Some(_) => (center_offset(h, oh), center_offset(w, ow)),
            None if (w, h) != (ow, oh) => {
                return Err(DataError::invalid(
                    path,
                    format!("image is {w}x{h}{resized}, the dataset's images are {ow}x{oh} (WxH): set crop"),
                ));
            }
            None => (0, 0),
        };
        self.packing
            .pack(&*imageops::crop_imm(&rgb, left, top, ow, oh), out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ColorOrder, Layout};
    use image::{GrayImage, Rgb};

    fn pre() -> Preprocess {
        Preprocess::default()
    }

    fn run(t: &ImageTransform, img: DynamicImage) -> Result<Vec<f32>, DataError> {
        let mut out = vec![0f32; t.shape().iter().product()];
        t.apply(img, Path::new("img.png"), &mut out).map(|_| out)
    }

    /// A 2x2 image: red, green / blue, white.
    fn rgb2x2() -> DynamicImage {
        let px = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        DynamicImage::ImageRgb8(RgbImage::from_raw(2, 2, px.to_vec()).unwrap())
    }

    #[test]
    fn packs_rgb_bgr_nhwc_and_luma() {
        let p = Path::new("ref.png");
        let t = ImageTransform::new(&pre(), (2, 2), p).unwrap();
        assert_eq!(t.shape(), [3, 2, 2]);
        let r = run(&t, rgb2x2()).unwrap();
        assert_eq!(
            r,
            [255., 0., 0., 255., 0., 255., 0., 255., 0., 0., 255., 255.]
        );
        let bgr = Preprocess {
            color: Some(ColorOrder::Bgr),
            ..pre()
        };
        let r = run(&ImageTransform::new(&bgr, (2, 2), p).unwrap(), rgb2x2()).unwrap();
        assert_eq!(
            r,
            [0., 0., 255., 255., 0., 255., 0., 255., 255., 0., 0., 255.]
        );
        let nhwc = Preprocess {
            layout: Layout::Nhwc,
            ..pre()
        };
        let t = ImageTransform::new(&nhwc, (2, 2), p).unwrap();
        assert_eq!(t.shape(), [2, 2, 3]);
        let r = run(&t, rgb2x2()).unwrap();
        assert_eq!(
            r,
            [255., 0., 0., 0., 255., 0., 0., 0., 255., 255., 255., 255.]
        );
        let luma = Preprocess {
            channels: Some(1),
            ..pre()
        };
        let t = ImageTransform::new(&luma, (2, 2), p).unwrap();
        assert_eq!(t.shape(), [1, 2, 2]);
        // PIL: L = R * 299/1000 + G * 587/1000 + B * 114/1000, rounded.
        assert_eq!(run(&t, rgb2x2()).unwrap(), [76., 150., 29., 255.]);
    }

    #[test]
    fn gray_images_become_three_channels() {
        let g = DynamicImage::ImageLuma8(GrayImage::from_raw(1, 2, vec![10, 200]).unwrap());
        let t = ImageTransform::new(&pre(), (1, 2), Path::new("g.png")).unwrap();
        assert_eq!(run(&t, g).unwrap(), [10., 200., 10., 200., 10., 200.]);
    }

    #[test]
    fn resize_and_crop_sizes() {
        assert_eq!(resized_size(500, 375, 256), Some((341, 256)));
        assert_eq!(resized_size(375, 500, 256), Some((256, 341)));
        assert_eq!(resized_size(256, 256, 256), Some((256, 256)));
        assert_eq!(resized_size(0, 5, 3), None);
        assert_eq!(
            (
                center_offset(5, 2),
                center_offset(7, 2),
                center_offset(8, 2)
            ),
            (2, 2, 3)
        );
        let p = Preprocess {
            resize: Some(10),
            crop: Some(Crop { h: 8, w: 6 }),
            ..pre()
        };
        let t = ImageTransform::new(&p, (1, 1), Path::new("r.png")).unwrap();
        assert_eq!(t.shape(), [3, 8, 6]);
        let wide = DynamicImage::ImageRgb8(RgbImage::from_pixel(40, 20, Rgb([9, 9, 9])));
        let r = run(&t, wide).unwrap();
        assert!(
            r.iter().all(|v| *v == 9.0),
            "a constant image stays constant"
        );
        // Resize without crop: the size follows the reference image.
        let p = Preprocess {
            resize: Some(10),
            ..pre()
        };
        let t = ImageTransform::new(&p, (40, 20), Path::new("r.png")).unwrap();
        assert_eq!(t.shape(), [3, 10, 20]);
        let other = DynamicImage::ImageRgb8(RgbImage::new(20, 20));
        let e = run(&t, other).unwrap_err().to_string();
        assert!(
            e.contains("img.png") && e.contains("10x10") && e.contains("set crop"),
            "{e}"
        );
    }

    #[test]
    fn crop_takes_the_center() {
        let px: Vec<u8> = (0..9).flat_map(|i| [i * 10, 0, 0]).collect();
        let img = DynamicImage::ImageRgb8(RgbImage::from_raw(3, 3, px).unwrap());
        let p = Preprocess {
            crop: Some(Crop { h: 1, w: 1 }),
            channels: Some(1),
            ..pre()
        };
        let t = ImageTransform::new(&p, (3, 3), Path::new("c.png")).unwrap();
        // Center pixel has R = 40; luma of pure red 40 is (40 * 19595 + 32768) >> 16 = 12.
        assert_eq!(run(&t, img).unwrap(), [12.0]);
    }

    #[test]
    fn errors() {
        let p = Preprocess {
            crop: Some(Crop { h: 4, w: 4 }),
            ..pre()
        };
        let t = ImageTransform::new(&p, (1, 1), Path::new("x")).unwrap();
        let e = run(&t, rgb2x2()).unwrap_err().to_string();
        assert!(
            e.contains("img.png") && e.contains("smaller than the 4x4"),
            "{e}"
        );
        let t = ImageTransform::new(&pre(), (3, 3), Path::new("x")).unwrap();
        assert!(run(&t, rgb2x2()).unwrap_err().to_string().contains("2x2"));
        let bad = |p: Preprocess| {
            ImageTransform::new(&p, (2, 2), Path::new("x"))
                .unwrap_err()
                .to_string()
        };
        assert!(bad(Preprocess {
            channels: Some(2),
            ..pre()
        })
        .contains("channels must be 1 or 3"));
        assert!(bad(Preprocess {
            resize: Some(0),
            ..pre()
        })
        .contains("resize"));
        assert!(bad(Preprocess {
            crop: Some(Crop { h: 0, w: 1 }),
            ..pre()
        })
        .contains("crop"));
    }
}
