//! Class labels from a file: a `.npy` array, or text with one non-negative integer per line.

use std::path::Path;

use crate::{DataError, NpyArray};

/// Reads labels from `path`: a `.npy` file (by extension, any case) or a text file with one
/// integer label per line (surrounding whitespace and blank lines are ignored).
pub fn read_label_file(path: &Path) -> Result<Vec<u32>, DataError> {
    let is_npy = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        return NpyArray::read_npy(path)?.to_labels(path, "");
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| DataError::invalid(path, "labels file is not UTF-8 text"))?;
    parse_text_labels(&text, path)
}

/// Parses one non-negative integer label per line.
pub fn parse_text_labels(text: &str, path: &Path) -> Result<Vec<u32>, DataError> {
    let mut labels = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let label = line.parse::<u32>().map_err(|_| {
            DataError::invalid(
                path,
                format!(
                    "line {}: '{line}' is not a non-negative integer label",
                    n + 1
                ),
            )
        })?;
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(DataError::invalid(path, "labels file has no labels"));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy_array::tests::npy_bytes;

    #[test]
    fn text_labels() {
        let p = Path::new("labels.txt");
        assert_eq!(
            parse_text_labels("3\n 0 \n\n12\r\n", p).unwrap(),
            [3, 0, 12]
        );
        let e = parse_text_labels("1\n-2\n", p).unwrap_err().to_string();
        assert!(
            e.contains("labels.txt") && e.contains("line 2: '-2'"),
            "{e}"
        );
        assert!(parse_text_labels("1\ncat\n", p)
            .unwrap_err()
            .to_string()
            .contains("'cat'"));
        assert!(parse_text_labels("1.5\n", p).is_err());
        assert!(parse_text_labels("\n \n", p)
            .unwrap_err()
            .to_string()
            .contains("no labels"));
    }

    #[test]
    fn files_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("l.txt");
        std::fs::write(&txt, "4\n5\n").unwrap();
        assert_eq!(read_label_file(&txt).unwrap(), [4, 5]);
        let npy = dir.path().join("l.NPY");
        std::fs::write(&npy, npy_bytes(&[2], &[9u8, 1], false)).unwrap();
        assert_eq!(read_label_file(&npy).unwrap(), [9, 1]);
        let bin = dir.path().join("l.bin");
        std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_label_file(&bin)
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
        let e = read_label_file(&dir.path().join("gone.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("gone.txt"), "{e}");
    }
}
