//! The machine and provenance a run records (CPU, ISA flags, cores, OS, governor, git commit).

use serde::{Deserialize, Serialize};

/// ISA extensions that matter for quantized kernels, reported when the CPU has them.
const ISA_OF_INTEREST: &[&str] = &[
    "sse4_1",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "asimd",
    "asimddp",
    "i8mm",
];

/// Where and on what a run happened.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub isa: Vec<String>,
    pub os: String,
    pub governor: Option<String>,
    pub memory_bytes: Option<u64>,
    /// The name the run gave this machine (`--machine-label`, `QBENCH_MACHINE_LABEL`), e.g. a CI
    /// runner label; runs with the same label are one machine in merged results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn cpuinfo() -> String {
    std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()
}

/// The CPU model name from /proc/cpuinfo.
pub fn cpu_model() -> String {
    cpuinfo()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn isa_flags() -> Vec<String> {
    let info = cpuinfo();
    let flags: Vec<&str> = info
        .lines()
        .find(|l| l.starts_with("flags") || l.starts_with("Features"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();
    ISA_OF_INTEREST
        .iter()
        .filter(|f| flags.contains(f))
        .map(|f| f.to_string())
        .collect()
}

fn os() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                l.trim_start_matches("PRETTY_NAME=")
                    .trim_matches('"')
                    .to_string()
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{pretty}, Linux {}", kernel.trim())
}

fn memory_bytes() -> Option<u64> {
    meminfo_bytes("MemTotal")
}

/// A `/proc/meminfo` figure (e.g. `MemTotal`, `MemAvailable`) in bytes.
pub fn meminfo_bytes(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.split(':').next() == Some(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

impl Machine {
    /// Reads the description of this machine.
    pub fn detect() -> Machine {
        Machine {
            cpu: cpu_model(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            isa: isa_flags(),
            os: os(),
            governor: std::fs::read_to_string(
                "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            )
            .ok()
            .map(|s| s.trim().to_string()),
            memory_bytes: memory_bytes(),
            label: std::env::var("QBENCH_MACHINE_LABEL")
                .ok()
                .filter(|l| !l.trim().is_empty()),
        }
    }

    /// The class of integer kernels this CPU can run, best first: what decides whether int8
    /// pays (VNNI and AMX add int8 dot products; Arm's dotprod and i8mm likewise).
    pub fn isa_class(&self) -> &'static str {
        let has = |f: &str| self.isa.iter().any(|x| x == f);
        const CLASSES: [(&str, &str); 8] = [
            ("amx_int8", "AMX"),
            ("avx512_vnni", "AVX-512 VNNI"),
            ("avx_vnni", "AVX-VNNI"),
            ("avx512bw", "AVX-512"),
            ("avx2", "AVX2"),
            ("i8mm", "Arm i8mm"),
            ("asimddp", "Arm dotprod"),
            ("asimd", "Arm NEON"),
        ];
        CLASSES
            .iter()
            .find(|(flag, _)| has(flag))
            .map_or("baseline ISA", |(_, class)| class)
    }

    /// What identifies this machine in merged results: its label, else CPU model, ISA class and
    /// cores (runs on two machines are two rows of a cell, never averaged).
    pub fn id(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => format!("{} [{}] {} cores", self.cpu, self.isa_class(), self.cores),
        }
    }
}

/// The git commit of the source tree qbench runs from (with `-dirty` if modified), if known.
pub fn git_commit() -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = std::process::Command::new("git")
        .args(["-C", root, "rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = std::process::Command::new("git")
        .args(["-C", root, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        commit.push_str("-dirty");
    }
    Some(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_something() {
        let m = Machine::detect();
        assert!(m.cores >= 1);
        assert!(!m.cpu.is_empty());
    }

    #[test]
    fn the_id_names_the_isa_class_unless_labelled() {
        let mut m = Machine::detect();
        m.cpu = "Some CPU".into();
        m.cores = 4;
        m.label = None;
        m.isa = vec!["avx2".into(), "fma".into()];
        assert_eq!(m.id(), "Some CPU [AVX2] 4 cores");
        m.isa.push("avx512_vnni".into());
        assert_eq!(m.isa_class(), "AVX-512 VNNI");
        m.isa = vec![];
        assert_eq!(m.isa_class(), "baseline ISA");
        m.label = Some("ubuntu-24.04-arm".into());
        assert_eq!(m.id(), "ubuntu-24.04-arm");
    }
}
