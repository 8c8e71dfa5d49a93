//! `TextLines`: images of single lines of printed text, rendered from the words of a text file
//! with a TrueType font, the input of an OCR model's line stages (PaddleOCR's text-orientation
//! classifier and recognizer read one line each).
//!
//! Sample `i` draws its own seeded generator from the seed and `i` (any subset reads the same
//! values): it starts at a random word of the text and adds the following words until the
//! rendered line is at least as wide, relative to its height, as the output (`crop`), renders
//! them black on white at `size` pixels with the font's advances and kerning (`ab_glyph`), adds
//! a margin of a fifth of the size around the ink's line box, and resizes the line to the
//! `crop` size, as RapidOCR's classifier does for lines wider than its input's 4:1 (a slight
//! horizontal squeeze). Labels: none, or [`CropLabels::Rotation180`] (half the lines upside
//! down).

use std::path::{Path, PathBuf};

use ab_glyph::{point, Font, FontVec, PxScale, ScaleFont};
use image::{imageops, Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::dataset::check_read;
use crate::image_crops::SampleLabels;
use crate::image_packing::ImagePacking;
use crate::image_transform::RESIZE_FILTER;
use crate::{splitmix64, Crop, CropLabels, DataError, Dataset, Normalizer, Preprocess};

/// Words per line at most (a guard against a text of one-letter words).
const MAX_WORDS: usize = 64;

/// Rendered lines of text from a font and a text file.
pub struct TextLines {
    font_path: PathBuf,
    font: FontVec,
    words: Vec<String>,
    count: usize,
    seed: u64,
    size: f32,
    crop: Crop,
    packing: ImagePacking,
    shape: Vec<usize>,
    norm: Normalizer,
    labels: Option<CropLabels>,
}

impl std::fmt::Debug for TextLines {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("TextLines")
            .field("font", &self.font_path)
            .field("words", &self.words.len())
            .field("count", &self.count)
            .finish()
    }
}

impl TextLines {
    /// Reads the font (TrueType/OpenType) and the text (UTF-8; its whitespace-separated words,
    /// keeping those the font has every glyph of) and validates the preprocessing (`crop` is
    /// the required output size; `resize` does not apply).
    pub fn open(
        font: &Path,
        text: &Path,
        count: usize,
        seed: u64,
        size: f32,
        pre: &Preprocess,
    ) -> Result<Self, DataError> {
        let bad = |m: &str| Err(DataError::Config(format!("text-lines: {m}")));
        if count == 0 {
            return bad("count must be > 0");
        }
        if !(size.is_finite() && (4.0..=512.0).contains(&size)) {
            return bad("size (the font size in pixels) must be within 4..512");
        }
        if pre.resize.is_some() {
            return bad("preprocess key resize does not apply to text lines: remove it");
        }
        let Some(crop) = pre.crop else {
            return bad("preprocess key crop (the output size, e.g. crop = [48, 192]) is required");
        };
        let bytes = std::fs::read(font).map_err(|e| DataError::io(font, e))?;
        let font_data = FontVec::try_from_vec(bytes)
            .map_err(|_| DataError::invalid(font, "not a TrueType/OpenType font"))?;
        let raw = std::fs::read(text).map_err(|e| DataError::io(text, e))?;
        let raw = String::from_utf8(raw).map_err(|_| DataError::invalid(text, "not UTF-8 text"))?;
        let words: Vec<String> = raw
            .split_whitespace()
            .filter(|w| w.chars().all(|c| font_data.glyph_id(c).0 != 0))
            .map(str::to_string)
            .collect();
        if words.is_empty() {
            return Err(DataError::invalid(
                text,
                "has no word the font can render (empty, or every word has a character the font lacks)",
            ));
        }
        let packing = ImagePacking::new(pre)?;
        let shape = packing.shape(crop.h, crop.w);
        let norm = pre.normalizer(&shape, 255.0)?;
        Ok(TextLines {
            font_path: font.to_path_buf(),
            font: font_data,
            words,
            count,
            seed,
            size,
            crop,
            packing,
            shape,
            norm,
            labels: None,
        })
    }

    /// The same lines, labelled (and transformed) as `labels` says.
    pub fn with_labels(mut self, labels: Option<CropLabels>) -> Self {
        self.labels = labels;
        self
    }

