//! Data files shipped inside a pinned registry package (`[data.package]`): qbench fetches the
//! package on first use with the registry's own client, checks the archive's and every file's
//! SHA-256, and caches the files (`qbench-provision`); the data sources' relative paths then
//! resolve inside the package. Nothing is committed.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// A pinned package and the files a scenario's data reads from it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DataPackage {
    /// Registry: "pypi".
    pub registry: String,
    pub package: String,
    /// Exact version.
    pub version: String,
    /// SHA-256 (hex) of the archive.
    pub archive_sha256: String,
    /// The exact archive file name, for packages whose wheels differ per platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wheel: Option<String>,
    /// The files used, by path inside the archive, each with its SHA-256.
    pub files: Vec<PackagedFile>,
}

/// One file of a [`DataPackage`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PackagedFile {
    pub path: String,
    pub sha256: String,
}

impl DataPackage {
    fn files(&self) -> Vec<qbench_provision::PackageFile> {
        self.files
            .iter()
            .map(|f| qbench_provision::PackageFile {
                registry: self.registry.clone(),
                package: self.package.clone(),
                version: self.version.clone(),
                archive_sha256: self.archive_sha256.clone(),
                wheel: self.wheel.clone(),
                path: f.path.clone(),
                sha256: f.sha256.clone(),
            })
            .collect()
    }
}

/// Fetches (or finds in the cache) the scenario's data package and points its data sources at
/// it; afterwards the scenario carries the folder, not the package, so cells never fetch.
pub fn resolve(scenario: &mut Scenario) -> Result<()> {
    let Some(pkg) = scenario.data.package.take() else {
        return Ok(());
    };
    let what = || {
        format!(
            "scenario '{}': cannot provide its data from {} {}",
            scenario.name, pkg.package, pkg.version
        )
    };
    if pkg.files.is_empty() {
        anyhow::bail!("{}: [data.package] lists no files", what());
    }
    let cache = qbench_provision::cache_dir().with_context(what)?;
    let paths = qbench_provision::provide_all(&pkg.files(), &cache).with_context(what)?;
    // `<root>/<path>` for every file: the root is the package's folder in the cache.
    let root = paths[0]
        .ancestors()
        .nth(
            std::path::Path::new(&pkg.files[0].path)
                .components()
                .count(),
        )
        .map(std::path::Path::to_path_buf)
        .with_context(what)?;
    scenario.data.root = Some(root);
    Ok(())
}
