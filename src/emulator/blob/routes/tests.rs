use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::{DateTime, Utc};

use super::common::{decode_marker, encode_marker, max_results, metadata};
use super::conditions::Conditions;
use super::split_path;
use crate::azure::auth::parse_http_date;
use crate::emulator::blob::store::{BlobProps, BlobRec};

#[test]
fn paths_split_and_decode() {
    let (a, c, b) = split_path("/devstoreaccount1/c1/dir/blocks%20bin%2Bx.dat").unwrap();
    assert_eq!(a, "devstoreaccount1");
    assert_eq!(c.as_deref(), Some("c1"));
    assert_eq!(b.as_deref(), Some("dir/blocks bin+x.dat"));
    let (_, c, b) = split_path("/devstoreaccount1/c1/a%2Fb+c").unwrap();
    assert_eq!((c.as_deref(), b.as_deref()), (Some("c1"), Some("a/b+c")));
    let (_, c, b) = split_path("/devstoreaccount1/").unwrap();
    assert_eq!((c, b), (None, None));
    let (_, c, b) = split_path("/devstoreaccount1").unwrap();
    assert_eq!((c, b), (None, None));
    let (_, _, b) = split_path("/devstoreaccount1/c1/%2e%2e").unwrap();
    assert_eq!(b.as_deref(), Some(".."));
    assert!(split_path("/devstoreaccount1/c1/%ff").is_err());
}

#[test]
fn markers_round_trip() {
    let m = encode_marker("dir/a b+c");
    assert_eq!(
        decode_marker(Some(&m)).unwrap().as_deref(),
        Some("dir/a b+c")
    );
    assert_eq!(
        decode_marker(Some("!!")).unwrap_err().code,
        "InvalidQueryParameterValue"
    );
    assert_eq!(decode_marker(Some("")).unwrap(), None);
}

#[test]
fn max_results_bounds() {
    assert_eq!(max_results(None).unwrap(), 5000);
    assert_eq!(max_results(Some("7")).unwrap(), 7);
    assert_eq!(max_results(Some("99999")).unwrap(), 5000);
    assert_eq!(max_results(Some("0")).unwrap_err().code, "OutOfRangeInput");
    assert_eq!(
        max_results(Some("x")).unwrap_err().code,
        "InvalidQueryParameterValue"
    );
}

#[test]
fn metadata_rules() {
    let mut h = HeaderMap::new();
    h.insert("x-ms-meta-good_1", HeaderValue::from_static("v"));
    assert_eq!(
        metadata(&h).unwrap(),
        vec![("good_1".to_string(), "v".to_string())]
    );
    h.insert("x-ms-meta-1bad", HeaderValue::from_static("v"));
    assert_eq!(metadata(&h).unwrap_err().code, "InvalidMetadata");
    let mut h = HeaderMap::new();
    h.insert(
        "x-ms-meta-big",
        HeaderValue::from_str(&"x".repeat(9000)).unwrap(),
    );
    assert_eq!(metadata(&h).unwrap_err().code, "MetadataTooLarge");
}

fn rec(etag: &str, modified: DateTime<Utc>) -> BlobRec {
    BlobRec {
        created: modified,
        modified,
        etag: etag.into(),
        size: 0,
        props: BlobProps::default(),
        metadata: vec![],
        segments: vec![],
    }
}

#[test]
fn conditional_headers() {
    let t = parse_http_date("Tue, 24 Nov 2026 14:44:20 GMT").unwrap();
    let r = rec("\"0x1\"", t);
    let c = |k: &str, v: &str| {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
        Conditions::from_headers(&h)
    };
    assert!(c("if-match", "\"0x1\"").check_read(&r.etag, t).is_ok());
    assert_eq!(
        c("if-match", "\"0x2\"")
            .check_read(&r.etag, t)
            .unwrap_err()
            .status,
        412
    );
    assert_eq!(
        c("if-none-match", "\"0x1\"")
            .check_read(&r.etag, t)
            .unwrap_err()
            .status,
        304
    );
    assert_eq!(
        c("if-none-match", "*")
            .check_write(Some(&r), true)
            .unwrap_err()
            .code,
        "BlobAlreadyExists"
    );
    assert_eq!(
        c("if-none-match", "*")
            .check_write(Some(&r), false)
            .unwrap_err()
            .status,
        412
    );
    assert!(c("if-none-match", "*").check_write(None, true).is_ok());
    assert_eq!(
        c("if-match", "*")
            .check_write(None, true)
            .unwrap_err()
            .status,
        412
    );
    let before = "Tue, 24 Nov 2026 14:44:19 GMT";
    assert!(
        c("if-modified-since", before)
            .check_read(&r.etag, t)
            .is_ok()
    );
    assert_eq!(
        c("if-modified-since", "Tue, 24 Nov 2026 14:44:20 GMT")
            .check_read(&r.etag, t)
            .unwrap_err()
            .status,
        304
    );
    assert_eq!(
        c("if-unmodified-since", before)
            .check_write(Some(&r), false)
            .unwrap_err()
            .status,
        412
    );
    assert!(
        c("if-modified-since", "garbage")
            .check_read(&r.etag, t)
            .is_ok()
    );
}
