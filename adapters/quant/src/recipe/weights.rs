//! Building blocks recipes use to quantize a Conv/Gemm weight with their framework's rule.

use crate::error::Result;
use crate::params::{QuantParams, Range};
use crate::qdq::writer::WeightSite;
use crate::qdq::{WeightLayout, WeightQuant};
use crate::scheme::QType;

/// Turns a value range into parameters (a framework's scale / zero point rule).
pub type ParamRule<'a> = &'a dyn Fn(Range) -> Result<QuantParams>;
/// Turns values into integers with given parameters (a framework's rounding).
pub type Rounder<'a> = &'a dyn Fn(&[f32], &QuantParams) -> Result<Vec<i32>>;
/// Quantizes one block: `(scale, zero point, integers)`.
pub type BlockQuantizer<'a> = &'a dyn Fn(&[f32]) -> Result<(f32, i32, Vec<i32>)>;

/// Element indices of each output channel of `site` (along `site.out_axis`).
fn channel_indices(site: &WeightSite) -> Vec<Vec<usize>> {
    let c = site.channels();
    let inner: usize = site.dims[site.out_axis + 1..].iter().product();
    let mut idx = vec![Vec::with_capacity(site.reduction()); c];
    for i in 0..site.values.len() {
        idx[(i / inner) % c].push(i);
    }
    idx
}

/// One set of parameters for the whole tensor.
pub fn per_tensor(
    site: &WeightSite,
    qtype: QType,
    rule: ParamRule,
    round: Rounder,
) -> Result<WeightQuant> {
    let p = rule(Range::of(&site.name, &site.values)?).map_err(|e| e.context(site.name.clone()))?;
    Ok(WeightQuant {
        q: round(&site.values, &p).map_err(|e| e.context(site.name.clone()))?,
        scales: vec![p.scale],
        zero_points: vec![p.zero_point],
        qtype,
        layout: WeightLayout::PerTensor,
    })
}

/// One set of parameters per output channel.
pub fn per_channel(
    site: &WeightSite,
    qtype: QType,
    rule: ParamRule,
    round: Rounder,
) -> Result<WeightQuant> {
    let mut q = vec![0; site.values.len()];
    let (mut scales, mut zero_points) = (Vec::new(), Vec::new());
    for (c, idx) in channel_indices(site).into_iter().enumerate() {
        let v: Vec<f32> = idx.iter().map(|i| site.values[*i]).collect();
        let what = format!("{} channel {c}", site.name);
        let p = rule(Range::of(&what, &v)?).map_err(|e| e.context(what.clone()))?;
        for (i, qi) in idx.iter().zip(round(&v, &p).map_err(|e| e.context(what))?) {
            q[*i] = qi;
        }
        scales.push(p.scale);
        zero_points.push(p.zero_point);
    }
    Ok(WeightQuant {
        q,
        scales,
        zero_points,
        qtype,
        layout: WeightLayout::PerChannel {
            axis: site.out_axis,
        },
    })
}

/// Blocks of `size` consecutive elements of each output channel's row (axis 0 weights only);
/// `block(values) -> (scale, zero_point, integers)`; the last block of a row is zero-padded
/// (padding stored as the block's zero point, so it dequantizes to 0 and is sliced away).
pub fn per_block(
    site: &WeightSite,
    size: usize,
    qtype: QType,
    block: BlockQuantizer,
) -> Result<WeightQuant> {
    let (o, k) = (site.dims[0], site.values.len() / site.dims[0].max(1));
    let nb = k.div_ceil(size);
    let (mut q, mut scales, mut zero_points) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..o {
        let row = &site.values[r * k..(r + 1) * k];
        for (b, chunk) in row.chunks(size).enumerate() {
            let (s, z, mut v) =
                block(chunk).map_err(|e| e.context(format!("{} row {r} block {b}", site.name)))?;
            v.resize(size, z);
            q.extend(v);
            scales.push(s);
            zero_points.push(z);
        }
        debug_assert_eq!(scales.len(), (r + 1) * nb);
    }
    Ok(WeightQuant {
        q,
        scales,
        zero_points,
        qtype,
        layout: WeightLayout::Block { size },
    })
}

/// `round_half_even(x / s) + z`, clamped (ONNX, numpy and PyTorch rounding).
pub fn round_half_even(x: &[f32], p: &QuantParams) -> Result<Vec<i32>> {
    crate::quantize::quantize(x, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> WeightSite {
        WeightSite {
            node: "n".into(),
            op_type: "Conv".into(),
            name: "w".into(),
            values: vec![1.0, -2.0, 0.5, 4.0, 0.0, -1.0],
            dims: vec![2, 3, 1, 1],
            out_axis: 0,
        }
    }

    fn sym(r: Range) -> Result<QuantParams> {
        QuantParams::new(r.abs_max() / 127.0, 0, -127, 127)
    }

    #[test]
    fn per_channel_uses_each_rows_range() {
        let w = per_channel(&site(), QType::INT8, &sym, &round_half_even).unwrap();
        assert_eq!(w.scales, vec![2.0 / 127.0, 4.0 / 127.0]);
        assert_eq!(w.q, vec![64, -127, 32, 127, 0, -32]);
        let t = per_tensor(&site(), QType::INT8, &sym, &round_half_even).unwrap();
        assert_eq!(t.scales, vec![4.0 / 127.0]);
        assert_eq!(t.q[1], -64);
    }

    #[test]
    fn per_channel_on_axis_one() {
        let mut s = site();
        s.dims = vec![3, 2];
        s.out_axis = 1;
        let w = per_channel(&s, QType::INT8, &sym, &round_half_even).unwrap();
        // Columns: [1, 0.5, 0] and [-2, 4, -1].
        assert_eq!(w.scales, vec![1.0 / 127.0, 4.0 / 127.0]);
        assert_eq!(w.q, vec![127, -64, 64, 127, 0, -32]);
    }

    #[test]
    fn blocks_pad_with_the_zero_point() {
        let b = per_block(&site(), 2, QType::INT4, &|v: &[f32]| {
            let m = v.iter().fold(0f32, |a, x| a.max(x.abs()));
            let s = m / 7.0;
            Ok((s, 0, v.iter().map(|x| (x / s).round() as i32).collect()))
        })
        .unwrap();
        // Rows of 3 -> 2 blocks of 2 each: [1, -2], [0.5, pad], [4, 0], [-1, pad].
        assert_eq!(b.scales.len(), 4);
        assert_eq!(b.q, vec![3, -7, 7, 0, 7, 0, -7, 0]); // 1 / (2/7) = 3.4999 in f32
        assert_eq!(b.layout, WeightLayout::Block { size: 2 });
    }
}
