//! Records how this binary is compiled (Cargo's profile and optimization level), so every results
//! file can say whether its latencies come from an optimized build.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for (key, var) in [
        ("QBENCH_BUILD_PROFILE", "PROFILE"),
        ("QBENCH_BUILD_OPT_LEVEL", "OPT_LEVEL"),
    ] {
        let value = std::env::var(var).unwrap_or_else(|_| "unknown".into());
        println!("cargo:rustc-env={key}={value}");
    }
}
