//! The blob emulator over HTTP, as the real binary serves it: containers, blobs, blocks,
//! ranges, listings, errors, Shared Key and SAS, hostile names, and durability across kill -9.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use batchdeck::azure::auth::{
    RequestParts, SasFields, Service, SharedKeyCredential, http_date, sign_service_sas,
};
use chrono::{Duration, Utc};
use common::{EmulatorProcess, STORAGE_ACCOUNT, STORAGE_KEY};
use reqwest::Method;

const VERSION: &str = "2026-10-06";

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an Azure error: status, `x-ms-error-code` and the XML body's code.
    fn assert_error(&self, status: u16, code: &str) {
        let text = self.text();
        assert_eq!(self.status, status, "{text}");
        assert_eq!(self.header("x-ms-error-code"), Some(code), "{text}");
        assert!(
            text.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><Error><Code>"#),
            "{text}"
        );
        assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
        assert!(text.contains("\nRequestId:"), "{text}");
    }
}

struct Client {
    /// `http://127.0.0.1:PORT`
    origin: String,
    cred: SharedKeyCredential,
    http: reqwest::Client,
}

impl Client {
    fn new(emu: &EmulatorProcess) -> Client {
        let origin = emu
            .blob_endpoint
            .strip_suffix(&format!("/{STORAGE_ACCOUNT}"))
            .expect("blob endpoint ends with the account")
            .to_string();
        Client {
            origin,
            cred: SharedKeyCredential::new(STORAGE_ACCOUNT, STORAGE_KEY).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn addr(&self) -> String {
        self.origin.trim_start_matches("http://").to_string()
    }

    /// A Shared Key request. `path` is below the account, raw (already percent-encoded).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        self.send_dated(method, path, query, headers, body, Utc::now(), None)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_dated(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        date: chrono::DateTime<Utc>,
        forge: Option<&str>,
    ) -> Resp {
        let raw_path = format!("/{STORAGE_ACCOUNT}/{path}");
        let date = http_date(date);
        let len = body.len().to_string();
        let mut all: Vec<(&str, &str)> = vec![("x-ms-date", &date), ("x-ms-version", VERSION)];
        all.extend_from_slice(headers);
        if !body.is_empty() {
            all.push(("content-length", &len));
        }
        let parts = RequestParts {
            method: method.as_str(),
            raw_path: &raw_path,
            raw_query: query,
            headers: all.clone(),
        };
        let auth = match forge {
            Some(f) => f.to_string(),
            None => self.cred.authorization(Service::Blob, &parts),
        };
        let mut url = format!("{}{raw_path}", self.origin);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let mut req = self
            .http
            .request(method, &url)
            .header("authorization", auth);
        for (k, v) in all.iter().filter(|(k, _)| *k != "content-length") {
            req = req.header(*k, *v);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        into_resp(req.send().await.expect("send request")).await
    }

    /// A request authorised by a SAS query only (no Authorization header).
    async fn send_sas(
        &self,
        method: Method,
        path: &str,
        query: &str,
        sas: &str,
        body: Vec<u8>,
    ) -> Resp {
        let mut url = format!("{}/{STORAGE_ACCOUNT}/{path}?", self.origin);
        if !query.is_empty() {
            url.push_str(query);
            url.push('&');
        }
        url.push_str(sas);
        let mut req = self
            .http
            .request(method, &url)
            .header("x-ms-version", VERSION);
        if !body.is_empty() {
            req = req.header("x-ms-blob-type", "BlockBlob").body(body);
        }
        into_resp(req.send().await.expect("send request")).await
    }

    async fn put_blob(&self, path: &str, body: &[u8], extra: &[(&str, &str)]) -> Resp {
        let mut h = vec![("x-ms-blob-type", "BlockBlob")];
        h.extend_from_slice(extra);
        self.send(Method::PUT, path, "", &h, body.to_vec()).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::GET, path, "", headers, vec![]).await
    }

    /// Sends bytes exactly as given (no URL normalisation), signed; returns status and raw text.
    fn raw(&self, target: &str, method: &str, extra: &[(&str, &str)]) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr()).unwrap();
        let date = http_date(Utc::now());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = vec![("x-ms-date", date.as_str()), ("x-ms-version", VERSION)];
        headers.extend_from_slice(extra);
        let auth = self.cred.authorization(
            Service::Blob,
            &RequestParts {
                method,
                raw_path: path,
                raw_query: query,
                headers: headers.clone(),
            },
        );
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: {auth}\r\n",
            self.addr()
        );
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    }
}

