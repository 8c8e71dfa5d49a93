//! Wheel file names (the binary distribution format, PEP 427):
//! `{distribution}-{version}(-{build})?-{python tag}-{abi tag}-{platform tag}.whl`, where each tag
//! may be a compressed set joined by `.` (`py2.py3`, `manylinux_2_17_x86_64.manylinux2014_x86_64`),
//! and the `pip download` options that select exactly such a wheel whatever the host.

use crate::error::ProvisionError;
use crate::fetch::normalize;
use crate::{Ctx, PackageFile};

/// A parsed wheel file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WheelName {
    pub distribution: String,
    pub version: String,
    pub build: Option<String>,
    /// Python tags, e.g. `["cp311"]` or `["py2", "py3"]`.
    pub python: Vec<String>,
    /// ABI tags, e.g. `["cp311"]`, `["abi3"]` or `["none"]`.
    pub abi: Vec<String>,
    /// Platform tags, e.g. `["manylinux_2_17_x86_64", "manylinux2014_x86_64"]` or `["any"]`.
    pub platform: Vec<String>,
}

/// A Python tag split into implementation and version: `cp311` is `("cp", 3, Some(11))`, `py3` is
/// `("py", 3, None)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PythonTag<'a> {
    implementation: &'a str,
    major: u32,
    minor: Option<u32>,
}

impl<'a> PythonTag<'a> {
    /// Letters (the implementation), then digits: the major version's single digit, then the minor
    /// version, if any.
    fn parse(tag: &'a str) -> Option<PythonTag<'a>> {
        let split = tag.find(|c: char| !c.is_ascii_alphabetic())?;
        let (implementation, digits) = tag.split_at(split);
        if implementation.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (major, minor) = digits.split_at(1);
        Some(PythonTag {
            implementation,
            major: major.parse().ok()?,
            minor: if minor.is_empty() {
                None
            } else {
                Some(minor.parse().ok()?)
            },
        })
    }

    /// The version as `pip download --python-version` takes it: `3.11`, or `3`.
    fn version(&self) -> String {
        match self.minor {
            Some(minor) => format!("{}.{minor}", self.major),
            None => self.major.to_string(),
        }
    }
}

impl WheelName {
    /// Parses a wheel file name; the error completes "the pinned wheel <name> …".
    pub(crate) fn parse(name: &str) -> Result<WheelName, String> {
        let Some(stem) = name.strip_suffix(".whl") else {
            return Err("does not end in `.whl` (only wheels can be pinned)".into());
        };
        let parts: Vec<&str> = stem.split('-').collect();
        let (distribution, version, build, tags) = match parts.as_slice() {
            [d, v, p, a, pl] => (*d, *v, None, [*p, *a, *pl]),
            [d, v, b, p, a, pl] => (*d, *v, Some(*b), [*p, *a, *pl]),
            _ => {
                return Err(format!(
                    "has {} `-`-separated fields before `.whl` where a wheel name has 5 or 6",
                    parts.len()
                ))
            }
        };
        let plain = |s: &str, extra: &[u8]| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
        };
        let starts_alnum = |s: &str| s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if !starts_alnum(distribution) || !plain(distribution, b"_.") {
            return Err(format!(
                "has the distribution {distribution:?}, which is not a project name (letters, \
                 digits, `_` and `.`, starting with a letter or digit)"
            ));
        }
        if !starts_alnum(version) || !plain(version, b"._+!") {
            return Err(format!(
                "has the version {version:?}, which is not a version (letters, digits, `.`, `_`, \
                 `+` and `!`, starting with a letter or digit)"
            ));
        }
        if let Some(build) = build {
            if !build.bytes().next().is_some_and(|b| b.is_ascii_digit()) || !plain(build, b"_.") {
                return Err(format!(
                    "has the build tag {build:?}, which must start with a digit (letters, digits, \
                     `_` and `.` after it)"
                ));
            }
        }
        let set = |kind: &str, tag: &str| {
            let set: Vec<String> = tag.split('.').map(str::to_string).collect();
            if set.iter().any(|t| t.is_empty() || !plain(t, b"_")) {
                return Err(format!(
                    "has the {kind} tag {tag:?}, which is not a tag or a `.`-joined set of tags \
                     (letters, digits and `_`)"
                ));
            }
            Ok(set)
        };
        let [python, abi, platform] = tags;
        let (python, abi, platform) = (
            set("python", python)?,
            set("ABI", abi)?,
            set("platform", platform)?,
        );
        if let Some(bad) = python.iter().find(|t| PythonTag::parse(t).is_none()) {
            return Err(format!(
                "has the python tag {bad:?}, which is not an implementation and a version such as \
                 `cp311` or `py3`"
            ));
        }
        Ok(WheelName {
            distribution: distribution.into(),
            version: version.into(),
            build: build.map(str::to_string),
            python,
            abi,
            platform,
        })
    }

