//! The version of the ONNX Runtime library that was actually loaded.

use std::path::Path;

/// Best available version of the library at `path` (already loaded by `ort`): its own
/// `GetVersionString`, else the release in its build info, else `known` (from where it was
/// found), else the version in its file name, else `"unknown"`.
pub(crate) fn runtime_version(path: &Path, known: Option<String>) -> String {
    loaded_version(path)
        .or_else(|| build_info_version(ort::info()))
        .or(known)
        .or_else(|| file_version(path))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Asks the loaded library itself (`OrtGetApiBase()->GetVersionString()`), which `ort` does not
/// expose. `RTLD_NOLOAD` returns the handle `ort` already holds and never loads anything new.
#[cfg(target_os = "linux")]
fn loaded_version(path: &Path) -> Option<String> {
    use std::ffi::{c_char, c_int, c_void, CStr, CString};
    use std::os::unix::ffi::OsStrExt;

    extern "C" {
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        fn dlclose(handle: *mut c_void) -> c_int;
    }
    // Same values in glibc and musl.
    const RTLD_LAZY: c_int = 1;
    const RTLD_NOLOAD: c_int = 4;
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;

    let name = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: dlopen/dlsym/dlclose are called with valid C strings; the symbol, if present, is
    // ONNX Runtime's `OrtGetApiBase` with the signature above, and the version string it returns
    // is a static, NUL-terminated buffer owned by the library (which stays loaded: `ort` holds it).
    unsafe {
        let handle = dlopen(name.as_ptr(), RTLD_LAZY | RTLD_NOLOAD);
        if handle.is_null() {
            return None;
        }
        let symbol = dlsym(handle, c"OrtGetApiBase".as_ptr());
        let version = if symbol.is_null() {
            None
        } else {
            let get_api_base = std::mem::transmute::<*mut c_void, GetApiBase>(symbol);
            let base = get_api_base();
            let text = if base.is_null() {
                std::ptr::null()
            } else {
                ((*base).GetVersionString)()
            };
            (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
        };
        dlclose(handle);
        version.filter(|v| crate::parse_version(v).is_some())
    }
}

#[cfg(not(target_os = "linux"))]
fn loaded_version(_path: &Path) -> Option<String> {
    None
}

/// The release in ONNX Runtime's build info (`... git-branch=rel-1.31.1, ...`); PyPI builds say
/// `git-branch=HEAD`, hence the other sources.
fn build_info_version(info: &str) -> Option<String> {
    let rest = &info[info.find("git-branch=rel-")? + "git-branch=rel-".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let v = rest[..end].trim_end_matches('.');
    v.contains('.').then(|| v.to_string())
}

/// The version in a file name such as `libonnxruntime.so.1.31.1`.
fn file_version(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let v = name.strip_prefix("libonnxruntime.so.")?;
    crate::parse_version(v).map(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_build_info() {
        let info = "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc, build type=Release";
        assert_eq!(build_info_version(info).as_deref(), Some("1.31.1"));
        assert_eq!(
            build_info_version("ORT Build Info: git-branch=HEAD, x").as_deref(),
            None
        );
        assert_eq!(build_info_version("").as_deref(), None);
    }

    #[test]
    fn version_from_file_name() {
        assert_eq!(
            file_version(Path::new("/x/libonnxruntime.so.1.31.1")).as_deref(),
            Some("1.31.1")
        );
        assert_eq!(file_version(Path::new("/x/libonnxruntime.so")), None);
    }

    #[test]
    fn nothing_loaded_means_no_loaded_version() {
        assert_eq!(
            loaded_version(Path::new("/nonexistent/libonnxruntime.so.1.31.1")),
            None
        );
    }
}
