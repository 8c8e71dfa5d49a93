//! A batch that cannot fit is refused before anything runs.
//!
//! `--batch 100000` on the 28x28 resnet once took 8.4 GB before its first cell finished. The
//! activations of one sample come from tract's shape inference (every intermediate tensor,
//! constants excluded: an upper bound, since runtimes reuse buffers); a batch of `B` needs up
//! to `B` times that plus the weights. When that exceeds the memory this machine has available
//! (`MemAvailable` in `/proc/meminfo`), the run is refused with the figures, unless
//! `--allow-large-batch` says the user means it.

use anyhow::{bail, Result};

use crate::scenario::Scenario;

/// Why a batch of `batch` does not fit, if it does not: `per_sample` bytes of activations per
/// sample, `weights` bytes of model, `available` bytes of memory.
pub fn too_large(per_sample: u64, weights: u64, batch: usize, available: u64) -> Option<String> {
    let need = per_sample
        .saturating_mul(batch as u64)
        .saturating_add(weights);
    (need > available).then(|| {
        format!(
            "a batch of {batch} needs up to {} ({} of tensors per sample by tract's shape \
             inference, plus {} of weights), more than the {} this machine has available",
            bytes(need),
            bytes(per_sample),
            bytes(weights),
            bytes(available)
        )
    })
}

/// Refuses the largest of `batches` when it cannot fit (see the module's documentation).
pub fn check(scenario: &Scenario, batches: &[usize], allow: bool) -> Result<()> {
    let Some(&batch) = batches.iter().max() else {
        return Ok(());
    };
    if allow || batch <= 1 {
        return Ok(());
    }
    let (Ok(artifact), Some(available)) = (
        scenario.fp32_artifact(),
        crate::measure::machine::meminfo_bytes("MemAvailable"),
    ) else {
        return Ok(());
    };
    let Some(per_sample) = qbench_tract::activation_bytes_per_sample(&artifact) else {
        return Ok(());
    };
    let weights = std::fs::metadata(&artifact.path).map_or(0, |m| m.len());
    if let Some(why) = too_large(per_sample, weights, batch, available) {
        bail!(
            "{}: {why}; use a smaller --batch or --throughput-batch, or add --allow-large-batch \
             if you mean it",
            artifact.path.display()
        );
    }
    Ok(())
}

/// Bytes as GiB from 1 GiB up, else as the tables show them.
fn bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        crate::report::cells::bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_fits_until_its_tensors_exceed_the_available_memory() {
        let gib = 1u64 << 30;
        assert_eq!(too_large(100_000, 1 << 20, 64, 8 * gib), None);
        let why = too_large(100_000, 1 << 20, 100_000, 8 * gib).unwrap();
        assert!(
            why.contains("a batch of 100000 needs up to 9.3 GiB"),
            "{why}"
        );
        assert!(why.contains("the 8.0 GiB this machine"), "{why}");
        assert!(too_large(u64::MAX, 0, 2, 8 * gib).is_some(), "no overflow");
    }

    #[test]
    fn the_resnet_scenario_has_an_estimate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut s = Scenario::load(&dir, "resnet").unwrap();
        crate::model_io::resolve(&mut s, &[]).unwrap();
        let per = qbench_tract::activation_bytes_per_sample(&s.fp32_artifact().unwrap()).unwrap();
        // At least the input (1x28x28 f32) and the logits, and well under a megabyte.
        assert!((28 * 28 * 4 + 40..1 << 20).contains(&per), "{per}");
        assert!(check(&s, &[1, 64], false).is_ok());
        let err = format!("{:#}", check(&s, &[1 << 40], false).unwrap_err());
        assert!(
            err.contains("resnet.onnx") && err.contains("--allow-large-batch"),
            "{err}"
        );
        assert!(check(&s, &[1 << 40], true).is_ok());
    }
}