    /// Whether the wheel is of `package` at `version`: names compared after PEP 503 normalization,
    /// versions case-insensitively with `-` and `_` alike (wheel names write `-` as `_`).
    pub(crate) fn is_of(&self, package: &str, version: &str) -> bool {
        let ver = |v: &str| v.to_ascii_lowercase().replace('-', "_");
        normalize(&self.distribution) == normalize(package) && ver(&self.version) == ver(version)
    }

    /// The `pip download` options that make pip choose this wheel: every platform tag as
    /// `--platform`, the newest Python tag as `--python-version` and `--implementation`, every ABI
    /// tag as `--abi`. `--ignore-requires-python` because a major-only tag (`py3`) means Python 3.0
    /// to pip, below most packages' `Requires-Python` (and nothing gets installed anyway).
    pub(crate) fn pip_options(&self) -> Vec<String> {
        let mut args = vec!["--ignore-requires-python".to_string()];
        for platform in &self.platform {
            args.extend(["--platform".into(), platform.clone()]);
        }
        // Parsing checked every Python tag; the newest one decides (ties: the first).
        let newest = self.python.iter().filter_map(|t| PythonTag::parse(t)).fold(
            None::<PythonTag>,
            |best, t| match best {
                Some(b) if (b.major, b.minor) >= (t.major, t.minor) => Some(b),
                _ => Some(t),
            },
        );
        if let Some(tag) = newest {
            args.extend([
                "--python-version".into(),
                tag.version(),
                "--implementation".into(),
                tag.implementation.to_string(),
            ]);
        }
        for abi in &self.abi {
            args.extend(["--abi".into(), abi.clone()]);
        }
        args
    }
}

