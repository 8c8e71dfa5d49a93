//! Bounded fuzzing of the ONNX reader: seeded mutations of a real model (byte flips, truncation,
//! inserted bytes, spliced copies) must give a model or an error, never a panic. The number of
//! cases is small in the test suite; `QBENCH_FUZZ_CASES=200000 cargo test --release -p
//! qbench-onnx --test fuzz_reader` runs a longer campaign.

use std::panic::{catch_unwind, AssertUnwindSafe};

use qbench_onnx::Model;

fn cases() -> usize {
    std::env::var("QBENCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `seed_bytes`.
fn mutate(rng: &mut Rng, seed_bytes: &[u8]) -> Vec<u8> {
    let mut b = seed_bytes.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        1 => b.truncate(rng.below(b.len())),
        2 => {
            let at = rng.below(b.len());
            let junk: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
            b.splice(at..at, junk);
        }
        _ => {
            let (from, to) = (rng.below(b.len()), rng.below(b.len()));
            let len = rng.below(64).min(b.len() - from.max(to));
            let chunk = b[from..from + len].to_vec();
            b[to..to + len].copy_from_slice(&chunk);
        }
    }
    b
}

#[test]
fn mutated_models_are_read_or_refused_never_a_panic() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/resnet/resnet.onnx");
    let original = std::fs::read(&path).unwrap();
    assert!(Model::from_bytes(&original).is_ok());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut read, mut refused) = (0, 0);
    for case in 0..cases() {
        let bytes = mutate(&mut rng, &original);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            Model::from_bytes(&bytes).map(|mut m| {
                // What every consumer does next: order the graph.
                let _ = m.graph.topo_sort();
            })
        }));
        match outcome {
            Ok(Ok(())) => read += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
            Err(_) => {
                let dump = std::env::temp_dir().join(format!("qbench-fuzz-case-{case}.onnx"));
                std::fs::write(&dump, &bytes).unwrap();
                panic!("case {case} panicked; input saved to {}", dump.display());
            }
        }
    }
    // Both outcomes occur: the mutations reach past the protobuf framing.
    assert!(read > 0 && refused > 0, "read {read}, refused {refused}");
}
