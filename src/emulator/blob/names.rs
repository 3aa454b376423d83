//! Container and blob name rules. Names never become file paths (content files are named by
//! generated ids), so these checks are about answering as the service does and refusing names
//! that would be ambiguous in a path (`.`/`..` segments, backslashes).

use super::error::BlobError;

/// 3-63 characters of lowercase letters, digits and single hyphens, starting and ending
/// with a letter or digit. `$root`, `$logs` and `$web` are the service's reserved names.
pub fn check_container(name: &str) -> Result<(), BlobError> {
    if matches!(name, "$root" | "$logs" | "$web") {
        return Ok(());
    }
    let len = name.chars().count();
    if !(3..=63).contains(&len) {
        return Err(BlobError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "OutOfRangeInput",
            "The specified resource name length is not within the permissible limits.",
        ));
    }
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ends_ok = !name.starts_with('-') && !name.ends_with('-');
    if !ok_chars || !ends_ok || name.contains("--") {
        return Err(BlobError::invalid_name(
            "container names are 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
        ));
    }
    Ok(())
}

/// 1-1024 characters, no NUL, no backslash, and no `.` or `..` path segment.
pub fn check_blob(name: &str) -> Result<(), BlobError> {
    let len = name.chars().count();
    if len == 0 || len > 1024 {
        return Err(BlobError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "OutOfRangeInput",
            "The specified resource name length is not within the permissible limits.",
        ));
    }
    if name.contains('\0') || name.contains('\\') {
        return Err(BlobError::invalid_name(
            "blob names must not contain NUL or backslash characters",
        ));
    }
    if name.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(BlobError::invalid_name(
            "blob names must not contain '.' or '..' path segments",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names() {
        for ok in [
            "abc",
            "a-b-c",
            "0ab",
            "a23456789012345678901234567890123456789012345678901234567890123",
            "$root",
        ] {
            assert!(check_container(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab", "Abc", "a--b", "-ab", "ab-", "a_b", "a.b", "a b", "..", "a/b",
        ] {
            assert!(check_container(bad).is_err(), "{bad}");
        }
        assert_eq!(check_container("ab").unwrap_err().code, "OutOfRangeInput");
        assert_eq!(
            check_container("a--b").unwrap_err().code,
            "InvalidResourceName"
        );
        assert!(check_container(&"a".repeat(64)).is_err());
    }

    #[test]
    fn blob_names() {
        for ok in [
            "a",
            "dir/sub/file.txt",
            "a b+c",
            "...",
            ".hidden",
            "a./b",
            "ü/é",
            "a//b",
        ] {
            assert!(check_blob(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "..", ".", "a/../b", "a/./b", "../x", "x/..", "a\\b", "a\0b",
        ] {
            assert!(check_blob(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_blob("a/../b").unwrap_err().code,
            "InvalidResourceName"
        );
        assert!(check_blob(&"x".repeat(1024)).is_ok());
        assert!(check_blob(&"x".repeat(1025)).is_err());
    }
}