/// The pin's `wheel`, parsed and checked against its package and version (`None` without one).
pub(crate) fn pinned_wheel(
    file: &PackageFile,
    ctx: &Ctx,
) -> Result<Option<WheelName>, ProvisionError> {
    let Some(name) = &file.wheel else {
        return Ok(None);
    };
    let bad = |problem: String| ProvisionError::BadWheelName {
        package: ctx.package.clone(),
        file: ctx.file.clone(),
        wheel: name.clone(),
        problem,
    };
    let wheel = WheelName::parse(name).map_err(bad)?;
    if !wheel.is_of(&file.package, &file.version) {
        return Err(bad(format!(
            "is a wheel of {} {}, not of {}",
            wheel.distribution, wheel.version, ctx.package
        )));
    }
    Ok(Some(wheel))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKIMAGE: &str =
        "scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_names_with_compressed_tags_and_build_tags() {
        assert_eq!(
            WheelName::parse(SKIMAGE),
            Ok(WheelName {
                distribution: "scikit_image".into(),
                version: "0.24.0".into(),
                build: None,
                python: strings(&["cp311"]),
                abi: strings(&["cp311"]),
                platform: strings(&["manylinux_2_17_x86_64", "manylinux2014_x86_64"]),
            })
        );
        assert_eq!(
            WheelName::parse("six-1.16.0-py2.py3-none-any.whl"),
            Ok(WheelName {
                distribution: "six".into(),
                version: "1.16.0".into(),
                build: None,
                python: strings(&["py2", "py3"]),
                abi: strings(&["none"]),
                platform: strings(&["any"]),
            })
        );
        let built = WheelName::parse("Tiny_Models-1.2.3-1_local-cp38-abi3-win_amd64.whl");
        assert_eq!(
            built.as_ref().map(|w| (w.build.as_deref(), w.abi.clone())),
            Ok((Some("1_local"), strings(&["abi3"])))
        );
        let pypy = WheelName::parse("numpy-2.0.0-pp39-pypy39_pp73-macosx_14_0_x86_64.whl");
        assert_eq!(pypy.map(|w| w.python), Ok(strings(&["pp39"])));
    }

    #[test]
    fn refuses_malformed_names() {
        for (name, problem) in [
            ("scikit_image-0.24.0.tar.gz", "does not end in `.whl`"),
            (
                "scikit_image-0.24.0-cp311-cp311.whl",
                "has 4 `-`-separated fields",
            ),
            (
                "scikit_image-0.24.0-1-2-cp311-cp311-any.whl",
                "has 7 `-`-separated",
            ),
            ("-0.24.0-cp311-cp311-any.whl", "has the distribution \"\""),
            ("a/b-1.0-py3-none-any.whl", "has the distribution \"a/b\""),
            ("x-1.0-b1-py3-none-any.whl", "has the build tag \"b1\""),
            (
                "x-1.0-py3..py2-none-any.whl",
                "has the python tag \"py3..py2\"",
            ),
            ("x-1.0-py3-none-any..whl", "has the platform tag \"any.\""),
            ("x-1.0-py3-no ne-any.whl", "has the ABI tag \"no ne\""),
            ("x-1.0-py-none-any.whl", "has the python tag \"py\""),
            ("x-1.0-3-none-any.whl", "has the python tag \"3\""),
            ("x-1.0-cp3x-none-any.whl", "has the python tag \"cp3x\""),
            ("x-.1-py3-none-any.whl", "has the version \".1\""),
        ] {
            let result = WheelName::parse(name);
            assert!(
                matches!(&result, Err(e) if e.starts_with(problem)),
                "{name}: {result:?}"
            );
        }
    }

    #[test]
    fn matches_the_package_as_pip_normalizes_it() -> Result<(), String> {
        let w = WheelName::parse(SKIMAGE)?;
        assert!(w.is_of("scikit-image", "0.24.0"));
        assert!(w.is_of("Scikit.Image", "0.24.0"));
        assert!(w.is_of("scikit_image", "0.24.0"));
        assert!(!w.is_of("scikit-image", "0.24.1"));
        assert!(!w.is_of("scikit-image", "0.24"));
        assert!(!w.is_of("scikit-images", "0.24.0"));
        let rc = WheelName::parse("tiny_models-1.0rc1_post1-py3-none-any.whl")?;
        assert!(rc.is_of("tiny-models", "1.0RC1-post1"));
        // A `-` in the distribution shifts the fields: it parses, as another package.
        let dashed = WheelName::parse("scikit-image-0.24.0-cp311-cp311-any.whl")?;
        assert_eq!(dashed.build.as_deref(), Some("0.24.0"));
        assert!(!dashed.is_of("scikit-image", "0.24.0"));
        Ok(())
    }

    #[test]
    fn pip_options_select_the_wheel() {
        let options = |name: &str| WheelName::parse(name).map(|w| w.pip_options().join(" "));
        assert_eq!(
            options(SKIMAGE),
            Ok(
                "--ignore-requires-python --platform manylinux_2_17_x86_64 --platform \
                manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311"
                    .into()
            )
        );
        assert_eq!(
            options("six-1.16.0-py2.py3-none-any.whl"),
            Ok(
                "--ignore-requires-python --platform any --python-version 3 --implementation py \
                --abi none"
                    .into()
            )
        );
        assert_eq!(
            options("x-1.0-cp39.cp310.cp38-abi3-win_amd64.whl"),
            Ok(
                "--ignore-requires-python --platform win_amd64 --python-version 3.10 \
                --implementation cp --abi abi3"
                    .into()
            )
        );
        assert_eq!(
            options("numpy-2.0.0-pp39-pypy39_pp73-manylinux_2_17_aarch64.whl"),
            Ok(
                "--ignore-requires-python --platform manylinux_2_17_aarch64 --python-version 3.9 \
                --implementation pp --abi pypy39_pp73"
                    .into()
            )
        );
    }
}
