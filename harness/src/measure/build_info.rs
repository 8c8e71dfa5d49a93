//! How the qbench binary that made a run was compiled. tract, candle and qbench's own quantizer
//! are Rust code: compiled without optimization they run 20-40x slower, while ONNX Runtime (a
//! prebuilt C++ library) barely changes, so a comparison from an unoptimized build is distorted.
//! Every results file records its build; `check` and `publish` refuse an unoptimized one.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::record::Run;

/// Cargo's profile and optimization level of the qbench crate (the workspace gives every crate
/// that measures the same level: see the `[profile.dev]` table of the workspace `Cargo.toml`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Build {
    /// `release` or `dev` (Cargo's `PROFILE`: `release` for release and bench, else `dev`).
    pub profile: String,
    /// `0`, `1`, `2`, `3`, `s` or `z`.
    pub opt_level: String,
    /// Whether debug assertions (and overflow checks) are compiled in.
    pub debug_assertions: bool,
}

impl Build {
    /// The build of this binary.
    pub fn current() -> Build {
        let profile = match env!("QBENCH_BUILD_PROFILE") {
            "debug" => "dev",
            other => other,
        };
        Build {
            profile: profile.to_string(),
            opt_level: env!("QBENCH_BUILD_OPT_LEVEL").to_string(),
            debug_assertions: cfg!(debug_assertions),
        }
    }

    /// Optimized enough to measure: opt-level 2, 3, `s` or `z`.
    pub fn optimized(&self) -> bool {
        matches!(self.opt_level.as_str(), "2" | "3" | "s" | "z")
    }

    /// `release (opt-level 3)`, for tables and messages.
    pub fn describe(&self) -> String {
        let assertions = if self.debug_assertions {
            ", debug assertions"
        } else {
            ""
        };
        format!(
            "{} (opt-level {}{assertions})",
            self.profile, self.opt_level
        )
    }
}

/// Why a file's latencies cannot be trusted for a gate or a published page, if they cannot.
/// A file written before qbench recorded its build is accepted (every such file came from
/// `--release` runs).
pub fn unoptimized(run: &Run, path: &Path) -> Option<String> {
    let b = run.build.as_ref()?;
    (!b.optimized()).then(|| {
        format!(
            "{} comes from an unoptimized build ({}): tract, candle and the quantizer run many \
             times slower unoptimized while ONNX Runtime does not, so its comparison is distorted. \
             Re-run with the workspace's profiles (`cargo run -- compare ...` or `--release`), or \
             pass --allow-unoptimized if you mean it",
            path.display(),
            b.describe()
        )
    })
}

/// The warning `compare` prints at start when this binary is not optimized.
pub fn warning() -> Option<String> {
    let b = Build::current();
    (!b.optimized()).then(|| {
        format!(
            "warning: this qbench binary is an unoptimized build ({}): tract, candle and the \
             quantizer will run many times slower than in an optimized build while ONNX Runtime \
             will not, so the comparison will be distorted; `check` and `publish` will refuse \
             its results. Build with the workspace's profiles or `--release`.",
            b.describe()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(opt: &str) -> Build {
        Build {
            profile: "dev".into(),
            opt_level: opt.into(),
            debug_assertions: true,
        }
    }

    #[test]
    fn only_real_optimization_counts() {
        for (opt, ok) in [
            ("0", false),
            ("1", false),
            ("2", true),
            ("3", true),
            ("s", true),
        ] {
            assert_eq!(build(opt).optimized(), ok, "opt-level {opt}");
        }
    }

    #[test]
    fn this_build_is_recorded() {
        let b = Build::current();
        assert!(["dev", "release"].contains(&b.profile.as_str()), "{b:?}");
        assert!(!b.opt_level.is_empty() && b.opt_level != "unknown", "{b:?}");
        // The workspace optimizes every profile that runs tests.
        assert!(b.optimized(), "{b:?}");
    }

    #[test]
    fn unoptimized_files_are_named_and_old_files_accepted() {
        let mut run = crate::report::fixture::run();
        let path = Path::new("results/x/quick.json");
        run.build = None;
        assert_eq!(unoptimized(&run, path), None);
        run.build = Some(build("3"));
        assert_eq!(unoptimized(&run, path), None);
        run.build = Some(build("0"));
        let why = unoptimized(&run, path).unwrap();
        assert!(
            why.contains("results/x/quick.json") && why.contains("dev (opt-level 0"),
            "{why}"
        );
        assert!(why.contains("--allow-unoptimized"), "{why}");
    }
}
