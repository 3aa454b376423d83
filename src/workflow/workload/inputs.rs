//! The input files of generated tasks: a glob (`data/*.txt`, `in/**/*.csv`) relative to the
//! workload file, each match keeping its path under the glob's folder.

use std::path::{Path, PathBuf};

use crate::util::glob_match;

/// One input: the local file, and its path under the glob's folder (its blob name, and its
/// path on the node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub local: PathBuf,
    pub rel: String,
}

/// Why a glob found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// The folder before the first wildcard does not exist.
    NoFolder(PathBuf),
    /// Nothing matches; `looked_in` is that folder.
    NoMatch { looked_in: PathBuf },
}

/// The files `pattern` (relative to `base`) matches, sorted by their path under the folder
/// before the first wildcard. Names starting with `.` are left out, as shells do.
pub fn expand(base: &Path, pattern: &str) -> Result<Vec<Input>, GlobError> {
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let first_glob = parts.iter().position(|p| p.contains(['*', '?', '[']));
    let absolute = pattern.starts_with('/');
    let root = |n: usize| {
        let rel: PathBuf = parts[..n].iter().collect();
        if absolute {
            Path::new("/").join(rel)
        } else {
            base.join(rel)
        }
    };
    let Some(split) = first_glob else {
        // No wildcard: one file.
        let file = root(parts.len());
        return if file.is_file() {
            let rel = parts.last().copied().unwrap_or_default().to_string();
            Ok(vec![Input { local: file, rel }])
        } else {
            Err(GlobError::NoMatch {
                looked_in: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            })
        };
    };
    let folder = root(split);
    if !folder.is_dir() {
        return Err(GlobError::NoFolder(folder));
    }
    let glob = parts[split..].join("/");
    let deep = glob.contains("**");
    let depth = parts.len() - split;
    let mut out = Vec::new();
    let max_depth = if deep { usize::MAX } else { depth };
    walk(&folder, "", 1, max_depth, &mut |path, rel| {
        if glob_match(&glob, rel) {
            out.push(Input {
                local: path.to_path_buf(),
                rel: rel.to_string(),
            });
        }
    });
    if out.is_empty() {
        return Err(GlobError::NoMatch { looked_in: folder });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// Visits the files under `dir` down to `max_depth` levels (1: only its own files).
fn walk(dir: &Path, prefix: &str, depth: usize, max_depth: usize, f: &mut dyn FnMut(&Path, &str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let path = e.path();
        if path.is_dir() {
            if depth < max_depth {
                walk(&path, &rel, depth + 1, max_depth, f);
            }
        } else {
            f(&path, &rel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_keep_paths_under_their_folder() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "data/b.txt",
            "data/a.txt",
            "data/x.csv",
            "data/sub/c.txt",
            "data/.h.txt",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let rels = |p: &str| -> Vec<String> {
            expand(d.path(), p)
                .unwrap()
                .into_iter()
                .map(|i| i.rel)
                .collect()
        };
        assert_eq!(rels("data/*.txt"), ["a.txt", "b.txt"]);
        assert_eq!(rels("data/**/*.txt"), ["a.txt", "b.txt", "sub/c.txt"]);
        assert_eq!(rels("data/sub/*.txt"), ["c.txt"]);
        assert_eq!(rels("data/a.txt"), ["a.txt"]);
        assert_eq!(rels("*/*.csv"), ["data/x.csv"]);
        assert!(matches!(
            expand(d.path(), "data/*.text"),
            Err(GlobError::NoMatch { .. })
        ));
        assert!(matches!(
            expand(d.path(), "nope/*.txt"),
            Err(GlobError::NoFolder(_))
        ));
        assert!(matches!(
            expand(d.path(), "data/missing.txt"),
            Err(GlobError::NoMatch { .. })
        ));
    }
}
