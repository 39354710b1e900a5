//! Where the repository's test data lies.

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// `testdata/<rel>` of the repository.
pub fn testdata(rel: &str) -> PathBuf {
    repo_root().join("testdata").join(rel)
}

/// The shared photos (`testdata/photos/*.jpg`), sorted by name.
pub fn photos() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(testdata("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v
}

/// Every file below `root` (recursively), sorted; none when `root` does not exist.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_holds_the_workspace_and_the_six_photos() {
        assert!(repo_root().join("Cargo.toml").is_file());
        let names: Vec<String> = photos().iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["animal", "baby", "car", "graphic", "people", "product"]);
    }

    #[test]
    fn files_under_walks_the_folders_and_ignores_a_missing_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        for f in ["z", "a/y", "a/b/x"] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let rel: Vec<_> = files_under(dir.path()).iter().map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(rel, [Path::new("a/b/x"), Path::new("a/y"), Path::new("z")]);
        assert!(files_under(&dir.path().join("missing")).is_empty());
    }
}
