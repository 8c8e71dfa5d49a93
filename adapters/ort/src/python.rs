//! Finding an ONNX Runtime library inside an installed Python `onnxruntime` package.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A `major.minor.patch` version; missing parts count as 0, suffixes (`.dev…`, `+cu…`) are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses the leading numeric part of a version string (`1.31.1`, `1.32.0.dev2025`, `1.31.1+cu12`).
///
/// Returns `None` when the string does not start with `<number>.<number>`.
pub fn parse_version(text: &str) -> Option<Version> {
    let text = text.trim();
    let mut parts = text.split(['.', '+', '-']).map(leading_number);
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().flatten().unwrap_or(0);
    Some(Version {
        major,
        minor,
        patch,
    })
}

/// The digits a version component starts with (`0rc1` -> 0), if any.
fn leading_number(part: &str) -> Option<u32> {
    let end = part
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(part.len());
    part[..end].parse().ok()
}

/// An installed Python `onnxruntime` package as reported by `python3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonOrt {
    /// Version string reported by the package metadata (e.g. `1.31.1`).
    pub version: String,
    /// The package directory (`.../site-packages/onnxruntime`).
    pub dir: PathBuf,
}

impl PythonOrt {
    /// The shared library shipped in the package: `<dir>/capi/libonnxruntime.so.<version>`, or
    /// else the only `libonnxruntime.so.*` found in `<dir>/capi`.
    pub fn library(&self) -> Option<PathBuf> {
        let capi = self.dir.join("capi");
        let exact = capi.join(format!("libonnxruntime.so.{}", self.version));
        if exact.is_file() {
            return Some(exact);
        }
        let mut found = std::fs::read_dir(&capi)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| file_name_starts_with(p, "libonnxruntime.so."));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }
}

fn file_name_starts_with(path: &Path, prefix: &str) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(prefix))
}

/// Prints the package version and directory without importing the package (which would load its
/// own copy of the runtime and needs numpy).
const PROBE: &str = r#"
import importlib.util
spec = importlib.util.find_spec("onnxruntime")
if spec is None or not spec.submodule_search_locations:
    print("none")
    raise SystemExit(0)
version = "unknown"
try:
    import importlib.metadata as md
    for dist in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"):
        try:
            version = md.version(dist)
            break
        except Exception:
            pass
except ImportError:
    pass
print(version)
print(list(spec.submodule_search_locations)[0])
"#;

/// Asks `python3` for an installed `onnxruntime` package.
///
/// `Ok(None)`: Python runs but has no such package. `Err`: Python could not be run or answered
/// something unexpected (the message says what).
pub fn python_onnxruntime() -> Result<Option<PythonOrt>, String> {
    let out = Command::new("python3")
        .args(["-c", PROBE])
        .output()
        .map_err(|e| format!("could not run python3: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "python3 failed ({}): {}",
            out.status,
            last_line(&stderr)
        ));
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout))
}

/// Interprets the probe's output (`none`, or the version line then the directory line).
fn parse_probe(stdout: &str) -> Result<Option<PythonOrt>, String> {
    let mut lines = stdout.lines().map(str::trim).filter(|l| !l.is_empty());
    match (lines.next(), lines.next()) {
        (Some("none"), _) => Ok(None),
        (Some(version), Some(dir)) => Ok(Some(PythonOrt {
            version: version.to_string(),
            dir: PathBuf::from(dir),
        })),
        _ => Err(format!(
            "unexpected answer from python3: {:?}",
            stdout.trim()
        )),
    }
}

/// The last non-empty line of a tool's output (where Python and pip put the actual error).
pub(crate) fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    #[test]
    fn parses_plain_and_suffixed_versions() {
        assert_eq!(parse_version("1.31.1"), Some(v(1, 31, 1)));
        assert_eq!(parse_version(" 1.31.1\n"), Some(v(1, 31, 1)));
        assert_eq!(parse_version("1.31"), Some(v(1, 31, 0)));
        assert_eq!(parse_version("1.32.0.dev20250601"), Some(v(1, 32, 0)));
        assert_eq!(parse_version("1.31.1+cu126"), Some(v(1, 31, 1)));
        assert_eq!(parse_version("1.31.0rc1"), Some(v(1, 31, 0)));
        assert_eq!(parse_version("unknown"), None);
        assert_eq!(parse_version("1"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn compares_numerically_not_lexically() {
        let min = crate::MIN_VERSION;
        assert!(parse_version("1.31.0").is_some_and(|x| x >= min));
        assert!(parse_version("1.31.1").is_some_and(|x| x >= min));
        assert!(parse_version("1.100.0").is_some_and(|x| x >= min));
        assert!(parse_version("2.0.0").is_some_and(|x| x >= min));
        assert!(parse_version("1.4.0").is_some_and(|x| x < min));
        assert!(parse_version("1.30.9").is_some_and(|x| x < min));
        assert!(parse_version("0.99.0").is_some_and(|x| x < min));
        assert_eq!(v(1, 31, 1).to_string(), "1.31.1");
    }

    #[test]
    fn parses_probe_output() {
        assert_eq!(parse_probe("none\n"), Ok(None));
        let found = parse_probe("1.31.1\n/usr/lib/python3/site-packages/onnxruntime\n");
        assert_eq!(
            found,
            Ok(Some(PythonOrt {
                version: "1.31.1".into(),
                dir: PathBuf::from("/usr/lib/python3/site-packages/onnxruntime")
            }))
        );
        assert!(parse_probe("").is_err());
        assert!(parse_probe("1.31.1\n").is_err());
    }

    #[test]
    fn finds_library_in_capi() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let capi = dir.path().join("capi");
        std::fs::create_dir(&capi)?;
        let pkg = PythonOrt {
            version: "1.31.1".into(),
            dir: dir.path().to_path_buf(),
        };
        assert_eq!(pkg.library(), None);
        std::fs::write(capi.join("libonnxruntime.so.1.31.1"), b"x")?;
        assert_eq!(pkg.library(), Some(capi.join("libonnxruntime.so.1.31.1")));
        let other = PythonOrt {
            version: "1.31.1+cu126".into(),
            dir: dir.path().to_path_buf(),
        };
        assert_eq!(other.library(), Some(capi.join("libonnxruntime.so.1.31.1")));
        Ok(())
    }
}
