//! Packed size of a sub-8-bit model: what its weights would take with `bits` per element (the
//! artifact stores them in 8-bit containers), plus their scales, plus everything else as float.

use std::collections::HashMap;

use qbench_onnx::Model;

use crate::error::Result;
use crate::size::packed_bits_bytes;

/// How one weight initializer is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packing {
    pub bits: u32,
    /// Bytes of scales and zero points stored with it.
    pub overhead: usize,
}

/// Bytes of the FP32 `model`'s initializers, with the `packed` ones (by initializer name) at their
/// bit width.
pub fn packed_model_bytes(model: &Model, packed: &HashMap<String, Packing>) -> Result<u64> {
    let mut total = 0u64;
    for t in &model.graph.initializers {
        let n: usize = t.dims.iter().product::<i64>().max(0) as usize;
        total += match packed.get(&t.name) {
            Some(p) => (packed_bits_bytes(n, p.bits)? + p.overhead) as u64,
            None => t.raw.len() as u64,
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qbench_onnx::{Graph, TensorData};

    #[test]
    fn packs_only_the_named_weights() {
        let mut g = Graph::default();
        g.add_initializer(TensorData::from_f32("w", vec![4, 8], &[0.0; 32]));
        g.add_initializer(TensorData::from_f32("b", vec![4], &[0.0; 4]));
        let m = Model::new(g, 13);
        let mut p = HashMap::new();
        assert_eq!(packed_model_bytes(&m, &p).unwrap(), 36 * 4);
        p.insert(
            "w".to_string(),
            Packing {
                bits: 4,
                overhead: 16,
            },
        );
        // 32 x 4 bits = 16 bytes, + 16 bytes of scales, + the float bias.
        assert_eq!(packed_model_bytes(&m, &p).unwrap(), 16 + 16 + 16);
    }
}
