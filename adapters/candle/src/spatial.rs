//! Window geometry shared by the 2-D convolution, transposed convolution and pooling kernels.
//!
//! The ONNX attributes `kernel_shape`, `strides`, `dilations`, `pads` and `auto_pad` are parsed
//! and checked by [`Window::parse`], which both `support` (statically, before any data) and the
//! kernels call, so the two reject the same attributes. The tensor helpers emulate per-axis
//! strides and dilations, which candle's kernels take as one value for both axes.

use candle_core::Tensor;
use qbench_onnx::{Attribute, Node};

use crate::tensor_util::{e, filled, select, R};

/// The `auto_pad` attribute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

/// 2-D window attributes of a Conv, ConvTranspose or pooling node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Window {
    /// `kernel_shape`, when given.
    pub kernel: Option<[usize; 2]>,
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// Explicit pads in ONNX order: `[h_begin, w_begin, h_end, w_end]`.
    pub pads: [usize; 4],
    pub auto_pad: AutoPad,
}

/// Reads an integer-list attribute that must have `want` values, all at least `min`.
fn list(node: &Node, name: &str, want: usize, min: i64) -> R<Option<Vec<usize>>> {
    match node.attr_ints(name) {
        None => Ok(None),
        Some(v) if v.len() == want && v.iter().all(|x| *x >= min) => {
            Ok(Some(v.iter().map(|x| *x as usize).collect()))
        }
        Some(v) if v.len() != want && name == "kernel_shape" => {
            Err(format!("{} with {}-D kernel", node.op_type, v.len()))
        }
        Some(v) => Err(format!(
            "{} with {name} {v:?} (a 2-D window needs {want} values of at least {min})",
            node.op_type
        )),
    }
}

impl Window {
    /// Parses and checks the window attributes. Errors describe the node's operator and the
    /// limiting attribute, e.g. `MaxPool with 3-D kernel`.
    pub fn parse(node: &Node) -> R<Window> {
        let op = &node.op_type;
        let kernel = list(node, "kernel_shape", 2, 1)?.map(|k| [k[0], k[1]]);
        let strides = list(node, "strides", 2, 1)?.unwrap_or(vec![1, 1]);
        let dilations = list(node, "dilations", 2, 1)?.unwrap_or(vec![1, 1]);
        let pads = list(node, "pads", 4, 0)?.unwrap_or(vec![0; 4]);
        let auto_pad = match node.attr("auto_pad") {
            None => AutoPad::NotSet,
            Some(Attribute::String(p)) => match p.as_str() {
                "NOTSET" | "" => AutoPad::NotSet,
                "SAME_UPPER" => AutoPad::SameUpper,
                "SAME_LOWER" => AutoPad::SameLower,
                "VALID" => AutoPad::Valid,
                other => return Err(format!("{op} with auto_pad {other}")),
            },
            Some(other) => return Err(format!("{op} with auto_pad {other:?}")),
        };
        Ok(Window {
            kernel,
            strides: [strides[0], strides[1]],
            dilations: [dilations[0], dilations[1]],
            pads: [pads[0], pads[1], pads[2], pads[3]],
            auto_pad,
        })
    }

    /// The pads `[h_begin, w_begin, h_end, w_end]` for an input of spatial size `input` and a
    /// kernel of size `kernel`: the explicit pads, or those `auto_pad` implies (SAME_UPPER puts
    /// the odd one at the end, SAME_LOWER at the beginning, so that the output is
    /// `ceil(input / stride)`).
    pub fn pads_for(&self, input: [usize; 2], kernel: [usize; 2]) -> [usize; 4] {
        let mut p = [0; 4];
        for i in 0..2 {
            let (b, en) = match self.auto_pad {
                AutoPad::NotSet => (self.pads[i], self.pads[i + 2]),
                AutoPad::Valid => (0, 0),
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let out = input[i].div_ceil(self.strides[i]);
                    let eff = (kernel[i] - 1) * self.dilations[i] + 1;
                    let total = ((out.max(1) - 1) * self.strides[i] + eff).saturating_sub(input[i]);
                    if self.auto_pad == AutoPad::SameUpper {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    }
                }
            };
            p[i] = b;
            p[i + 2] = en;
        }
        p
    }
}

/// Output length of a window sliding over `input` with pads `(begin, end)`, effective kernel
/// `eff = (k - 1) * dilation + 1` and `stride`. With `ceil`, a last window that would start in
/// the end padding is dropped (as ONNX Runtime and PyTorch do).
pub(crate) fn out_len(
    op: &str,
    input: usize,
    (begin, end): (usize, usize),
    eff: usize,
    stride: usize,
    ceil: bool,
) -> R<usize> {
    let padded = input + begin + end;
    if padded < eff {
        return Err(format!(
            "{op}: the window ({eff}) is larger than the padded input ({padded})"
        ));
    }
    let span = padded - eff;
    if !ceil {
        return Ok(span / stride + 1);
    }
    let mut out = span.div_ceil(stride) + 1;
    if (out - 1) * stride >= input + begin {
        out -= 1;
    }
    Ok(out)
}

/// Pads `axis` with `before` and `after` copies of `value`.
pub(crate) fn pad_axis(
    t: &Tensor,
    axis: usize,
    before: usize,
    after: usize,
    value: f64,
) -> R<Tensor> {
    if before == 0 && after == 0 {
        return Ok(t.clone());
    }
    let side = |n: usize| -> R<Tensor> {
        let mut dims = t.dims().to_vec();
        dims[axis] = n;
        filled(value, &dims, t)
    };
    let mut parts = Vec::with_capacity(3);
    if before > 0 {
        parts.push(side(before)?);
    }
    parts.push(t.clone());
    if after > 0 {
        parts.push(side(after)?);
    }
    Tensor::cat(&parts, axis).map_err(e)
}

