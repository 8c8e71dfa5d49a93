//! A classes file: one class (folder) name per line, in the model's label order, e.g. the
//! ImageNet synset order, so that image folders map to the model's class indices.

use std::collections::HashMap;
use std::path::Path;

use crate::DataError;

/// Reads a classes file: one class per line, giving the label order. A line names a folder
/// either whole or by its first word (so "n01440764 tench" lines work).
pub fn read_classes(path: &Path, folders: &[String]) -> Result<Vec<String>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| DataError::invalid(path, "classes file is not UTF-8 text"))?;
    let mut classes = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let first_word = line.split_whitespace().next().unwrap_or(line);
        let name = if folders.iter().any(|f| f == line) {
            line
        } else {
            first_word
        };
        if let Some(prev) = seen.insert(name.to_string(), n + 1) {
            return Err(DataError::invalid(
                path,
                format!("line {}: class '{name}' is already on line {prev}", n + 1),
            ));
        }
        classes.push(name.to_string());
    }
    if classes.is_empty() {
        return Err(DataError::invalid(path, "classes file lists no classes"));
    }
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(text: &str, folders: &[&str]) -> Result<Vec<String>, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("classes.txt");
        std::fs::write(&path, text).unwrap();
        let folders: Vec<String> = folders.iter().map(|f| f.to_string()).collect();
        read_classes(&path, &folders)
    }

    #[test]
    fn whole_lines_or_first_words() {
        let c = classes(
            "n01440764 tench, Tinca tinca\n\n  hot dog \nzebra\r\n",
            &["hot dog"],
        )
        .unwrap();
        assert_eq!(c, ["n01440764", "hot dog", "zebra"]);
    }

    #[test]
    fn rejects_duplicates_empty_and_unreadable() {
        let e = classes("a\nb\na x\n", &[]).unwrap_err().to_string();
        assert!(
            e.contains("classes.txt") && e.contains("line 3: class 'a' is already on line 1"),
            "{e}"
        );
        assert!(classes("\n  \n", &[])
            .unwrap_err()
            .to_string()
            .contains("lists no classes"));
        let e = read_classes(Path::new("/nonexistent/classes.txt"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/classes.txt"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("classes.bin");
        std::fs::write(&binary, [0xffu8, 0xfe]).unwrap();
        let e = read_classes(&binary, &[]).unwrap_err().to_string();
        assert!(e.contains("classes.bin") && e.contains("not UTF-8"), "{e}");
    }
}