    /// The words of sample `index`: consecutive words of the text from a seeded start, enough
    /// to fill the output's aspect ratio at this font size.
    pub fn line(&self, index: usize) -> String {
        let mut rng = StdRng::seed_from_u64(splitmix64(self.seed ^ splitmix64(index as u64)));
        let start = rng.gen_range(0..self.words.len());
        let sf = self.font.as_scaled(PxScale::from(self.size));
        let height = sf.ascent() - sf.descent() + 2.0 * self.margin();
        let wanted = height * self.crop.w as f32 / self.crop.h as f32;
        let mut line = String::new();
        for k in 0..MAX_WORDS.min(self.words.len()) {
            if k > 0 {
                line.push(' ');
            }
            line.push_str(&self.words[(start + k) % self.words.len()]);
            if self.advance(&line) + 2.0 * self.margin() >= wanted {
                break;
            }
        }
        line
    }

    fn margin(&self) -> f32 {
        (self.size / 5.0).round()
    }

    /// Width of `text` at this size: advances plus kerning.
    fn advance(&self, text: &str) -> f32 {
        let sf = self.font.as_scaled(PxScale::from(self.size));
        let mut x = 0.0;
        let mut prev = None;
        for c in text.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                x += sf.kern(p, id);
            }
            x += sf.h_advance(id);
            prev = Some(id);
        }
        x
    }

    /// `text` black on white, at this size, with the margin.
    fn render(&self, text: &str) -> RgbImage {
        let scale = PxScale::from(self.size);
        let sf = self.font.as_scaled(scale);
        let m = self.margin();
        let w = (self.advance(text) + 2.0 * m).ceil().max(1.0) as u32;
        let h = (sf.ascent() - sf.descent() + 2.0 * m).ceil().max(1.0) as u32;
        let mut ink = vec![0f32; (w * h) as usize];
        let (mut x, baseline) = (m, m + sf.ascent());
        let mut prev = None;
        for c in text.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                x += sf.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(x, baseline));
            x += sf.h_advance(id);
            prev = Some(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue; // a space
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cover| {
                let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if (0..w as i64).contains(&px) && (0..h as i64).contains(&py) {
                    let at = (py as u32 * w + px as u32) as usize;
                    ink[at] = (ink[at] + cover).min(1.0);
                }
            });
        }
        RgbImage::from_fn(w, h, |px, py| {
            let v = (255.0 * (1.0 - ink[(py * w + px) as usize])).round() as u8;
            Rgb([v, v, v])
        })
    }
}

impl Dataset for TextLines {
    fn len(&self) -> usize {
        self.count
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, index: usize, out: &mut [f32]) -> Result<(), DataError> {
        check_read(self, index, out)?;
        let line = self.render(&self.line(index));
        let mut img = imageops::resize(&line, self.crop.w, self.crop.h, RESIZE_FILTER);
        if self.labels.rotated(self.seed, index) {
            imageops::rotate180_in_place(&mut img);
        }
        self.packing.pack(&img, out);
        self.norm.apply(out);
        Ok(())
    }

    fn label(&self, index: usize) -> Option<u32> {
        self.labels.label(self.seed, index)
    }