async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.expect("read body").to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32) as u8
                ^ seed
        })
        .collect()
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn block_list(ids: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::from(r#"<?xml version="1.0" encoding="utf-8"?><BlockList>"#);
    for (kind, id) in ids {
        s.push_str(&format!("<{kind}>{id}</{kind}>"));
    }
    s.push_str("</BlockList>");
    s.into_bytes()
}

/// Values of `<tag>` elements in order.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

#[tokio::test]
async fn containers_create_list_page_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);

    for name in ["alpha-1", "alpha-2", "alpha-3", "beta"] {
        let r = c
            .send(
                Method::PUT,
                name,
                "restype=container",
                &[("x-ms-meta-owner", "tests")],
                vec![],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(r.header("etag").is_some_and(|e| e.starts_with("\"0x")));
        assert!(r.header("last-modified").is_some());
        assert!(r.header("x-ms-request-id").is_some());
        assert_eq!(r.header("x-ms-version"), Some(VERSION));
    }
    c.send(Method::PUT, "alpha-1", "restype=container", &[], vec![])
        .await
        .assert_error(409, "ContainerAlreadyExists");
    c.send(Method::PUT, "Bad_Name", "restype=container", &[], vec![])
        .await
        .assert_error(400, "InvalidResourceName");

    let r = c
        .send(Method::GET, "alpha-2", "restype=container", &[], vec![])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ms-meta-owner"), Some("tests"));

    // Paging: two per page with the prefix, following NextMarker.
    let mut names = Vec::new();
    let mut marker = String::new();
    let mut pages = 0;
    loop {
        let q = format!("comp=list&prefix=alpha&maxresults=2&include=metadata&marker={marker}");
        let r = c.send(Method::GET, "", &q, &[], vec![]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let xml = r.text();
        assert!(
            xml.contains("<EnumerationResults ServiceEndpoint=\"http://"),
            "{xml}"
        );
        assert!(
            xml.contains("<Metadata><owner>tests</owner></Metadata>"),
            "{xml}"
        );
        names.extend(elements(&xml, "Name"));
        pages += 1;
        match elements(&xml, "NextMarker").first() {
            Some(m) if !m.is_empty() => marker = m.clone(),
            _ => break,
        }
    }
    assert_eq!(names, ["alpha-1", "alpha-2", "alpha-3"]);
    assert_eq!(pages, 2);
    let r = c
        .send(Method::GET, "", "comp=list&maxresults=0", &[], vec![])
        .await;
    r.assert_error(400, "OutOfRangeInput");

    let r = c
        .send(Method::DELETE, "alpha-2", "restype=container", &[], vec![])
        .await;
    assert_eq!(r.status, 202);
    c.send(Method::GET, "alpha-2", "restype=container", &[], vec![])
        .await
        .assert_error(404, "ContainerNotFound");
    c.send(Method::DELETE, "alpha-2", "restype=container", &[], vec![])
        .await
        .assert_error(404, "ContainerNotFound");
    let r = c
        .send(Method::GET, "", "comp=list&prefix=alpha", &[], vec![])
        .await;
    assert_eq!(elements(&r.text(), "Name"), ["alpha-1", "alpha-3"]);
}

#[tokio::test]
async fn blobs_blocks_ranges_conditions_and_listings() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    assert_eq!(
        c.send(Method::PUT, "data", "restype=container", &[], vec![])
            .await
            .status,
        201
    );

    // Put Blob with properties and metadata.
    let body = data(10, 1);
    let r = c
        .put_blob(
            "data/m.txt",
            &body,
            &[
                ("x-ms-blob-content-type", "text/plain"),
                ("x-ms-meta-color", "blue"),
                ("if-none-match", "*"),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let etag = r.header("etag").unwrap().to_string();
    let md5 = r.header("content-md5").unwrap().to_string();
    c.put_blob("data/m.txt", b"again", &[("if-none-match", "*")])
        .await
        .assert_error(409, "BlobAlreadyExists");
    c.put_blob("data/m.txt", b"again", &[("if-match", "\"0x1\"")])
        .await
        .assert_error(412, "ConditionNotMet");
    c.put_blob(
        "data/x",
        b"abc",
        &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
    )
    .await
    .assert_error(400, "Md5Mismatch");
    c.get("data/x", &[]).await.assert_error(404, "BlobNotFound");
    c.put_blob("nope/x", b"abc", &[])
        .await
        .assert_error(404, "ContainerNotFound");

    // Whole, ranged, conditional reads.
    let r = c.get("data/m.txt", &[]).await;
    assert_eq!((r.status, r.body.clone()), (200, body.clone()));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-md5"), Some(md5.as_str()));
    assert_eq!(r.header("x-ms-meta-color"), Some("blue"));
    assert_eq!(r.header("x-ms-blob-type"), Some("BlockBlob"));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = c.get("data/m.txt", &[("x-ms-range", "bytes=2-4")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &body[2..5]));
    assert_eq!(r.header("content-range"), Some("bytes 2-4/10"));
    let r = c.get("data/m.txt", &[("range", "bytes=7-")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &body[7..]));
    let r = c.get("data/m.txt", &[("x-ms-range", "bytes=5-100")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &body[5..]));
    let r = c.get("data/m.txt", &[("x-ms-range", "bytes=10-")]).await;
    r.assert_error(416, "InvalidRange");
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    let r = c
        .get("data/m.txt", &[("if-none-match", etag.as_str())])
        .await;
    assert_eq!((r.status, r.body.len()), (304, 0));
    c.get("data/m.txt", &[("if-match", "\"0x2\"")])
        .await
        .assert_error(412, "ConditionNotMet");
    let r = c.send(Method::HEAD, "data/m.txt", "", &[], vec![]).await;
    assert_eq!((r.status, r.header("content-length")), (200, Some("10")));

    // Blocks: staged in parallel, committed out of order, one reused on a second commit.
    let blocks: Vec<(String, Vec<u8>)> = (0..8u8)
        .map(|i| (b64(&format!("block-{i:04}")), data(100_000 + i as usize, i)))
        .collect();
    let mut staged = Vec::new();
    for (id, bytes) in &blocks {
        let q = format!("comp=block&blockid={}", id.replace('=', "%3D"));
        let path = "data/dir/big%20one%2Bplus.bin".to_string();
        let bytes = bytes.clone();
        let c2 = Client {
            origin: c.origin.clone(),
            cred: c.cred.clone(),
            http: c.http.clone(),
        };
        staged.push(tokio::spawn(async move {
            c2.send(Method::PUT, &path, &q, &[], bytes).await.status
        }));
    }
    for s in staged {
        assert_eq!(s.await.unwrap(), 201);
    }
    let order = [3usize, 0, 1, 2, 7, 6, 5, 4];
    let list: Vec<(&str, &str)> = order
        .iter()
        .map(|&i| ("Latest", blocks[i].0.as_str()))
        .collect();
    let r = c
        .send(
            Method::PUT,
            "data/dir/big%20one%2Bplus.bin",
            "comp=blocklist",
            &[("x-ms-meta-kind", "blocks")],
            block_list(&list),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let expected: Vec<u8> = order.iter().flat_map(|&i| blocks[i].1.clone()).collect();
    let r = c.get("data/dir/big%20one%2Bplus.bin", &[]).await;
    assert!(r.body == expected, "committed content differs");
    let r = c
        .get(
            "data/dir/big%20one%2Bplus.bin",
            &[("x-ms-range", "bytes=99990-300010")],
        )
        .await;
    assert!(r.body[..] == expected[99_990..=300_010]);
    let r = c
        .send(
            Method::GET,
            "data/dir/big%20one%2Bplus.bin",
            "comp=blocklist&blocklisttype=all",
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(elements(&r.text(), "Name").len(), 8);
    assert!(r.text().contains("<UncommittedBlocks></UncommittedBlocks>"));
    // A block that was never staged.
    c.send(
        Method::PUT,
        "data/dir/big%20one%2Bplus.bin",
        "comp=blocklist",
        &[],
        block_list(&[("Uncommitted", &b64("block-9999"))]),
    )
    .await
    .assert_error(400, "InvalidBlockList");
    // Keep two committed blocks.
    let keep = block_list(&[("Committed", &blocks[1].0), ("Latest", &blocks[0].0)]);
    assert_eq!(
        c.send(
            Method::PUT,
            "data/dir/big%20one%2Bplus.bin",
            "comp=blocklist",
            &[],
            keep
        )
        .await
        .status,
        201
    );
    let r = c.get("data/dir/big%20one%2Bplus.bin", &[]).await;
    assert!(r.body == [blocks[1].1.clone(), blocks[0].1.clone()].concat());
    c.send(
        Method::PUT,
        "data/b",
        "comp=block&blockid=not*base64",
        &[],
        b"x".to_vec(),
    )
    .await
    .assert_error(400, "InvalidQueryParameterValue");
    // A block's Content-MD5: checked and returned when sent, neither when not (as the
    // service does since 2019-02-02).
    let (id, bytes) = (b64("block-md5"), data(70_000, 9));
    let q = format!("comp=block&blockid={}", id.replace('=', "%3D"));
    let md5 = {
        use base64::Engine as _;
        use md5::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&bytes))
    };
    let r = c
        .send(
            Method::PUT,
            "data/b",
            &q,
            &[("content-md5", &md5)],
            bytes.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.header("content-md5")),
        (201, Some(md5.as_str()))
    );
    c.send(
        Method::PUT,
        "data/b",
        &q,
        &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")],
        bytes.clone(),
    )
    .await
    .assert_error(400, "Md5Mismatch");
    let r = c.send(Method::PUT, "data/b", &q, &[], bytes).await;
    assert_eq!((r.status, r.header("content-md5")), (201, None));

    // Listings: prefix, delimiter, paging.
    for i in 0..5 {
        assert_eq!(
            c.put_blob(&format!("data/page/{i:02}"), &data(3, i), &[])
                .await
                .status,
            201
        );
    }
    let r = c
        .send(
            Method::GET,
            "data",
            "restype=container&comp=list&delimiter=/",
            &[],
            vec![],
        )
        .await;
    let xml = r.text();
    assert!(xml.contains(r#"ContainerName="data""#), "{xml}");
    assert!(
        xml.contains("<BlobPrefix><Name>dir/</Name></BlobPrefix>"),
        "{xml}"
    );
    assert!(
        xml.contains("<BlobPrefix><Name>page/</Name></BlobPrefix>"),
        "{xml}"
    );
    assert!(
        xml.contains("<Name>m.txt</Name><Properties><Creation-Time>"),
        "{xml}"
    );
    for prop in [
        "Content-Length>10<",
        "BlobType>BlockBlob<",
        "LeaseState>available<",
        "ServerEncrypted>true<",
        "Content-Type>text/plain<",
    ] {
        assert!(xml.contains(prop), "{prop} in {xml}");
    }
    let mut names = Vec::new();
    let mut marker = String::new();
    for _ in 0..10 {
        let q = format!("restype=container&comp=list&prefix=page/&maxresults=2&marker={marker}");
        let xml = c.send(Method::GET, "data", &q, &[], vec![]).await.text();
        names.extend(elements(&xml, "Name"));
        match elements(&xml, "NextMarker").first() {
            Some(m) if !m.is_empty() => marker = m.clone(),
            _ => break,
        }
    }
    assert_eq!(
        names,
        ["page/00", "page/01", "page/02", "page/03", "page/04"]
    );

    // Delete.
    assert_eq!(
        c.send(Method::DELETE, "data/m.txt", "", &[], vec![])
            .await
            .status,
        202
    );
    c.get("data/m.txt", &[])
        .await
        .assert_error(404, "BlobNotFound");
    c.send(Method::DELETE, "data/m.txt", "", &[], vec![])
        .await
        .assert_error(404, "BlobNotFound");
}

#[tokio::test]
async fn shared_key_and_sas_are_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    for name in ["sas-a", "sas-b"] {
        assert_eq!(
            c.send(Method::PUT, name, "restype=container", &[], vec![])
                .await
                .status,
            201
        );
    }
    assert_eq!(c.put_blob("sas-a/f.txt", b"hello", &[]).await.status, 201);

    // Forged signature, no auth at all, stale date, another account.
    let forged =
        format!("SharedKey {STORAGE_ACCOUNT}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let r = c
        .send_dated(
            Method::GET,
            "sas-a/f.txt",
            "",
            &[],
            vec![],
            Utc::now(),
            Some(&forged),
        )
        .await;
    r.assert_error(403, "AuthenticationFailed");
    assert!(
        r.text().contains("<AuthenticationErrorDetail>"),
        "{}",
        r.text()
    );
    let r = into_resp(
        c.http
            .get(format!("{}/{STORAGE_ACCOUNT}/sas-a/f.txt", c.origin))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // No anonymous access: a request without Authorization or SAS is refused like a bad one.
    r.assert_error(403, "AuthenticationFailed");
    let r = c
        .send_dated(
            Method::GET,
            "sas-a/f.txt",
            "",
            &[],
            vec![],
            Utc::now() - Duration::minutes(20),
            None,
        )
        .await;
    r.assert_error(403, "AuthenticationFailed");
    assert!(
        r.text().contains("Request date header too old"),
        "{}",
        r.text()
    );
    let r = into_resp(
        c.http
            .get(format!("{}/otheraccount/sas-a/f.txt", c.origin))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403);

    // A read-only blob SAS reads but cannot write.
    let later = Utc::now() + Duration::hours(1);
    let ro =
        sign_service_sas(&c.cred, "sas-a", Some("f.txt"), "r", None, later, VERSION).to_query();
    let r = c
        .send_sas(Method::GET, "sas-a/f.txt", "", &ro, vec![])
        .await;
    assert_eq!((r.status, r.body.as_slice()), (200, b"hello".as_slice()));
    c.send_sas(Method::PUT, "sas-a/f.txt", "", &ro, b"overwrite".to_vec())
        .await
        .assert_error(403, "AuthorizationPermissionMismatch");
    // The blob SAS does not cover another blob.
    c.send_sas(Method::GET, "sas-a/g.txt", "", &ro, vec![])
        .await
        .assert_error(403, "AuthenticationFailed");
    // Expired.
    let expired = sign_service_sas(
        &c.cred,
        "sas-a",
        None,
        "rl",
        None,
        Utc::now() - Duration::minutes(1),
        VERSION,
    )
    .to_query();
    c.send_sas(Method::GET, "sas-a/f.txt", "", &expired, vec![])
        .await
        .assert_error(403, "AuthenticationFailed");
    // A container SAS works on its container only.
    let cs = sign_service_sas(&c.cred, "sas-a", None, "rcwl", None, later, VERSION).to_query();
    let r = c
        .send_sas(
            Method::GET,
            "sas-a",
            "restype=container&comp=list",
            &cs,
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(elements(&r.text(), "Name"), ["f.txt"]);
    assert_eq!(
        c.send_sas(Method::PUT, "sas-a/new.txt", "", &cs, b"new".to_vec())
            .await
            .status,
        201
    );
    c.send_sas(
        Method::GET,
        "sas-b",
        "restype=container&comp=list",
        &cs,
        vec![],
    )
    .await
    .assert_error(403, "AuthenticationFailed");
    c.send_sas(Method::DELETE, "sas-a/new.txt", "", &cs, vec![])
        .await
        .assert_error(403, "AuthorizationPermissionMismatch");
    // Create-only: `c` without `w` may not overwrite.
    let create_only =
        sign_service_sas(&c.cred, "sas-a", None, "c", None, later, VERSION).to_query();
    assert_eq!(
        c.send_sas(
            Method::PUT,
            "sas-a/c-only.txt",
            "",
            &create_only,
            b"1".to_vec()
        )
        .await
        .status,
        201
    );
    c.send_sas(
        Method::PUT,
        "sas-a/c-only.txt",
        "",
        &create_only,
        b"2".to_vec(),
    )
    .await
    .assert_error(403, "AuthorizationPermissionMismatch");
    // A SAS that is only valid over HTTPS is refused over HTTP; one bound to another IP too.
    let mut https_only = SasFields {
        version: VERSION.into(),
        services: "b".into(),
        resource_types: "sco".into(),
        permissions: "rl".into(),
        expiry: batchdeck::azure::auth::sas_time(later),
        protocol: Some("https".into()),
        ..SasFields::default()
    };
    https_only.signature = c
        .cred
        .sign(&https_only.account_string_to_sign(STORAGE_ACCOUNT));
    c.send_sas(
        Method::GET,
        "sas-a/f.txt",
        "",
        &https_only.to_query(),
        vec![],
    )
    .await
    .assert_error(403, "AuthorizationProtocolMismatch");
    let mut other_ip = https_only.clone();
    other_ip.protocol = None;
    other_ip.ip = Some("10.1.2.3".into());
    other_ip.signature = c
        .cred
        .sign(&other_ip.account_string_to_sign(STORAGE_ACCOUNT));
    c.send_sas(Method::GET, "sas-a/f.txt", "", &other_ip.to_query(), vec![])
        .await
        .assert_error(403, "AuthorizationSourceIPMismatch");
    let mut local_ip = other_ip.clone();
    local_ip.ip = Some("127.0.0.0-127.255.255.255".into());
    local_ip.signature = c
        .cred
        .sign(&local_ip.account_string_to_sign(STORAGE_ACCOUNT));
    assert_eq!(
        c.send_sas(Method::GET, "sas-a/f.txt", "", &local_ip.to_query(), vec![])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn hostile_names_and_oversized_bodies_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    assert_eq!(
        c.send(Method::PUT, "names", "restype=container", &[], vec![])
            .await
            .status,
        201
    );
    let acct = STORAGE_ACCOUNT;
    for target in [
        format!("/{acct}/names/a/../b"),
        format!("/{acct}/names/.."),
        format!("/{acct}/names/%2e%2e"),
        format!("/{acct}/names/a%2F..%2Fb"),
        format!("/{acct}/names/./x"),
        format!("/{acct}/names/a%5Cb"),
        format!("/{acct}/names/a%00b"),
    ] {
        let (status, text) = c.raw(
            &target,
            "PUT",
            &[("x-ms-blob-type", "BlockBlob"), ("content-length", "0")],
        );
        assert_eq!(status, 400, "{target}: {text}");
        assert!(
            text.contains("<Code>InvalidResourceName</Code>"),
            "{target}: {text}"
        );
    }
    let (status, text) = c.raw(
        &format!("/{acct}/..%2Fescape?restype=container"),
        "PUT",
        &[("content-length", "0")],
    );
    assert_eq!(status, 400, "{text}");
    // Nothing was created, in the index or beside the data directory.
    let r = c
        .send(
            Method::GET,
            "names",
            "restype=container&comp=list",
            &[],
            vec![],
        )
        .await;
    assert!(elements(&r.text(), "Name").is_empty(), "{}", r.text());
    assert!(!tmp.path().join("b").exists() && !tmp.path().join("escape").exists());
    // A body announced larger than the emulator's cap is refused before it is read.
    let (status, text) = c.raw(
        &format!("/{acct}/names/huge"),
        "PUT",
        &[
            ("x-ms-blob-type", "BlockBlob"),
            ("content-length", "300000000"),
        ],
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("<Code>RequestBodyTooLarge</Code>"), "{text}");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let mut emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    assert_eq!(
        c.send(
            Method::PUT,
            "keep",
            "restype=container",
            &[("x-ms-meta-a", "1")],
            vec![]
        )
        .await
        .status,
        201
    );
    let mut expected: Vec<(String, Vec<u8>, String)> = Vec::new();
    for i in 0..20u8 {
        let name = format!("keep/file-{i:02}.bin");
        let body = data(1000 * (i as usize + 1), i);
        let r = c
            .put_blob(&name, &body, &[("x-ms-meta-n", &i.to_string())])
            .await;
        assert_eq!(r.status, 201);
        expected.push((name, body, r.header("etag").unwrap().to_string()));
    }
    // Overwrite one; the first version must not come back.
    let newer = data(777, 99);
    let r = c.put_blob("keep/file-00.bin", &newer, &[]).await;
    expected[0] = (
        "keep/file-00.bin".into(),
        newer,
        r.header("etag").unwrap().to_string(),
    );
    // A multi-block blob, plus an uncommitted block on another blob.
    let (b1, b2) = (data(300_000, 7), data(123_457, 8));
    for (id, bytes) in [("YQ==", &b1), ("Yg==", &b2)] {
        let q = format!("comp=block&blockid={}", id.replace('=', "%3D"));
        assert_eq!(
            c.send(Method::PUT, "keep/blocks", &q, &[], bytes.clone())
                .await
                .status,
            201
        );
    }
    let r = c
        .send(
            Method::PUT,
            "keep/blocks",
            "comp=blocklist",
            &[],
            block_list(&[("Latest", "YQ=="), ("Latest", "Yg==")]),
        )
        .await;
    assert_eq!(r.status, 201);
    expected.push((
        "keep/blocks".into(),
        [b1, b2].concat(),
        r.header("etag").unwrap().to_string(),
    ));
    assert_eq!(
        c.send(
            Method::PUT,
            "keep/staged",
            "comp=block&blockid=Yw%3D%3D",
            &[],
            b"staged".to_vec()
        )
        .await
        .status,
        201
    );
    // A deleted blob stays deleted.
    assert_eq!(c.put_blob("keep/gone", b"x", &[]).await.status, 201);
    assert_eq!(
        c.send(Method::DELETE, "keep/gone", "", &[], vec![])
            .await
            .status,
        202
    );

    emu.kill9();
    let emu2 = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu2);
    let r = c
        .send(Method::GET, "keep", "restype=container", &[], vec![])
        .await;
    assert_eq!((r.status, r.header("x-ms-meta-a")), (200, Some("1")));
    for (name, body, etag) in &expected {
        let r = c.get(name, &[]).await;
        assert_eq!(r.status, 200, "{name}");
        assert!(&r.body == body, "{name} differs after restart");
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{name}");
    }
    assert_eq!(
        c.get("keep/file-05.bin", &[]).await.header("x-ms-meta-n"),
        Some("5")
    );
    c.get("keep/gone", &[])
        .await
        .assert_error(404, "BlobNotFound");
    let r = c
        .send(
            Method::GET,
            "keep/staged",
            "comp=blocklist&blocklisttype=uncommitted",
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(elements(&r.text(), "Name"), ["Yw=="]);
    let r = c
        .send(
            Method::PUT,
            "keep/staged",
            "comp=blocklist",
            &[],
            block_list(&[("Uncommitted", "Yw==")]),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(c.get("keep/staged", &[]).await.body, b"staged");
    let xml = c
        .send(
            Method::GET,
            "keep",
            "restype=container&comp=list",
            &[],
            vec![],
        )
        .await
        .text();
    assert_eq!(elements(&xml, "Name").len(), 22, "{xml}");
}

/// XML escaping of listings: names and a prefix holding `& < > " '` reach batchdeck's client
/// (azure_storage_blob's XML reader) as they were written.
#[tokio::test]
async fn listed_names_with_xml_specials_come_back_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let client = batchdeck::azure::storage::StorageClient::new(
        url::Url::parse(&emu.blob_endpoint).unwrap(),
        SharedKeyCredential::new(STORAGE_ACCOUNT, STORAGE_KEY).unwrap(),
    )
    .unwrap();
    client.create_container("specials").await.unwrap();
    let names = ["q/a&b<c>\"d'e.txt", "q/a&b<c>/x&amp;y.txt", "q/a&lt;b.txt"];
    let file = tmp.path().join("body.txt");
    std::fs::write(&file, b"x").unwrap();
    for n in names {
        client
            .upload_file("specials", n, &file, |_| {})
            .await
            .unwrap_or_else(|e| panic!("upload {n}: {e}"));
    }
    let mut listed: Vec<String> = client
        .list_blobs("specials", None)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    listed.sort();
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(listed, want);
    let under: Vec<String> = client
        .list_blobs("specials", Some("q/a&b<c>"))
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(under.len(), 2, "{under:?}");
    assert!(under.iter().all(|n| n.starts_with("q/a&b<c>")), "{under:?}");
}

/// A Put Blob is answered with the Content-MD5 and the CRC64 the service computed, whether the
/// request carried a checksum or not (values of a recorded real response to a request that
/// carried neither), and the MD5 is the blob's Content-MD5 from the acknowledgement on.
#[tokio::test]
async fn a_put_blob_is_answered_with_its_md5_and_crc64_as_the_service_does() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    assert_eq!(
        c.send(Method::PUT, "sums", "restype=container", &[], vec![])
            .await
            .status,
        201
    );
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/recorded/put_blob_checksums.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for (i, put) in recorded.as_array().unwrap().iter().enumerate() {
        let body = put["body"].as_str().unwrap().as_bytes();
        let (md5, crc64) = (
            put["content_md5"].as_str().unwrap(),
            put["x_ms_content_crc64"].as_str().unwrap(),
        );
        let path = format!("sums/b{i}");
        let r = c.put_blob(&path, body, &[]).await;
        assert_eq!(
            (
                r.status,
                r.header("content-md5"),
                r.header("x-ms-content-crc64")
            ),
            (201, Some(md5), Some(crc64)),
            "{}",
            r.text()
        );
        // Sent with either checksum, the same answer.
        for sent in [("content-md5", md5), ("x-ms-content-crc64", crc64)] {
            let r = c.put_blob(&path, body, &[sent]).await;
            assert_eq!(
                (
                    r.status,
                    r.header("content-md5"),
                    r.header("x-ms-content-crc64")
                ),
                (201, Some(md5), Some(crc64)),
                "sent {sent:?}"
            );
        }
        let r = c.send(Method::HEAD, &path, "", &[], vec![]).await;
        assert_eq!((r.status, r.header("content-md5")), (200, Some(md5)));
    }
}

/// Put Blobs in flight at once are hashed together (in SIMD lanes): each is answered with the
/// MD5 of its own body, whatever its size, before the answer is sent; a Content-MD5 the client
/// sent is still checked (400 Md5Mismatch) and the blob is not written; its Put Block's MD5 too.
#[tokio::test]
async fn put_blobs_in_flight_together_each_get_the_md5_of_their_own_body() {
    use base64::Engine as _;
    use md5::Digest as _;
    let md5 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b));
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    assert_eq!(
        c.send(Method::PUT, "many", "restype=container", &[], vec![])
            .await
            .status,
        201
    );
    let wrong = md5(b"not the body");
    for round in 0..2u8 {
        // Sizes around a block (64 bytes) and up to a few MiB, 20 in flight: more than a
        // group of lanes, some of them with a Content-MD5 of their own, right or wrong.
        let bodies: Vec<Vec<u8>> = (0..20usize)
            .map(|i| {
                let n = [0, 1, 63, 64, 65, 4095, 70_001, 1 << 20, 3 << 20, 4 << 20][i % 10];
                data(n + i * 7, i as u8 ^ round)
            })
            .collect();
        let sent: Vec<Option<String>> = (0..bodies.len())
            .map(|i| match i % 4 {
                1 => Some(md5(&bodies[i])),
                3 => Some(wrong.clone()),
                _ => None,
            })
            .collect();
        let puts = bodies.iter().zip(&sent).enumerate().map(|(i, (b, sent))| {
            let c = &c;
            async move {
                let headers: Vec<(&str, &str)> =
                    sent.iter().map(|m| ("content-md5", m.as_str())).collect();
                c.put_blob(&format!("many/r{round}-{i}"), b, &headers).await
            }
        });
        let answers = futures::future::join_all(puts).await;
        for (i, r) in answers.iter().enumerate() {
            if sent[i].as_deref() == Some(wrong.as_str()) {
                r.assert_error(400, "Md5Mismatch");
                let path = format!("many/r{round}-{i}");
                let got = c.send(Method::HEAD, &path, "", &[], vec![]).await;
                assert_eq!(got.status, 404, "blob {i} was not written");
            } else {
                assert_eq!(
                    (r.status, r.header("content-md5")),
                    (201, Some(md5(&bodies[i]).as_str())),
                    "blob {i} of {} bytes: {}",
                    bodies[i].len(),
                    r.text()
                );
            }
        }
    }
    // A Put Block sent with its MD5 is checked by the same hashing.
    let q = format!("comp=block&blockid={}", b64("b1").replace('=', "%3D"));
    let body = data(1 << 20, 5);
    let r = c
        .send(
            Method::PUT,
            "many/blocks",
            &q,
            &[("content-md5", &wrong)],
            body.clone(),
        )
        .await;
    r.assert_error(400, "Md5Mismatch");
    let right = md5(&body);
    let r = c
        .send(
            Method::PUT,
            "many/blocks",
            &q,
            &[("content-md5", &right)],
            body,
        )
        .await;
    assert_eq!(
        (r.status, r.header("content-md5")),
        (201, Some(right.as_str()))
    );
}

/// `x-ms-content-crc64` as the service handles it: checked on Put Block and Put Blob (400
/// Crc64Mismatch, with the body Azure sends), a Put Block's computed and returned when no
/// Content-MD5 was sent, and a range's returned for `x-ms-range-get-content-crc64`.
#[tokio::test]
async fn crc64_is_checked_on_upload_and_returned_on_ranged_reads() {
    use batchdeck::azure::crc64::{checksum, to_header};
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    assert_eq!(
        c.send(Method::PUT, "crc", "restype=container", &[], vec![])
            .await
            .status,
        201
    );
    let block_q = |id: &str| format!("comp=block&blockid={}", b64(id).replace('=', "%3D"));

    // The recorded Put Block: "Hello World!" sent with a CRC64 of other bytes.
    let r = c
        .send(
            Method::PUT,
            "crc/b",
            &block_q("block-1"),
            &[("x-ms-content-crc64", "AQIDBAUGBwg=")],
            b"Hello World!".to_vec(),
        )
        .await;
    r.assert_error(400, "Crc64Mismatch");
    let recorded = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/recorded/storage_error_crc64_mismatch.xml"),
    )
    .unwrap();
    let text = r.text();
    for tag in ["UserSpecifiedCrc", "ServerCalculatedCrc"] {
        assert_eq!(elements(&text, tag), elements(&recorded, tag), "{text}");
    }
    let first_line = |x: &str| {
        elements(x, "Message")[0]
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(first_line(&text), first_line(&recorded));
    let r = c
        .send(
            Method::GET,
            "crc/b",
            "comp=blocklist&blocklisttype=all",
            &[],
            vec![],
        )
        .await;
    assert!(
        !r.text().contains("<Block>"),
        "a refused block is not staged: {}",
        r.text()
    );

    // Without Content-MD5, a block's CRC64 is computed, checked and returned.
    let bytes = data(70_000, 3);
    let crc = to_header(checksum(&bytes));
    let r = c
        .send(
            Method::PUT,
            "crc/b",
            &block_q("block-2"),
            &[("x-ms-content-crc64", &crc)],
            bytes.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.header("x-ms-content-crc64")),
        (201, Some(crc.as_str())),
        "{}",
        r.text()
    );
    let r = c
        .send(
            Method::PUT,
            "crc/b",
            &block_q("block-3"),
            &[],
            bytes.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.header("x-ms-content-crc64")),
        (201, Some(crc.as_str()))
    );
    c.send(
        Method::PUT,
        "crc/b",
        &block_q("block-4"),
        &[
            ("x-ms-content-crc64", &crc),
            ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ],
        bytes.clone(),
    )
    .await
    .assert_error(400, "BothCrc64AndMd5HeaderPresent");

    // Put Blob: checked, and answered with the CRC64 it computed.
    let blob = data(5 * 1024 * 1024 + 7, 4);
    let blob_crc = to_header(checksum(&blob));
    let r = c
        .put_blob("crc/whole", &blob, &[("x-ms-content-crc64", &blob_crc)])
        .await;
    assert_eq!(
        (r.status, r.header("x-ms-content-crc64")),
        (201, Some(blob_crc.as_str()))
    );
    c.put_blob("crc/bad", &blob, &[("x-ms-content-crc64", &crc)])
        .await
        .assert_error(400, "Crc64Mismatch");
    c.get("crc/bad", &[])
        .await
        .assert_error(404, "BlobNotFound");

    // Ranged reads: the range's CRC64 when asked, for ranges of at most 4 MiB.
    let r = c
        .get(
            "crc/whole",
            &[
                ("x-ms-range", "bytes=1000-1999"),
                ("x-ms-range-get-content-crc64", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("x-ms-content-crc64"),
        Some(to_header(checksum(&blob[1000..2000])).as_str())
    );
    assert_eq!(r.body, blob[1000..2000]);
    let r = c
        .get("crc/whole", &[("x-ms-range", "bytes=1000-1999")])
        .await;
    assert_eq!(r.header("x-ms-content-crc64"), None, "only when asked");
    c.get(
        "crc/whole",
        &[
            ("x-ms-range", "bytes=0-4194304"),
            ("x-ms-range-get-content-crc64", "true"),
        ],
    )
    .await
    .assert_error(400, "OutOfRangeInput");
    c.get(
        "crc/whole",
        &[
            ("x-ms-range", "bytes=0-9"),
            ("x-ms-range-get-content-crc64", "true"),
            ("x-ms-range-get-content-md5", "true"),
        ],
    )
    .await
    .assert_error(400, "InvalidHeaderValue");
}