/// Inserts `factor - 1` zeros between consecutive elements along `axis` (length `n` becomes
/// `(n - 1) * factor + 1`): a dilated kernel, or the input of a strided transposed convolution.
pub(crate) fn dilate(t: &Tensor, axis: usize, factor: usize) -> R<Tensor> {
    let n = t.dims()[axis];
    if factor <= 1 || n == 0 {
        return Ok(t.clone());
    }
    let mut zdims = t.dims().to_vec();
    zdims.insert(axis + 1, factor - 1);
    let zeros = filled(0.0, &zdims, t)?;
    let mut merged = t.dims().to_vec();
    merged[axis] = n * factor;
    Tensor::cat(&[&t.unsqueeze(axis + 1).map_err(e)?, &zeros], axis + 1)
        .and_then(|x| x.reshape(merged))
        .and_then(|x| x.narrow(axis, 0, (n - 1) * factor + 1))
        .map_err(e)
}

/// Keeps every `step`-th element along `axis`, starting with the first.
pub(crate) fn subsample(t: &Tensor, axis: usize, step: usize) -> R<Tensor> {
    if step <= 1 {
        return Ok(t.clone());
    }
    let n = t.dims()[axis];
    let idx: Vec<usize> = (0..n).step_by(step).collect();
    select(t, &idx, axis, "subsample")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor_util::tests::{flat, t};

    #[test]
    fn parse_defaults_and_errors() {
        let n = Node::new("p", "MaxPool", &["x"], &["y"])
            .with_attr("kernel_shape", Attribute::Ints(vec![3, 2]));
        let w = Window::parse(&n).unwrap();
        assert_eq!(w.kernel, Some([3, 2]));
        assert_eq!((w.strides, w.dilations, w.pads), ([1, 1], [1, 1], [0; 4]));
        assert_eq!(w.auto_pad, AutoPad::NotSet);
        let bad = |name: &str, a: Attribute| {
            Window::parse(&Node::new("p", "MaxPool", &["x"], &["y"]).with_attr(name, a))
                .unwrap_err()
        };
        assert_eq!(
            bad("kernel_shape", Attribute::Ints(vec![2, 2, 2])),
            "MaxPool with 3-D kernel"
        );
        assert!(bad("strides", Attribute::Ints(vec![0, 1])).contains("strides [0, 1]"));
        assert!(bad("pads", Attribute::Ints(vec![1, 1])).contains("pads [1, 1]"));
        assert_eq!(
            bad("auto_pad", Attribute::String("SAME".into())),
            "MaxPool with auto_pad SAME"
        );
    }

    #[test]
    fn same_pads_put_the_odd_one_at_the_end_or_beginning() {
        let mut w = Window::parse(&Node::new("c", "Conv", &[], &[])).unwrap();
        w.strides = [2, 1];
        w.auto_pad = AutoPad::SameUpper;
        // H: out = ceil(5 / 2) = 3, total = 2 * 2 + 3 - 5 = 2; W: out = 4, total = 3 + 3 - 4 = 2.
        assert_eq!(w.pads_for([5, 4], [3, 3]), [1, 1, 1, 1]);
        // Kernel 4, input 6. H: out = 3, total = 2 * 2 + 4 - 6 = 2 -> (1, 1);
        // W: out = 6, total = 5 + 4 - 6 = 3 -> upper (1, 2), lower (2, 1).
        assert_eq!(w.pads_for([6, 6], [4, 4]), [1, 1, 1, 2]);
        w.auto_pad = AutoPad::SameLower;
        assert_eq!(w.pads_for([6, 6], [4, 4]), [1, 2, 1, 1]);
        w.auto_pad = AutoPad::Valid;
        w.pads = [1, 1, 1, 1];
        assert_eq!(w.pads_for([6, 6], [4, 4]), [0; 4]);
    }

    #[test]
    fn out_len_floor_and_ceil() {
        // 5 inputs, kernel 2, stride 2: floor 2, ceil 3 (last window starts at 4 < 5).
        assert_eq!(out_len("p", 5, (0, 0), 2, 2, false).unwrap(), 2);
        assert_eq!(out_len("p", 5, (0, 0), 2, 2, true).unwrap(), 3);
        // 4 inputs, pads (1, 1), kernel 2, stride 2: ceil gives (6 - 2) / 2 + 1 = 3 exactly.
        // With pads (0, 1), kernel 1, stride 2: span 4 -> ceil 3, the third window would start
        // at 4 = input + begin (in the end padding) and is dropped.
        assert_eq!(out_len("p", 4, (0, 1), 1, 2, true).unwrap(), 2);
        let err = out_len("MaxPool", 2, (0, 0), 3, 1, false).unwrap_err();
        assert!(err.contains("MaxPool") && err.contains("larger"), "{err}");
    }

    #[test]
    fn dilate_and_subsample() {
        let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let d = dilate(&x, 1, 2).unwrap();
        assert_eq!(d.dims(), &[2, 5]);
        assert_eq!(
            flat(&d),
            vec![1.0, 0.0, 2.0, 0.0, 3.0, 4.0, 0.0, 5.0, 0.0, 6.0]
        );
        let s = subsample(&d, 1, 2).unwrap();
        assert_eq!(flat(&s), flat(&x));
        let p = pad_axis(&x, 0, 1, 0, -1.0).unwrap();
        assert_eq!(p.dims(), &[3, 3]);
        assert_eq!(flat(&p)[..4], [-1.0, -1.0, -1.0, 1.0]);
    }
}
