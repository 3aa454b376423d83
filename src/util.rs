//! Small helpers shared across modules.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Parses a duration such as `0`, `250ms`, `2s`, `1.5s`, `3m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad =
        || format!("invalid duration {s:?}: use a number with ms, s, m or h, e.g. 2s or 500ms");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Who may read a file that [`AtomicFile`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAccess {
    /// As any new file: 0666 less the process's umask.
    Default,
    /// The owner only (0600), from the file's creation on: for files that hold keys.
    OwnerOnly,
}

/// A file written atomically: the bytes go to a temporary file in the destination's directory,
/// created with the final permissions; [`AtomicFile::commit`] fsyncs it, renames it over the
/// destination and fsyncs the directory, so a crash leaves either the old file or the new one.
/// Until then the temporary file belongs to this value: an error, a cancelled task or a drop
/// before the commit removes it.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts writing `dest` (its directory is created if missing).
    pub fn create(dest: &Path, access: FileAccess) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = parent_dir(dest);
        std::fs::create_dir_all(dir)?;
        let mode = match access {
            FileAccess::Default => 0o666,
            FileAccess::OwnerOnly => 0o600,
        };
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(std::fs::Permissions::from_mode(mode))
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file, to write to (`&File` is `Write`; `try_clone` it for async I/O).
    pub fn file(&self) -> &std::fs::File {
        self.tmp.as_file()
    }

    /// Where the bytes go until the commit.
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// Puts the file in place, replacing what `dest` held.
    pub fn commit(self) -> std::io::Result<()> {
        self.place(true)
    }

    /// Puts the file in place unless `dest` exists (then `ErrorKind::AlreadyExists`, with
    /// `dest` untouched), checked atomically where the file system can.
    pub fn commit_new(self) -> std::io::Result<()> {
        self.place(false)
    }

    fn place(self, overwrite: bool) -> std::io::Result<()> {
        self.tmp.as_file().sync_all()?;
        let AtomicFile { tmp, dest } = self;
        // On failure the error holds the temporary file, and dropping it removes the file.
        if overwrite {
            tmp.persist(&dest).map_err(|e| e.error)?;
        } else {
            tmp.persist_noclobber(&dest).map_err(|e| e.error)?;
        }
        sync_dir(parent_dir(&dest))
    }
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_as(path, bytes, FileAccess::Default)
}

/// Writes `bytes` to `path` atomically, readable as `access` says from the start.
pub fn write_atomic_as(path: &Path, bytes: &[u8], access: FileAccess) -> std::io::Result<()> {
    let file = AtomicFile::create(path, access)?;
    file.file().write_all(bytes)?;
    file.commit()
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A count and its noun, plural past one: `1 failed task`, `3 failed tasks`, `0 nodes`.
pub fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    if n == N::from(1) {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A duration as the Batch service writes one (ISO 8601: `PT1H30M`, `PT0.5S`).
pub fn iso8601_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if frac > 0 {
        out.push_str(&format!("{s}.{frac:03}S"));
    } else if s > 0 || out == "PT" {
        out.push_str(&format!("{s}S"));
    }
    out
}

/// Matches a path (components joined with `/`) against a glob with `*`, `?` and `**`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    fn seg_match(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => seg_match(&p[1..], s) || (!s.is_empty() && seg_match(p, &s[1..])),
            (Some('?'), Some(_)) => seg_match(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => seg_match(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn parts_match(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => {
                parts_match(&p[1..], s) || (!s.is_empty() && parts_match(p, &s[1..]))
            }
            (Some(pp), Some(ss)) => {
                let pc: Vec<char> = pp.chars().collect();
                let sc: Vec<char> = ss.chars().collect();
                seg_match(&pc, &sc) && parts_match(&p[1..], &s[1..])
            }
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('/').filter(|x| !x.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|x| !x.is_empty()).collect();
    parts_match(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_s_noun_is_plural_past_one() {
        assert_eq!(count(1, "failed task"), "1 failed task");
        assert_eq!(count(3, "failed task"), "3 failed tasks");
        assert_eq!(count(0, "node"), "0 nodes");
    }

    #[test]
    fn iso8601_durations() {
        assert_eq!(iso8601_duration(Duration::from_secs(5400)), "PT1H30M");
        assert_eq!(iso8601_duration(Duration::from_millis(500)), "PT0.500S");
        assert_eq!(iso8601_duration(Duration::ZERO), "PT0S");
        assert_eq!(iso8601_duration(Duration::from_secs(3601)), "PT1H1S");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("2").unwrap_err().contains("2s"));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1d").is_err());
    }

    /// The names in `dir`, sorted.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two two");
        assert_eq!(names_in(d.path()), ["f"]);
    }

    #[test]
    fn atomic_writes_apply_permissions_from_the_start() {
        let d = tempfile::tempdir().unwrap();
        // A key file replaces a world-readable one and is 0600 whatever the umask.
        let private = d.path().join("sub/config.toml");
        std::fs::create_dir_all(private.parent().unwrap()).unwrap();
        std::fs::write(&private, "old").unwrap();
        let file = AtomicFile::create(&private, FileAccess::OwnerOnly).unwrap();
        assert_eq!(mode(file.temp_path()), 0o600, "never readable by others");
        file.file().write_all(b"key = 1").unwrap();
        file.commit().unwrap();
        assert_eq!(mode(&private), 0o600);
        assert_eq!(std::fs::read(&private).unwrap(), b"key = 1");
        // Anything else gets the mode of any new file (0666 less the umask), as `File::create`.
        let plain = d.path().join("plain");
        write_atomic(&plain, b"x").unwrap();
        let reference = d.path().join("reference");
        std::fs::File::create(&reference).unwrap();
        assert_eq!(mode(&plain), mode(&reference));
    }

    #[test]
    fn an_error_or_a_drop_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        // The rename fails: the destination is a directory.
        let dest = d.path().join("taken");
        std::fs::create_dir(&dest).unwrap();
        assert!(write_atomic_as(&dest, b"x", FileAccess::OwnerOnly).is_err());
        assert_eq!(names_in(d.path()), ["taken"]);
        // Refusing to replace an existing file keeps it and removes the temporary file.
        let kept = d.path().join("kept");
        std::fs::write(&kept, "first").unwrap();
        let file = AtomicFile::create(&kept, FileAccess::Default).unwrap();
        file.file().write_all(b"second").unwrap();
        let e = file.commit_new().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&kept).unwrap(), b"first");
        assert_eq!(names_in(d.path()), ["kept", "taken"]);
        // Dropped before the commit (an error on the way, a cancelled task).
        let file = AtomicFile::create(&d.path().join("never"), FileAccess::Default).unwrap();
        file.file().write_all(b"partial").unwrap();
        drop(file);
        assert_eq!(names_in(d.path()), ["kept", "taken"]);
        // A new file is placed.
        let file = AtomicFile::create(&d.path().join("new"), FileAccess::Default).unwrap();
        file.file().write_all(b"n").unwrap();
        file.commit_new().unwrap();
        assert_eq!(names_in(d.path()), ["kept", "new", "taken"]);
    }
}