    fn describe(&self) -> String {
        format!(
            "text-lines of {} words in {} at {} px x {} seed {}{}",
            self.words.len(),
            self.font_path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            self.size,
            self.count,
            self.seed,
            self.labels.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{labels, read_batch};

    /// DejaVu Sans: the system's (Debian's fonts-dejavu-core), else the copy inside the
    /// matplotlib 3.9.2 wheel from PyPI (the font the ppocr-cls scenario uses), fetched once.
    pub(crate) fn font() -> PathBuf {
        let system = PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
        if system.exists() {
            return system;
        }
        let dir = std::env::temp_dir().join("qbench-test-font");
        let ttf = dir.join("DejaVuSans.ttf");
        if ttf.exists() {
            return ttf;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("python3")
            .args(["-m", "pip", "download", "matplotlib==3.9.2", "--no-deps"])
            .args(["--only-binary=:all:", "--platform", "manylinux2014_x86_64"])
            .args([
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311",
            ])
            .args(["-q", "-d"])
            .arg(&dir)
            .status()
            .expect("python3 -m pip (to fetch a test font)");
        assert!(status.success(), "pip download of the test font failed");
        let wheel = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .expect("the matplotlib wheel");
        let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
        let mut f = zip
            .by_name("matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf")
            .unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
        let tmp = dir.join(format!("DejaVuSans.ttf.{}", std::process::id()));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(tmp, &ttf).unwrap();
        ttf
    }

    fn pre() -> Preprocess {
        Preprocess {
            crop: Some(Crop { h: 48, w: 192 }),
            ..Preprocess::default()
        }
    }

    fn text(dir: &Path) -> PathBuf {
        let p = dir.join("words.txt");
        std::fs::write(
            &p,
            "the quick brown fox jumps over the lazy dog\nquantization pays off",
        )
        .unwrap();
        p
    }

    #[test]
    fn lines_are_dark_text_on_white_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let ds = TextLines::open(&font(), &text(dir.path()), 6, 3, 32.0, &pre()).unwrap();
        assert_eq!(ds.sample_shape(), &[3, 48, 192]);
        let a = read_batch(&ds, 0, 6).unwrap();
        assert_eq!(
            a,
            read_batch(
                &TextLines::open(&font(), &text(dir.path()), 6, 3, 32.0, &pre()).unwrap(),
                0,
                6
            )
            .unwrap()
        );
        let per = 3 * 48 * 192;
        for i in 0..6 {
            let s = &a[i * per..(i + 1) * per];
            let dark = s.iter().filter(|v| **v < 0.5).count() as f64 / per as f64;
            // Mostly white paper with some ink.
            assert!((0.03..0.6).contains(&dark), "sample {i}: {dark} dark");
            // The margin rows (top) are white.
            assert!(
                s[..192].iter().all(|v| *v > 0.9),
                "sample {i}: top row not white"
            );
            // Consecutive words, enough to fill the 4:1 output.
            let line = ds.line(i);
            assert!(line.split(' ').count() >= 2, "{line}");
        }
        assert_ne!(ds.line(0), ds.line(1));
        assert_eq!(labels(&ds), None);
        assert!(
            ds.describe().contains("DejaVuSans.ttf"),
            "{}",
            ds.describe()
        );
    }

    #[test]
    fn rotation_labels_turn_lines_upside_down() {
        let dir = tempfile::tempdir().unwrap();
        let plain = TextLines::open(&font(), &text(dir.path()), 32, 1, 28.0, &pre()).unwrap();
        let rot = TextLines::open(&font(), &text(dir.path()), 32, 1, 28.0, &pre())
            .unwrap()
            .with_labels(Some(CropLabels::Rotation180));
        let l = labels(&rot).unwrap();
        assert!(l.contains(&0) && l.contains(&1));
        let per = 3 * 48 * 192;
        let (a, b) = (
            read_batch(&plain, 0, 32).unwrap(),
            read_batch(&rot, 0, 32).unwrap(),
        );
        for (i, label) in l.iter().enumerate() {
            let (x, y) = (&a[i * per..(i + 1) * per], &b[i * per..(i + 1) * per]);
            if *label == 0 {
                assert_eq!(x, y);
            } else {
                let rev: Vec<f32> = x[..48 * 192].iter().rev().copied().collect();
                assert_eq!(rev, y[..48 * 192]);
            }
        }
    }

    #[test]
    fn bad_inputs_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let words = text(dir.path());
        let not_font = dir.path().join("font.ttf");
        std::fs::write(&not_font, b"not a font").unwrap();
        let e = TextLines::open(&not_font, &words, 4, 0, 32.0, &pre())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("font.ttf") && e.contains("not a TrueType"),
            "{e}"
        );
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "  \n").unwrap();
        let e = TextLines::open(&font(), &empty, 4, 0, 32.0, &pre())
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty.txt") && e.contains("no word"), "{e}");
        let e = TextLines::open(&font(), &dir.path().join("missing.txt"), 4, 0, 32.0, &pre())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.txt"), "{e}");
        let no_crop = Preprocess::default();
        let e = TextLines::open(&font(), &words, 4, 0, 32.0, &no_crop)
            .unwrap_err()
            .to_string();
        assert!(e.contains("crop"), "{e}");
        assert!(TextLines::open(&font(), &words, 0, 0, 32.0, &pre()).is_err());
        assert!(TextLines::open(&font(), &words, 4, 0, f32::NAN, &pre()).is_err());
    }
}
