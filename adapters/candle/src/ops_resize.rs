//! Resize (opset 10-19) and Upsample (opset 7/9) in modes `nearest` and `linear`, for any rank.
//!
//! Both modes are separable: each axis whose size or scale changes is resampled on its own with
//! `index_select` (nearest) or two `index_select`s blended by per-position weights (linear,
//! with the source coordinate clamped to `[0, in - 1]` as ONNX Runtime does, which equals the
//! reference's edge padding). Coordinates are computed in f32 as ONNX Runtime does.
//!
//! Opset 11+: inputs X, roi, scales, sizes (one of scales/sizes, an empty tensor counting as
//! absent), optional `axes` (opset 18). Output size `floor(in * scale)`, or `sizes` with
//! `scale = out / in`. `coordinate_transformation_mode`: half_pixel (default),
//! half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn.
//! `nearest_mode`: round_prefer_floor (default), round_prefer_ceil, floor, ceil.
//!
//! Resize-10 (two inputs: X, scales) and Upsample have no coordinate attributes: asymmetric
//! coordinates, and for nearest ONNX Runtime's rule (floor when upsampling an axis, ceil when
//! downsampling it).
//!
//! Rejected: mode cubic, tf_crop_and_resize, antialias = 1, keep_aspect_ratio_policy other than
//! stretch.

use candle_core::{Device, Tensor};
use qbench_onnx::{Attribute, Node};

use crate::tensor_util::{e, int_values, resolve_axes, select, unsupported, R};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Coord {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Nearest {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
    /// Resize-10 / Upsample: floor when upsampling, ceil when downsampling.
    Legacy,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Modes {
    linear: bool,
    coord: Coord,
    nearest: Nearest,
}

/// A string attribute or its default; another attribute type is an error.
fn string_attr<'a>(node: &'a Node, name: &str, default: &'a str) -> R<&'a str> {
    match node.attr(name) {
        None => Ok(default),
        Some(Attribute::String(s)) => Ok(s.as_str()),
        Some(other) => Err(format!("{} with {name} {other:?}", node.op_type)),
    }
}

/// Whether this node uses the pre-opset-11 form (Upsample, or Resize with inputs X, scales).
fn legacy(node: &Node) -> bool {
    node.op_type == "Upsample" || node.inputs.len() == 2
}

/// Parses and checks the attributes; errors describe the limiting attribute.
fn modes(node: &Node) -> R<Modes> {
    let op = &node.op_type;
    let linear = match string_attr(node, "mode", "nearest")? {
        "nearest" => false,
        "linear" => true,
        other => return Err(format!("{op} with mode {other}")),
    };
    if legacy(node) {
        return Ok(Modes {
            linear,
            coord: Coord::Asymmetric,
            nearest: Nearest::Legacy,
        });
    }
    let coord = match string_attr(node, "coordinate_transformation_mode", "half_pixel")? {
        "half_pixel" => Coord::HalfPixel,
        "half_pixel_symmetric" => Coord::HalfPixelSymmetric,
        "pytorch_half_pixel" => Coord::PytorchHalfPixel,
        "align_corners" => Coord::AlignCorners,
        "asymmetric" => Coord::Asymmetric,
        "tf_half_pixel_for_nn" => Coord::TfHalfPixelForNn,
        other => return Err(format!("{op} with coordinate_transformation_mode {other}")),
    };
    let nearest = match string_attr(node, "nearest_mode", "round_prefer_floor")? {
        "round_prefer_floor" => Nearest::RoundPreferFloor,
        "round_prefer_ceil" => Nearest::RoundPreferCeil,
        "floor" => Nearest::Floor,
        "ceil" => Nearest::Ceil,
        other => return Err(format!("{op} with nearest_mode {other}")),
    };
    if node.attr_int("antialias", 0) != 0 {
        return Err(format!("{op} with antialias 1"));
    }
    let policy = string_attr(node, "keep_aspect_ratio_policy", "stretch")?;
    if policy != "stretch" {
        return Err(format!("{op} with keep_aspect_ratio_policy {policy}"));
    }
    Ok(Modes {
        linear,
        coord,
        nearest,
    })
}

/// Static check of a Resize or Upsample node.
pub(crate) fn check(node: &Node) -> R<()> {
    modes(node).map(|_| ())
}

/// Source coordinate of output position `x` along an axis (`len_in` -> `len_out`, `scale`).
fn original(coord: Coord, x: usize, scale: f32, len_in: usize, len_out: usize) -> f32 {
    let xf = x as f32;
    match coord {
        Coord::HalfPixel => (xf + 0.5) / scale - 0.5,
        Coord::HalfPixelSymmetric => {
            let adjustment = len_out as f32 / (scale * len_in as f32);
            let center = len_in as f32 / 2.0;
            let offset = center * (1.0 - adjustment);
            offset + (xf + 0.5) / scale - 0.5
        }
        Coord::PytorchHalfPixel if len_out > 1 => (xf + 0.5) / scale - 0.5,
        Coord::PytorchHalfPixel => 0.0,
        Coord::AlignCorners if len_out == 1 => 0.0,
        Coord::AlignCorners => xf * (len_in as f32 - 1.0) / (len_out as f32 - 1.0),
        Coord::Asymmetric => xf / scale,
        Coord::TfHalfPixelForNn => (xf + 0.5) / scale,
    }
}

/// The input index nearest-neighbour resampling reads for source coordinate `v`.
fn nearest_index(mode: Nearest, v: f32, scale: f32, len_in: usize) -> usize {
    let half = v.fract().abs() == 0.5;
    let i = match mode {
        Nearest::RoundPreferFloor if half => v.floor(),
        Nearest::RoundPreferCeil if half => v.ceil(),
        Nearest::RoundPreferFloor | Nearest::RoundPreferCeil => v.round(),
        Nearest::Floor => v.floor(),
        Nearest::Ceil => v.ceil(),
        Nearest::Legacy if scale < 1.0 => v.ceil(),
        Nearest::Legacy => v.floor(),
    };
    i.clamp(0.0, (len_in - 1) as f32) as usize
}

/// Resamples one axis.
fn resample(t: &Tensor, axis: usize, len_out: usize, scale: f32, m: Modes) -> R<Tensor> {
    let len_in = t.dims()[axis];
    if len_in == 0 || len_out == 0 {
        let mut dims = t.dims().to_vec();
        dims[axis] = len_out;
        return Tensor::zeros(dims, t.dtype(), &Device::Cpu).map_err(e);
    }
    let coords: Vec<f32> = (0..len_out)
        .map(|x| original(m.coord, x, scale, len_in, len_out))
        .collect();
    if !m.linear {
        let idx: Vec<usize> = coords
            .iter()
            .map(|v| nearest_index(m.nearest, *v, scale, len_in))
            .collect();
        if idx.len() == len_in && idx.iter().enumerate().all(|(i, j)| i == *j) {
            return Ok(t.clone());
        }
        return select(t, &idx, axis, "Resize");
    }
    let last = (len_in - 1) as f32;
    let mut lo = Vec::with_capacity(len_out);
    let mut hi = Vec::with_capacity(len_out);
    let mut w_hi = Vec::with_capacity(len_out);
    for v in coords {
        let v = v.clamp(0.0, last);
        let i0 = v.floor();
        lo.push(i0 as usize);
        hi.push(((i0 as usize) + 1).min(len_in - 1));
        w_hi.push(v - i0);
    }
    if lo.len() == len_in
        && w_hi.iter().all(|w| *w == 0.0)
        && lo.iter().enumerate().all(|(i, j)| i == *j)
    {
        return Ok(t.clone());
    }
    let w_lo: Vec<f32> = w_hi.iter().map(|w| 1.0 - w).collect();
    let mut wshape = vec![1usize; t.rank()];
    wshape[axis] = len_out;
    let weights = |w: Vec<f32>| {
        Tensor::from_vec(w, wshape.clone(), &Device::Cpu)
            .and_then(|w| w.to_dtype(t.dtype()))
            .map_err(e)
    };
    let a = select(t, &lo, axis, "Resize")?;
    let b = select(t, &hi, axis, "Resize")?;
    let (wa, wb) = (weights(w_lo)?, weights(w_hi)?);
    a.broadcast_mul(&wa)
        .and_then(|a| a.add(&b.broadcast_mul(&wb)?))
        .map_err(e)
}

/// A tensor's values as f32 (scales).
fn floats(t: &Tensor) -> R<Vec<f32>> {
    t.flatten_all()
        .and_then(|t| t.to_dtype(candle_core::DType::F32))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(e)
}

/// Resize or Upsample (see the module documentation).
pub(crate) fn resize(node: &Node, inputs: &[Option<&Tensor>]) -> R<Tensor> {
    let op = &node.op_type;
    let m = modes(node).map_err(unsupported)?;
    let x = inputs
        .first()
        .copied()
        .flatten()
        .ok_or_else(|| format!("{op} input 0 is missing"))?;
    let given = |i: usize| {
        inputs
            .get(i)
            .copied()
            .flatten()
            .filter(|t| t.elem_count() > 0)
    };
    let (scales, sizes) = if legacy(node) {
        let s = match (given(1), node.attr("scales")) {
            (Some(t), _) => floats(t)?,
            (None, Some(Attribute::Floats(v))) => v.clone(),
            _ => return Err(format!("{op} has no scales")),
        };
        (Some(s), None)
    } else {
        match (given(2), given(3)) {
            (Some(s), None) => (Some(floats(s)?), None),
            (None, Some(z)) => (None, Some(int_values(z)?)),
            (Some(_), Some(_)) => return Err(format!("{op} has both scales and sizes")),
            (None, None) => return Err(format!("{op} has neither scales nor sizes")),
        }
    };
    let axes = match node.attr_ints("axes") {
        Some(a) => resolve_axes(a, x.rank(), &format!("{op} axis"))?,
        None => (0..x.rank()).collect(),
    };
    let n = scales
        .as_ref()
        .map_or_else(|| sizes.as_ref().map_or(0, Vec::len), Vec::len);
    if n != axes.len() {
        return Err(format!(
            "{op} has {n} scales/sizes for {} axes of input {:?}",
            axes.len(),
            x.dims()
        ));
    }
    let mut y = x.clone();
    for (k, &axis) in axes.iter().enumerate() {
        let len_in = x.dims()[axis];
        let (len_out, scale) = match (&scales, &sizes) {
            (Some(s), _) => {
                let s = s[k];
                if !(s > 0.0 && s.is_finite()) {
                    return Err(format!("{op} scale {s} must be positive"));
                }
                ((len_in as f32 * s).floor() as usize, s)
            }
            (None, Some(z)) if z[k] >= 0 => {
                let out = z[k] as usize;
                (out, out as f32 / len_in.max(1) as f32)
            }
            _ => return Err(format!("{op} sizes {sizes:?} must not be negative")),
        };
        if len_out == len_in && scale == 1.0 && m.coord != Coord::TfHalfPixelForNn {
            continue; // the identity for every other coordinate mode
        }
        y = resample(&y, axis, len_out, scale, m)?;
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::i64_tensor;
    use crate::tensor_util::tests::{flat, t};

    fn node(attrs: &[(&str, &str)]) -> Node {
        let mut n = Node::new("r", "Resize", &["x", "roi", "scales", "sizes"], &["y"]);
        for (k, v) in attrs {
            n = n.with_attr(k, Attribute::String(v.to_string()));
        }
        n
    }

    fn row() -> Tensor {
        t(&[10.0, 20.0, 30.0], &[1, 1, 1, 3])
    }

    fn by_scale(n: &Node, x: &Tensor, s: &[f32]) -> Vec<f32> {
        let s = t(s, &[s.len()]);
        flat(&resize(n, &[Some(x), None, Some(&s), None]).unwrap())
    }

    fn by_size(n: &Node, x: &Tensor, z: &[i64]) -> Vec<f32> {
        let z = i64_tensor(z).unwrap();
        // opset 11/12 pass an empty scales tensor with sizes.
        let empty = t(&[], &[0]);
        flat(&resize(n, &[Some(x), None, Some(&empty), Some(&z)]).unwrap())
    }

    #[test]
    fn nearest_modes_upsampling() {
        let s = [1.0, 1.0, 1.0, 2.0];
        // half_pixel coordinates: -0.25, 0.25, 0.75, 1.25, 1.75, 2.25.
        assert_eq!(
            by_scale(&node(&[]), &row(), &s),
            vec![10., 10., 20., 20., 30., 30.]
        );
        let n = node(&[("nearest_mode", "floor")]);
        assert_eq!(by_scale(&n, &row(), &s), vec![10., 10., 10., 20., 20., 30.]);
        let n = node(&[("nearest_mode", "ceil")]);
        assert_eq!(by_scale(&n, &row(), &s), vec![10., 20., 20., 30., 30., 30.]);
        // asymmetric coordinates 0, 0.5, 1, 1.5, 2, 2.5: the halves decide.
        let a = ("coordinate_transformation_mode", "asymmetric");
        let n = node(&[a]);
        assert_eq!(by_scale(&n, &row(), &s), vec![10., 10., 20., 20., 30., 30.]);
        let n = node(&[a, ("nearest_mode", "round_prefer_ceil")]);
        assert_eq!(by_scale(&n, &row(), &s), vec![10., 20., 20., 30., 30., 30.]);
        // tf_half_pixel_for_nn: (x + 0.5) / 2 = 0.25, 0.75, ... -> 0, 1, 1, 2, 2, 3 -> clamped.
        let n = node(&[("coordinate_transformation_mode", "tf_half_pixel_for_nn")]);
        assert_eq!(by_scale(&n, &row(), &s), vec![10., 20., 20., 30., 30., 30.]);
    }

    #[test]
    fn nearest_downsampling_with_sizes() {
        // 3 -> 2: scale 2/3. half_pixel: 0.25, 1.75 -> 0, 2; align_corners: 0, 2;
        // asymmetric: 0, 1.5 -> 0, 1 (round_prefer_floor).
        assert_eq!(by_size(&node(&[]), &row(), &[1, 1, 1, 2]), vec![10., 30.]);
        let n = node(&[("coordinate_transformation_mode", "align_corners")]);
        assert_eq!(by_size(&n, &row(), &[1, 1, 1, 2]), vec![10., 30.]);
        let n = node(&[("coordinate_transformation_mode", "asymmetric")]);
        assert_eq!(by_size(&n, &row(), &[1, 1, 1, 2]), vec![10., 20.]);
    }

    #[test]
    fn linear_coordinate_modes() {
        let lin = ("mode", "linear");
        let s = [1.0, 1.0, 1.0, 2.0];
        // half_pixel: -0.25 (clamped to 0), 0.25, 0.75, 1.25, 1.75, 2.25 (clamped to 2).
        let n = node(&[lin]);
        assert_eq!(
            by_scale(&n, &row(), &s),
            vec![10., 12.5, 17.5, 22.5, 27.5, 30.]
        );
        let n = node(&[lin, ("coordinate_transformation_mode", "asymmetric")]);
        assert_eq!(by_scale(&n, &row(), &s), vec![10., 15., 20., 25., 30., 30.]);
        // pytorch_half_pixel equals half_pixel except for an output of length 1.
        let n = node(&[
            lin,
            ("coordinate_transformation_mode", "pytorch_half_pixel"),
        ]);
        assert_eq!(
            by_scale(&n, &row(), &s),
            vec![10., 12.5, 17.5, 22.5, 27.5, 30.]
        );
        let four = t(&[10.0, 20.0, 30.0, 40.0], &[1, 1, 1, 4]);
        assert_eq!(by_size(&n, &four, &[1, 1, 1, 1]), vec![10.0]);
        // half_pixel to length 1 (scale 1/4): 0.5 * 4 - 0.5 = 1.5 -> halfway between 20 and 30.
        assert_eq!(by_size(&node(&[lin]), &four, &[1, 1, 1, 1]), vec![25.0]);
        let n = node(&[lin, ("coordinate_transformation_mode", "align_corners")]);
        assert_eq!(
            by_size(&n, &row(), &[1, 1, 1, 5]),
            vec![10., 15., 20., 25., 30.]
        );
        // half_pixel_symmetric with sizes: scale 2 exactly, adjustment 1, offset 0.
        let n = node(&[
            lin,
            ("coordinate_transformation_mode", "half_pixel_symmetric"),
        ]);
        assert_eq!(
            by_size(&n, &row(), &[1, 1, 1, 6]),
            vec![10., 12.5, 17.5, 22.5, 27.5, 30.]
        );
    }

    #[test]
    fn bilinear_2d_and_axes() {
        // f(r, c) = 1 + 2r + c on a 2x2 grid, upsampled 2x with half_pixel: clamped coordinates
        // 0, 0.25, 0.75, 1 on each axis.
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let y = by_scale(&node(&[("mode", "linear")]), &x, &[1.0, 1.0, 2.0, 2.0]);
        let c = [0.0, 0.25, 0.75, 1.0];
        let want: Vec<f32> = c
            .iter()
            .flat_map(|r| c.iter().map(move |cc| 1.0 + 2.0 * r + cc))
            .collect();
        assert_eq!(y, want);
        // opset 18 axes: scales only for H and W.
        let n = node(&[("mode", "linear")]).with_attr("axes", Attribute::Ints(vec![2, -1]));
        assert_eq!(by_scale(&n, &x, &[2.0, 2.0]), want);
    }

    #[test]
    fn legacy_resize_10_and_upsample() {
        // Resize-10: inputs X, scales; nearest repeats.
        let n = Node::new("r", "Resize", &["x", "scales"], &["y"]);
        let s = t(&[1.0, 1.0, 2.0, 2.0], &[4]);
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]);
        let y = flat(&resize(&n, &[Some(&x), Some(&s)]).unwrap());
        assert_eq!(
            y,
            vec![1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.]
        );
        // Upsample-9 (scales input), linear: asymmetric coordinates.
        let n = Node::new("u", "Upsample", &["x", "scales"], &["y"])
            .with_attr("mode", Attribute::String("linear".into()));
        let y = flat(&resize(&n, &[Some(&row()), Some(&s)]).unwrap());
        assert_eq!(y.len(), 12);
        assert_eq!(y[..6], [10., 15., 20., 25., 30., 30.]);
        // Upsample-7 (scales attribute), downsampling nearest takes the ceiling: 0, 1.43 -> 0, 2.
        let n = Node::new("u", "Upsample", &["x"], &["y"])
            .with_attr("scales", Attribute::Floats(vec![1.0, 1.0, 1.0, 0.7]));
        let y = flat(&resize(&n, &[Some(&row())]).unwrap());
        assert_eq!(y, vec![10., 30.]);
    }

    #[test]
    fn rejected_and_bad_inputs() {
        let x = row();
        let s = t(&[1.0, 1.0, 1.0, 2.0], &[4]);
        let err = |n: &Node| resize(n, &[Some(&x), None, Some(&s), None]).unwrap_err();
        assert_eq!(
            err(&node(&[("mode", "cubic")])),
            "unsupported: Resize with mode cubic"
        );
        assert_eq!(
            err(&node(&[(
                "coordinate_transformation_mode",
                "tf_crop_and_resize"
            )])),
            "unsupported: Resize with coordinate_transformation_mode tf_crop_and_resize"
        );
        let aa = node(&[]).with_attr("antialias", Attribute::Int(1));
        assert_eq!(err(&aa), "unsupported: Resize with antialias 1");
        let kr = node(&[("keep_aspect_ratio_policy", "not_larger")]);
        assert!(err(&kr).contains("keep_aspect_ratio_policy not_larger"));
        let z = i64_tensor(&[1, 1, 1, 6]).unwrap();
        let both = resize(&node(&[]), &[Some(&x), None, Some(&s), Some(&z)]).unwrap_err();
        assert!(both.contains("both"), "{both}");
        let none = resize(&node(&[]), &[Some(&x), None, None, None]).unwrap_err();
        assert!(none.contains("neither"), "{none}");
        let short = t(&[2.0], &[1]);
        let e = resize(&node(&[]), &[Some(&x), None, Some(&short), None]).unwrap_err();
        assert!(e.contains("1 scales/sizes for 4 axes"), "{e}");
    }
}
