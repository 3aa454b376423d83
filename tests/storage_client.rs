//! batchdeck's blob client (`azure::storage`) against real blob services: Azurite (Microsoft's
//! storage emulator, installed by `scripts/install-azurite`) and batchdeck's own emulator,
//! plus a scripted server that checks retries and per-attempt signing.
//!
//! Every scenario runs once per backend (`mod azurite` and `mod emulator` below).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::azure::retry::RetryPolicy;
use batchdeck::azure::storage::{
    AuthKind, ContainerCreated, ContainerDeleted, SasPermissions, StorageClient, StorageError,
    TransferChecksum, TransferOptions, UploadProgress,
};
use url::Url;

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Backends

enum Server {
    Azurite(common::azurite::Azurite),
    Emulator {
        process: common::EmulatorProcess,
        _dir: tempfile::TempDir,
    },
}

/// A running blob service and a key client for it.
struct Backend {
    server: Server,
}

impl Backend {
    fn azurite() -> Backend {
        Backend {
            server: Server::Azurite(common::azurite::Azurite::start()),
        }
    }

    fn emulator() -> Backend {
        let dir = tempfile::tempdir().expect("tempdir");
        let emu = common::EmulatorProcess::start(dir.path(), &[]);
        Backend {
            server: Server::Emulator {
                process: emu,
                _dir: dir,
            },
        }
    }

    fn endpoint(&self) -> &str {
        match &self.server {
            Server::Azurite(a) => &a.endpoint,
            Server::Emulator { process, .. } => &process.blob_endpoint,
        }
    }

    fn client_with_key(&self, key: &str) -> StorageClient {
        let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, key).expect("key");
        StorageClient::new(Url::parse(self.endpoint()).expect("endpoint"), cred)
            .expect("client")
            .with_retry_policy(fast_retries())
            .with_transfer_options(small_transfers())
            .expect("transfer options")
    }

    fn client(&self) -> StorageClient {
        self.client_with_key(common::STORAGE_KEY)
    }

    /// Whether Get Blob answers `x-ms-range-get-content-crc64` with the range's CRC64, as
    /// Azure does (Azurite 3.37 does not).
    fn returns_range_crc64(&self) -> bool {
        match self.server {
            Server::Azurite(_) => false,
            Server::Emulator { .. } => true,
        }
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 3,
        max_connect_attempts: 3,
        max_retry_after: Duration::from_secs(5),
    }
}

/// 4 MiB blocks so that a 20 MiB file needs several; two-item listing pages so that listings
/// must follow NextMarker.
fn small_transfers() -> TransferOptions {
    TransferOptions {
        block_size: 4 * MIB,
        max_single_put: 4 * MIB,
        parallel: 4,
        list_page_size: Some(2),
        content_md5: false,
        checksum: TransferChecksum::Auto,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Deterministic, incompressible-looking bytes.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write test file");
    p
}

fn md5_b64(data: &[u8]) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Records progress callbacks.
#[derive(Clone, Default)]
struct Progress(Arc<Mutex<Vec<UploadProgress>>>);

impl Progress {
    fn callback(&self) -> impl Fn(UploadProgress) + Send + Sync + 'static {
        let v = self.0.clone();
        move |p| v.lock().expect("progress lock").push(p)
    }

    fn events(&self) -> Vec<UploadProgress> {
        self.0.lock().expect("progress lock").clone()
    }
}

fn assert_progress_complete(events: &[UploadProgress], total: u64) {
    assert!(!events.is_empty(), "no progress reported");
    assert!(events.iter().all(|e| e.bytes_total == total));
    assert!(
        events
            .windows(2)
            .all(|w| w[0].bytes_done <= w[1].bytes_done),
        "progress went backwards: {events:?}"
    );
    assert_eq!(events.last().map(|e| e.bytes_done), Some(total));
}

// ---------------------------------------------------------------------------------------------
// Scenarios (each runs against one backend)

async fn containers_are_idempotent(b: &Backend) {
    let c = b.client();
    assert_eq!(c.auth_kind(), AuthKind::SharedKey);
    assert!(!c.container_exists("idem").await.expect("exists before"));
    assert_eq!(
        c.create_container("idem").await.expect("create"),
        ContainerCreated::Created
    );
    assert_eq!(
        c.create_container("idem").await.expect("create again"),
        ContainerCreated::AlreadyExisted
    );
    assert!(c.container_exists("idem").await.expect("exists"));
    assert_eq!(
        c.delete_container("idem").await.expect("delete"),
        ContainerDeleted::Deleted
    );
    assert!(
        !c.container_exists("idem")
            .await
            .expect("exists after delete")
    );
    assert_eq!(
        c.delete_container("never-made")
            .await
            .expect("delete missing"),
        ContainerDeleted::NotFound
    );
}

async fn uploads_list_and_downloads_round_trip(b: &Backend) {
    let c = b.client();
    c.create_container("data").await.expect("create");
    let src = tempfile::tempdir().expect("tempdir");
    let small = pseudo_random(1000, 1);
    let big = pseudo_random((20 * MIB + 123) as usize, 2);
    let small_path = write_file(src.path(), "small.txt", &small);
    let big_path = write_file(src.path(), "big.bin", &big);
    let empty_path = write_file(src.path(), "empty", b"");

    let p_small = Progress::default();
    let up = c
        .upload_file("data", "small.txt", &small_path, p_small.callback())
        .await
        .expect("upload small");
    assert_eq!((up.size, up.blocks), (1000, 0));
    assert_eq!(up.md5.as_deref(), Some(md5_b64(&small).as_str()));
    assert_progress_complete(&p_small.events(), 1000);

    let p_big = Progress::default();
    let up = c
        .upload_file("data", "dir/big file.bin", &big_path, p_big.callback())
        .await
        .expect("upload big");
    assert_eq!(up.size, big.len() as u64);
    assert_eq!(up.blocks, 6, "20 MiB + 123 B in 4 MiB blocks");
    assert_eq!(up.blocks_reused, 0);
    assert_eq!(up.md5, None, "no whole-file MD5 unless asked");
    let events = p_big.events();
    assert_progress_complete(&events, big.len() as u64);
    assert!(events.len() >= 7, "one event per block: {events:?}");

    let up = c
        .upload_file("data", "empty", &empty_path, |_| {})
        .await
        .expect("upload empty");
    assert_eq!(up.size, 0);

    let mut items = c.list_blobs("data", None).await.expect("list");
    items.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["dir/big file.bin", "empty", "small.txt"]);
    assert_eq!(items[0].size, big.len() as u64);
    assert_eq!(items[0].content_md5, None);
    assert_eq!(items[2].size, 1000);
    assert_eq!(
        items[2].content_md5.as_deref(),
        Some(md5_b64(&small).as_str())
    );
    let only_dir = c
        .list_blobs("data", Some("dir/"))
        .await
        .expect("list prefix");
    assert_eq!(only_dir.len(), 1);
    assert_eq!(only_dir[0].name, "dir/big file.bin");

    let dest = tempfile::tempdir().expect("tempdir");
    for (blob, data, file) in [
        ("small.txt", &small, "small.txt"),
        ("dir/big file.bin", &big, "big.bin"),
        ("empty", &Vec::new(), "empty"),
    ] {
        let to = dest.path().join(file);
        let got = c
            .download_to_file("data", blob, &to, false)
            .await
            .unwrap_or_else(|e| panic!("download {blob}: {e}"));
        assert_eq!(got.bytes, data.len() as u64, "{blob}");
        assert_eq!(&std::fs::read(&to).expect("read download"), data, "{blob}");
        // One Put Blob gets its Content-MD5 from the service; blocks carry CRC64s only.
        let single_put = blob != "dir/big file.bin";
        if !data.is_empty() {
            assert_eq!(got.md5_verified, single_put, "{blob}: Content-MD5 checked");
            assert_eq!(
                got.crc64_verified,
                b.returns_range_crc64(),
                "{blob}: CRC64s checked"
            );
        }
    }
    // No overwrite unless asked; with it, the file is replaced.
    let to = dest.path().join("small.txt");
    let e = c
        .download_to_file("data", "dir/big file.bin", &to, false)
        .await
        .expect_err("existing destination");
    assert!(matches!(e, StorageError::DestinationExists { .. }), "{e}");
    assert_eq!(std::fs::read(&to).expect("read"), small);
    c.download_to_file("data", "dir/big file.bin", &to, true)
        .await
        .expect("overwrite");
    assert_eq!(std::fs::read(&to).expect("read"), big);
    assert_eq!(entries(dest.path()), ["big.bin", "empty", "small.txt"]);
}

/// With `content_md5`, a file uploaded in blocks gets its MD5 as the blob's Content-MD5, which
/// listings show and downloads check.
async fn whole_file_md5_on_request(b: &Backend) {
    let c = b
        .client()
        .with_transfer_options(TransferOptions {
            content_md5: true,
            ..small_transfers()
        })
        .expect("transfer options");
    c.create_container("md5").await.expect("create");
    let src = tempfile::tempdir().expect("tempdir");
    let big = pseudo_random((9 * MIB + 5) as usize, 21);
    let path = write_file(src.path(), "big.bin", &big);
    let up = c
        .upload_file("md5", "big.bin", &path, |_| {})
        .await
        .expect("upload");
    assert_eq!(up.blocks, 3);
    assert_eq!(up.md5.as_deref(), Some(md5_b64(&big).as_str()));
    let items = c.list_blobs("md5", None).await.expect("list");
    assert_eq!(
        items[0].content_md5.as_deref(),
        Some(md5_b64(&big).as_str())
    );
    let dest = tempfile::tempdir().expect("tempdir");
    let got = c
        .download_to_file("md5", "big.bin", &dest.path().join("big.bin"), false)
        .await
        .expect("download");
    assert!(got.md5_verified);
    assert_eq!(
        std::fs::read(dest.path().join("big.bin")).expect("read"),
        big
    );
}

async fn listing_follows_next_marker(b: &Backend) {
    let c = b.client();
    c.create_container("many").await.expect("create");
    let src = tempfile::tempdir().expect("tempdir");
    let f = write_file(src.path(), "f", b"x");
    let mut want = Vec::new();
    for i in 0..7 {
        let name = format!("item-{i}");
        c.upload_file("many", &name, &f, |_| {})
            .await
            .expect("upload");
        want.push(name);
    }
    // Pages of two: seven blobs need four pages.
    let mut got: Vec<String> = c
        .list_blobs("many", None)
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.name)
        .collect();
    got.sort();
    assert_eq!(got, want);
    let e = c.list_blobs("no-such", None).await.expect_err("missing");
    assert_eq!(e.code(), Some("ContainerNotFound"), "{e}");
}

async fn failed_download_leaves_no_file(b: &Backend) {
    let c = b.client();
    c.create_container("dls").await.expect("create");
    let dest = tempfile::tempdir().expect("tempdir");
    let to = dest.path().join("out.txt");
    let e = c
        .download_to_file("dls", "missing.txt", &to, false)
        .await
        .expect_err("missing blob");
    assert_eq!(e.status(), Some(404), "{e}");
    assert_eq!(e.code(), Some("BlobNotFound"), "{e}");
    let line = e.to_string();
    assert!(
        line.contains("missing.txt") && line.contains("'dls'") && line.contains("devstoreaccount1"),
        "{line}"
    );
    assert!(
        entries(dest.path()).is_empty(),
        "{:?}",
        entries(dest.path())
    );
    let e = c
        .download_to_file("no-container", "x", &to, false)
        .await
        .expect_err("missing container");
    assert_eq!(e.code(), Some("ContainerNotFound"), "{e}");
    assert!(
        entries(dest.path()).is_empty(),
        "{:?}",
        entries(dest.path())
    );
}

async fn sas_urls_grant_exactly_their_permissions(b: &Backend) {
    let c = b.client();
    c.create_container("sas").await.expect("create");
    let src = tempfile::tempdir().expect("tempdir");
    let data = pseudo_random(5000, 3);
    let f = write_file(src.path(), "in.txt", &data);
    c.upload_file("sas", "in/a.txt", &f, |_| {})
        .await
        .expect("upload");
    let http = reqwest::Client::new();

    // Read SAS on one blob: plain HTTP GET works, a PUT does not.
    let read = c
        .blob_sas_url(
            "sas",
            "in/a.txt",
            SasPermissions::READ,
            Duration::from_secs(300),
        )
        .expect("read sas");
    assert!(
        !read.to_string().contains(
            &read
                .expose_url()
                .query_pairs()
                .find(|(k, _)| k == "sig")
                .expect("sig")
                .1
                .to_string()
        )
    );
    let r = http.get(read.expose()).send().await.expect("GET");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(r.bytes().await.expect("body").as_ref(), data.as_slice());
    let r = http
        .put(read.expose())
        .header("x-ms-blob-type", "BlockBlob")
        .body("overwrite")
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 403);

    // Write-only container SAS: PUT works; list and read do not.
    let write = c
        .container_sas_url("sas", SasPermissions::WRITE, Duration::from_secs(300))
        .expect("write sas");
    let (base, query) = write.expose().split_once('?').expect("query");
    let r = http
        .put(format!("{base}/out/put.txt?{query}"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("written with a SAS")
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = http
        .get(format!("{base}?restype=container&comp=list&{query}"))
        .send()
        .await
        .expect("list");
    assert_eq!(r.status().as_u16(), 403);
    let r = http
        .get(format!("{base}/out/put.txt?{query}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 403);

    // The same through the client: a SAS-only client can upload (single put and blocks) but
    // not list or download, and says why.
    let sas_client = StorageClient::from_sas_url(&write)
        .expect("sas client")
        .with_retry_policy(fast_retries())
        .with_transfer_options(small_transfers())
        .expect("transfer options");
    assert_eq!(sas_client.auth_kind(), AuthKind::Sas);
    assert_eq!(sas_client.sas_container(), Some("sas"));
    let big = pseudo_random((9 * MIB) as usize, 4);
    let big_path = write_file(src.path(), "big", &big);
    sas_client
        .upload_file("sas", "out/small.txt", &f, |_| {})
        .await
        .expect("SAS single put");
    let up = sas_client
        .upload_file("sas", "out/big", &big_path, |_| {})
        .await
        .expect("SAS block upload");
    assert_eq!(up.blocks, 3);
    let e = sas_client
        .list_blobs("sas", None)
        .await
        .expect_err("list with a write SAS");
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(e.to_string().contains("SAS"), "{e}");
    let dest = tempfile::tempdir().expect("tempdir");
    let e = sas_client
        .download_to_file("sas", "out/big", &dest.path().join("x"), false)
        .await
        .expect_err("read with a write SAS");
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(entries(dest.path()).is_empty());

    // What the SAS client wrote is there, whole.
    let to = dest.path().join("big");
    let got = c
        .download_to_file("sas", "out/big", &to, false)
        .await
        .expect("download");
    assert_eq!(got.crc64_verified, b.returns_range_crc64());
    assert_eq!(std::fs::read(&to).expect("read"), big);
}

async fn wrong_key_is_reported_without_the_key(b: &Backend) {
    use base64::Engine as _;
    let wrong = base64::engine::general_purpose::STANDARD.encode(pseudo_random(64, 9));
    let c = b.client_with_key(&wrong);
    let started = Instant::now();
    let e = c.create_container("nope").await.expect_err("wrong key");
    assert_eq!(e.status(), Some(403), "{e}");
    // Azure and batchdeck's emulator answer AuthenticationFailed; Azurite 3.37 answers
    // AuthorizationFailure with Azure's "Server failed to authenticate" message.
    let expected = match b.server {
        Server::Azurite(_) => "AuthorizationFailure",
        Server::Emulator { .. } => "AuthenticationFailed",
    };
    assert_eq!(e.code(), Some(expected), "{e}");
    let line = e.to_string();
    assert!(
        line.starts_with("storage account 'devstoreaccount1' rejected the key (403 "),
        "{line}"
    );
    assert!(line.contains("AZURE_STORAGE_KEY"), "{line}");
    assert!(
        !line.contains(&wrong) && !line.contains(common::STORAGE_KEY),
        "{line}"
    );
    assert!(!format!("{e:?}").contains(&wrong));
    assert!(!line.contains('\n'), "one line: {line}");
    // A 403 is final: no backoff loop.
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn interrupted_upload_resumes_with_staged_blocks(b: &Backend) {
    let c = b
        .client()
        .with_transfer_options(TransferOptions {
            parallel: 1,
            ..small_transfers()
        })
        .expect("transfer options");
    c.create_container("resume").await.expect("create");
    let src = tempfile::tempdir().expect("tempdir");
    let data = pseudo_random((20 * MIB) as usize, 5);
    let path = write_file(src.path(), "big", &data);

    // Stop the first attempt once two blocks are staged.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let first = {
        let c = c.clone();
        let path = path.clone();
        tokio::spawn(async move {
            c.upload_file("resume", "big", &path, move |p| {
                let _ = tx.send(p.bytes_done);
            })
            .await
        })
    };
    while let Some(done) = rx.recv().await {
        if done >= 8 * MIB {
            break;
        }
    }
    first.abort();
    assert!(first.await.is_err(), "the first attempt was cancelled");

    let up = c
        .upload_file("resume", "big", &path, |_| {})
        .await
        .expect("second attempt");
    assert_eq!(up.blocks, 5);
    assert!(
        up.blocks_reused >= 2,
        "staged blocks were sent again: {up:?}"
    );
    let dest = tempfile::tempdir().expect("tempdir");
    let to = dest.path().join("big");
    let got = c
        .download_to_file("resume", "big", &to, false)
        .await
        .expect("download");
    assert_eq!(got.crc64_verified, b.returns_range_crc64());
    assert_eq!(std::fs::read(&to).expect("read"), data);
}

/// Many files of mixed sizes in one `upload_files` (more than its requests in flight, so bodies
/// are read into buffers earlier files gave back, a shorter file into a longer one's): each
/// blob holds exactly its file's bytes.
async fn many_files_of_mixed_sizes_each_go_up_whole(b: &Backend) {
    let c = b.client();
    c.create_container("mixed").await.expect("create");
    let src = tempfile::tempdir().expect("tempdir");
    let sizes = [
        4 * MIB,
        1000,
        3 * MIB + 7,
        0,
        1,
        2 * MIB + 1,
        5 * MIB + 3,
        64,
    ];
    let files: Vec<(String, PathBuf, Vec<u8>)> = (0..40u64)
        .map(|i| {
            let data = pseudo_random(sizes[i as usize % sizes.len()] as usize, 100 + i);
            let name = format!("f{i:02}");
            let path = write_file(src.path(), &name, &data);
            (name, path, data)
        })
        .collect();
    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|(n, p, _)| (n.clone(), p.clone()))
        .collect();
    let done = c
        .upload_files("mixed", &named, |_, _| {}, |_| {})
        .await
        .expect("uploads");
    assert_eq!(done.len(), files.len());
    let listed = c.list_blobs("mixed", None).await.expect("list");
    let dest = tempfile::tempdir().expect("tempdir");
    for (name, _, data) in &files {
        let item = listed.iter().find(|i| &i.name == name).expect("listed");
        assert_eq!(item.size, data.len() as u64, "{name}");
        if data.len() as u64 <= small_transfers().max_single_put {
            // One Put Blob: the service's MD5 of what it received.
            assert_eq!(
                item.content_md5.as_deref(),
                Some(md5_b64(data).as_str()),
                "{name}"
            );
        } else {
            let to = dest.path().join(name);
            c.download_to_file("mixed", name, &to, false)
                .await
                .expect("download");
            assert_eq!(&std::fs::read(&to).expect("read"), data, "{name}");
        }
    }
}

macro_rules! backend_tests {
    ($backend:ident $(, #[$attr:meta])*) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn containers_are_idempotent() {
                super::containers_are_idempotent(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn uploads_list_and_downloads_round_trip() {
                super::uploads_list_and_downloads_round_trip(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn many_files_of_mixed_sizes_each_go_up_whole() {
                super::many_files_of_mixed_sizes_each_go_up_whole(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn whole_file_md5_on_request() {
                super::whole_file_md5_on_request(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn listing_follows_next_marker() {
                super::listing_follows_next_marker(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn failed_download_leaves_no_file() {
                super::failed_download_leaves_no_file(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn sas_urls_grant_exactly_their_permissions() {
                super::sas_urls_grant_exactly_their_permissions(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn wrong_key_is_reported_without_the_key() {
                super::wrong_key_is_reported_without_the_key(&Backend::$backend()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn interrupted_upload_resumes_with_staged_blocks() {
                super::interrupted_upload_resumes_with_staged_blocks(&Backend::$backend()).await;
            }
        }
    };
}

backend_tests!(azurite);
backend_tests!(emulator);

// ---------------------------------------------------------------------------------------------
// Retries and per-attempt signing, against a scripted server

/// Serves `app` on a loopback port the OS picks, until the test ends; its blob endpoint.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/devstoreaccount1")
}

/// A server that answers the first `fail_first` requests with 503 and a wait hint, then 201;
/// it records each request's headers.
async fn scripted_server(
    fail_first: usize,
    hint: (&'static str, &'static str),
) -> (String, Arc<Mutex<Vec<RecordedRequest>>>) {
    use axum::http::StatusCode;
    let seen: Arc<Mutex<Vec<RecordedRequest>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = seen2.clone();
        let count = count.clone();
        async move {
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            seen.lock().expect("lock").push(RecordedRequest {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
                query: req.uri().query().unwrap_or("").to_string(),
                headers,
                at: Instant::now(),
            });
            if count.fetch_add(1, Ordering::SeqCst) < fail_first {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [
                        (hint.0, hint.1),
                        ("x-ms-error-code", "ServerBusy"),
                        ("content-type", "application/xml"),
                    ],
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code><Message>busy</Message></Error>",
                )
            } else {
                (
                    StatusCode::CREATED,
                    [
                        ("etag", "\"0x1\""),
                        ("last-modified", "Wed, 01 Jan 2025 00:00:00 GMT"),
                        ("x-ms-version", "2026-04-06"),
                    ],
                    "",
                )
            }
        }
    });
    (serve(app).await, seen)
}

#[derive(Debug, Clone)]
struct RecordedRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    at: Instant,
}

impl RecordedRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn verifies(&self, cred: &SharedKeyCredential) -> bool {
        use batchdeck::azure::auth::{RequestParts, Service};
        let parts = RequestParts {
            method: &self.method,
            raw_path: &self.path,
            raw_query: &self.query,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        self.header("authorization")
            .is_some_and(|a| cred.verify_authorization(Service::Blob, &parts, a))
    }
}

#[tokio::test]
async fn retries_honour_retry_after_and_sign_every_attempt() {
    let (endpoint, seen) = scripted_server(2, ("x-ms-retry-after-ms", "300")).await;
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(Url::parse(&endpoint).expect("url"), cred.clone())
        .expect("client")
        .with_retry_policy(RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_attempts: 4,
            max_connect_attempts: 4,
            max_retry_after: Duration::from_secs(5),
        });
    let created = client
        .create_container("busy")
        .await
        .expect("third try succeeds");
    assert_eq!(created, ContainerCreated::Created);
    let reqs = seen.lock().expect("lock").clone();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    for (i, r) in reqs.iter().enumerate() {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path, "/devstoreaccount1/busy");
        assert!(
            r.header("x-ms-date").is_some(),
            "attempt {i} has no x-ms-date"
        );
        assert!(r.verifies(&cred), "attempt {i} is not signed correctly");
    }
    for w in reqs.windows(2) {
        let waited = w[1].at - w[0].at;
        assert!(
            waited >= Duration::from_millis(300),
            "waited {waited:?}, less than x-ms-retry-after-ms"
        );
    }
}

#[tokio::test]
async fn retries_stop_at_max_attempts_with_a_clear_error() {
    let (endpoint, seen) = scripted_server(usize::MAX, ("retry-after", "0")).await;
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(Url::parse(&endpoint).expect("url"), cred)
        .expect("client")
        .with_retry_policy(RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_attempts: 3,
            max_connect_attempts: 3,
            max_retry_after: Duration::from_secs(5),
        });
    let e = client
        .create_container("busy")
        .await
        .expect_err("always busy");
    assert_eq!(seen.lock().expect("lock").len(), 3);
    assert_eq!((e.status(), e.code()), (Some(503), Some("ServerBusy")));
    let line = e.to_string();
    assert!(
        line.contains("devstoreaccount1") && line.contains("'busy'"),
        "{line}"
    );
}

#[tokio::test]
async fn unreachable_endpoint_names_the_endpoint() {
    let (_reserved, port) = common::refused_port();
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(
        Url::parse(&format!("http://127.0.0.1:{port}/devstoreaccount1")).expect("url"),
        cred,
    )
    .expect("client")
    .with_retry_policy(RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        max_attempts: 2,
        max_connect_attempts: 2,
        max_retry_after: Duration::from_secs(1),
    });
    let e = client
        .create_container("x")
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, StorageError::Transport { .. }), "{e:?}");
    let line = e.to_string();
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
}

/// `(range, if-match)` of each GET the breaking server saw.
type SeenRanges = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// What the breaking server says of its blob's checksums.
#[derive(Clone, Copy, PartialEq)]
enum Sums {
    /// The blob has a Content-MD5 (sent as `x-ms-blob-content-md5`); no range CRC64.
    Md5,
    /// No Content-MD5; each answer to `x-ms-range-get-content-crc64` carries its CRC64.
    Crc64,
    /// As `Crc64`, but the CRC64 is that of other bytes (corruption on the way).
    WrongCrc64,
}

/// A blob server whose first download breaks off after `cut` bytes (none if `cut` is past the
/// first range); later ranged requests are served whole. Records each GET's `range` and
/// `if-match`.
async fn breaking_blob_server(data: Arc<Vec<u8>>, cut: usize, sums: Sums) -> (String, SeenRanges) {
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    let seen: SeenRanges = Arc::default();
    let seen2 = seen.clone();
    let md5 = md5_b64(&data);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = seen2.clone();
        let data = data.clone();
        let md5 = md5.clone();
        async move {
            let h = |n: &str| {
                headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let range = h("x-ms-range").or_else(|| h("range")).unwrap_or_default();
            let first = {
                let mut s = seen.lock().expect("lock");
                s.push((range.clone(), h("if-match")));
                s.len() == 1
            };
            let len = data.len();
            let (start, end) = range
                .strip_prefix("bytes=")
                .and_then(|r| r.split_once('-'))
                .map(|(a, b)| {
                    let a: usize = a.parse().unwrap_or(0);
                    let b: usize = b.parse().map(|b: usize| b.min(len - 1)).unwrap_or(len - 1);
                    (a, b)
                })
                .unwrap_or((0, len - 1));
            let slice = data[start..=end].to_vec();
            let mut headers = vec![
                ("content-range", format!("bytes {start}-{end}/{len}")),
                ("content-length", slice.len().to_string()),
                ("etag", "\"0xETAG\"".to_string()),
                ("x-ms-blob-type", "BlockBlob".to_string()),
                ("last-modified", "Wed, 01 Jan 2025 00:00:00 GMT".to_string()),
            ];
            let crc_asked = h("x-ms-range-get-content-crc64").as_deref() == Some("true");
            match sums {
                Sums::Md5 => headers.push(("x-ms-blob-content-md5", md5)),
                Sums::Crc64 if crc_asked => headers.push((
                    "x-ms-content-crc64",
                    batchdeck::azure::crc64::to_header(batchdeck::azure::crc64::checksum(&slice)),
                )),
                Sums::WrongCrc64 if crc_asked => headers.push((
                    "x-ms-content-crc64",
                    batchdeck::azure::crc64::to_header(batchdeck::azure::crc64::checksum(b"x")),
                )),
                _ => {}
            }
            let mut response_headers = axum::http::HeaderMap::new();
            for (k, v) in headers {
                response_headers.insert(k, v.parse().expect("header value"));
            }
            let body = if first && cut < slice.len() {
                let head = slice[..cut].to_vec();
                let stream = futures::stream::iter(vec![
                    Ok::<_, std::io::Error>(bytes::Bytes::from(head)),
                    Err(std::io::Error::other("connection cut by the test")),
                ]);
                Body::from_stream(stream)
            } else {
                Body::from(slice)
            };
            (StatusCode::PARTIAL_CONTENT, response_headers, body).into_response()
        }
    });
    (serve(app).await, seen)
}

#[tokio::test]
async fn download_resumes_after_the_body_breaks_off() {
    let data = Arc::new(pseudo_random(3 * MIB as usize + 17, 11));
    let cut = MIB as usize;
    let (endpoint, seen) = breaking_blob_server(data.clone(), cut, Sums::Md5).await;
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(Url::parse(&endpoint).expect("url"), cred)
        .expect("client")
        .with_retry_policy(fast_retries());
    let dest = tempfile::tempdir().expect("tempdir");
    let to = dest.path().join("blob");
    let got = client
        .download_to_file("c1x", "blob", &to, false)
        .await
        .expect("download resumes");
    assert_eq!(got.bytes, data.len() as u64);
    assert!(got.md5_verified);
    assert_eq!(std::fs::read(&to).expect("read"), *data);
    assert_eq!(entries(dest.path()), ["blob"]);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].0.starts_with("bytes=0-"), "{seen:?}");
    assert!(
        seen[1].0.starts_with(&format!("bytes={cut}-")),
        "resumed from the cut: {seen:?}"
    );
    assert_eq!(
        seen[1].1.as_deref(),
        Some("\"0xETAG\""),
        "locked to the ETag"
    );
}

#[tokio::test]
async fn download_checks_each_range_crc64_and_fetches_a_cut_range_again() {
    // No Content-MD5 to check a kept head with: the cut range is fetched again, whole, so
    // that its CRC64 covers every byte; the other ranges are checked one by one.
    let data = Arc::new(pseudo_random(9 * MIB as usize + 3, 12));
    let (endpoint, seen) = breaking_blob_server(data.clone(), MIB as usize, Sums::Crc64).await;
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(Url::parse(&endpoint).expect("url"), cred)
        .expect("client")
        .with_retry_policy(fast_retries());
    let dest = tempfile::tempdir().expect("tempdir");
    let to = dest.path().join("blob");
    let got = client
        .download_to_file("c1x", "blob", &to, false)
        .await
        .expect("download");
    assert_eq!(std::fs::read(&to).expect("read"), *data);
    assert!(got.crc64_verified && !got.md5_verified, "{got:?}");
    let mut ranges: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| s.0.clone())
        .collect();
    ranges.sort();
    assert_eq!(
        ranges,
        [
            "bytes=0-4194303",
            "bytes=0-4194303",
            "bytes=4194304-8388607",
            "bytes=8388608-9437186"
        ],
        "ranges of 4 MiB, the cut one twice"
    );
}

#[tokio::test]
async fn a_range_whose_crc64_differs_fails_the_download_and_leaves_no_file() {
    let data = Arc::new(pseudo_random(5 * MIB as usize, 13));
    let (endpoint, _) = breaking_blob_server(data, usize::MAX, Sums::WrongCrc64).await;
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(Url::parse(&endpoint).expect("url"), cred)
        .expect("client")
        .with_retry_policy(fast_retries());
    let dest = tempfile::tempdir().expect("tempdir");
    let e = client
        .download_to_file("c1x", "blob", &dest.path().join("blob"), false)
        .await
        .expect_err("corrupted range");
    assert!(
        matches!(e, StorageError::Crc64Mismatch { offset: 0, .. }),
        "{e:?}"
    );
    let line = e.to_string();
    assert!(
        line.contains("'c1x/blob'") && line.contains("corrupted") && line.contains("again"),
        "{line}"
    );
    assert!(
        entries(dest.path()).is_empty(),
        "{:?}",
        entries(dest.path())
    );
}

/// One PUT a recording server saw: its query, the checksums it carried, those of its body.
#[derive(Debug, Clone)]
struct SeenPut {
    query: String,
    crc64_sent: Option<String>,
    md5_sent: Option<String>,
    body_crc64: String,
    body_md5: String,
}

type SeenPuts = Arc<Mutex<Vec<SeenPut>>>;

/// Azure's `Server` header (batchdeck's emulator sends the same).
const AZURE_SERVER: &str = "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0";
/// Azurite 3.37's `Server` header.
const AZURITE_SERVER: &str = "Azurite-Blob/3.37.0";

/// A blob server that answers as `server` (its `Server` header) and records each PUT's
/// `x-ms-content-crc64` and `Content-MD5` beside those of its body; it holds no blocks (Get
/// Block List: 404) and takes every PUT (201).
async fn checksum_recording_server(server: &'static str) -> (String, SeenPuts) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let seen: SeenPuts = Arc::default();
    let seen2 = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = seen2.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
            if parts.method != axum::http::Method::PUT {
                return (
                    StatusCode::NOT_FOUND,
                    [("x-ms-error-code", "BlobNotFound"), ("server", server)],
                    "",
                )
                    .into_response();
            }
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            seen.lock().expect("lock").push(SeenPut {
                query: parts.uri.query().unwrap_or("").to_string(),
                crc64_sent: header("x-ms-content-crc64"),
                md5_sent: header("content-md5"),
                body_crc64: batchdeck::azure::crc64::to_header(batchdeck::azure::crc64::checksum(
                    &body,
                )),
                body_md5: md5_b64(&body),
            });
            (
                StatusCode::CREATED,
                [
                    ("etag", "\"0x1\""),
                    ("last-modified", "Wed, 01 Jan 2025 00:00:00 GMT"),
                    ("server", server),
                ],
                "",
            )
                .into_response()
        }
    });
    (serve(app).await, seen)
}

/// Creates container `c` (as the workflow does before it uploads), then uploads a small file
/// (one Put Blob) and a 9 MiB one (three Put Blocks) to a server answering as `server`, with
/// `checksum`; the data PUTs it saw.
async fn data_puts_to(server: &'static str, checksum: TransferChecksum) -> Vec<SeenPut> {
    let (endpoint, seen) = checksum_recording_server(server).await;
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(Url::parse(&endpoint).expect("url"), cred)
        .expect("client")
        .with_retry_policy(fast_retries())
        .with_transfer_options(TransferOptions {
            checksum,
            ..small_transfers()
        })
        .expect("transfer options");
    client.create_container("c").await.expect("container");
    let src = tempfile::tempdir().expect("tempdir");
    let small = write_file(src.path(), "small", &pseudo_random(1000, 14));
    let big = write_file(src.path(), "big", &pseudo_random((9 * MIB) as usize, 15));
    client
        .upload_file("c", "small", &small, |_| {})
        .await
        .expect("small");
    client
        .upload_file("c", "big", &big, |_| {})
        .await
        .expect("big");
    let seen = seen.lock().expect("lock").clone();
    let data_puts: Vec<SeenPut> = seen
        .iter()
        .filter(|p| !p.query.contains("comp=blocklist") && !p.query.contains("restype=container"))
        .cloned()
        .collect();
    assert_eq!(
        data_puts.len(),
        1 + 3,
        "one Put Blob, three Put Blocks: {seen:?}"
    );
    data_puts
}

fn assert_all_carry_crc64(puts: &[SeenPut]) {
    for p in puts {
        assert_eq!(
            p.crc64_sent.as_deref(),
            Some(p.body_crc64.as_str()),
            "PUT ?{}",
            p.query
        );
        assert_eq!(p.md5_sent, None, "PUT ?{}", p.query);
    }
}

fn assert_all_carry_md5(puts: &[SeenPut]) {
    for p in puts {
        assert_eq!(
            p.md5_sent.as_deref(),
            Some(p.body_md5.as_str()),
            "PUT ?{}",
            p.query
        );
        assert_eq!(p.crc64_sent, None, "PUT ?{}", p.query);
    }
}

#[tokio::test]
async fn every_put_block_and_put_blob_carries_the_crc64_of_its_body() {
    assert_all_carry_crc64(&data_puts_to(AZURE_SERVER, TransferChecksum::Auto).await);
}

/// Azurite computes CRC64 in JavaScript a byte at a time (on a Put Blob only when one was
/// sent; on a Put Block whenever no Content-MD5 was) but MD5 natively: with CRC64 headers,
/// 256 x 4 MiB files went up at a third of the speed. It hashes every Put Blob with MD5
/// whatever it carries (the blob's Content-MD5), so a Put Blob carries nothing for it to check
/// again: its MD5 computed here only slowed the upload.
#[tokio::test]
async fn on_azurite_put_blocks_carry_content_md5_and_a_put_blob_nothing() {
    let puts = data_puts_to(AZURITE_SERVER, TransferChecksum::Auto).await;
    let (blocks, blobs): (Vec<SeenPut>, Vec<SeenPut>) = puts
        .into_iter()
        .partition(|p| p.query.contains("comp=block"));
    assert_eq!((blocks.len(), blobs.len()), (3, 1), "{blocks:?} {blobs:?}");
    assert_all_carry_md5(&blocks);
    for p in &blobs {
        assert_eq!(
            (p.md5_sent.as_deref(), p.crc64_sent.as_deref()),
            (None, None),
            "PUT ?{}",
            p.query
        );
    }
}

#[tokio::test]
async fn a_checksum_chosen_in_the_options_goes_to_any_service() {
    assert_all_carry_crc64(&data_puts_to(AZURITE_SERVER, TransferChecksum::Crc64).await);
    assert_all_carry_md5(&data_puts_to(AZURE_SERVER, TransferChecksum::Md5).await);
}

// ---------------------------------------------------------------------------------------------
// Requests in flight across files

/// A blob server that takes every PUT (Get Block List: 404) and holds each data PUT (Put Blob,
/// Put Block) until `release_at` of them are in flight at once or `hold` has passed; the most
/// it saw in flight at once.
async fn in_flight_counting_server(
    release_at: usize,
    hold: Duration,
) -> (String, Arc<AtomicUsize>) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(tokio::sync::Notify::new());
    let most2 = most.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (in_flight, most, released) = (in_flight.clone(), most2.clone(), released.clone());
        async move {
            let (parts, body) = req.into_parts();
            let _ = axum::body::to_bytes(body, usize::MAX).await.expect("body");
            let query = parts.uri.query().unwrap_or("");
            if parts.method != axum::http::Method::PUT {
                return (
                    StatusCode::NOT_FOUND,
                    [("x-ms-error-code", "BlobNotFound")],
                    "",
                )
                    .into_response();
            }
            if !query.contains("comp=blocklist") && !query.contains("restype=container") {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if now >= release_at {
                    released.notify_waiters();
                } else {
                    let _ = tokio::time::timeout(hold, released.notified()).await;
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            (
                StatusCode::CREATED,
                [
                    ("etag", "\"0x1\""),
                    ("last-modified", "Wed, 01 Jan 2025 00:00:00 GMT"),
                ],
                "",
            )
                .into_response()
        }
    });
    (serve(app).await, most)
}

async fn upload_all_to(endpoint: &str, transfer: TransferOptions, files: &[(String, PathBuf)]) {
    let cred = SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).expect("key");
    let client = StorageClient::new(Url::parse(endpoint).expect("url"), cred)
        .expect("client")
        .with_retry_policy(fast_retries())
        .with_transfer_options(transfer)
        .expect("transfer options");
    let done = client
        .upload_files("c", files, |_, _| {}, |_| {})
        .await
        .expect("uploads");
    assert_eq!(done.len(), files.len());
}

/// Small files (one Put Blob each) go up 16 at once, the same budget of bodies in flight as
/// large files sent 4 blocks of up to 8 MiB at a time by 4 files at once (so the same memory),
/// and never more; blocks over 8 MiB count twice, so fewer of them are in flight.
#[tokio::test]
async fn small_files_go_up_sixteen_at_once_within_the_budget_of_requests_in_flight() {
    let src = tempfile::tempdir().expect("tempdir");
    let small: Vec<(String, PathBuf)> = (0..20)
        .map(|i| {
            let name = format!("s{i}");
            let path = write_file(src.path(), &name, &pseudo_random(1000, i));
            (name, path)
        })
        .collect();
    let (endpoint, most) = in_flight_counting_server(16, Duration::from_secs(3)).await;
    upload_all_to(&endpoint, TransferOptions::default(), &small).await;
    assert_eq!(
        most.load(Ordering::SeqCst),
        16,
        "20 small files with 4 blocks per file in flight: 16 Put Blobs at once"
    );

    // Files in blocks (4 x 1 MiB, 4 in flight each) mixed with small ones: never more than 16
    // requests at once.
    let mut mixed = small[..8].to_vec();
    for i in 0..8 {
        let name = format!("b{i}");
        let path = write_file(src.path(), &name, &pseudo_random(4 * MIB as usize, 100 + i));
        mixed.insert(2 * i as usize, (name, path));
    }
    let (endpoint, most) = in_flight_counting_server(17, Duration::from_secs(1)).await;
    let blocks = TransferOptions {
        block_size: MIB,
        max_single_put: MIB,
        ..TransferOptions::default()
    };
    upload_all_to(&endpoint, blocks, &mixed).await;
    let most = most.load(Ordering::SeqCst);
    assert!(
        (8..=16).contains(&most),
        "8 files of 4 blocks and 8 small ones: at most 16 requests at once, saw {most}"
    );

    // Blocks of 9 MiB (two slots of 8 MiB each), a file's 4 all in flight: two files at once, 8
    // requests, never 12 (three files, as a budget of requests would allow).
    let large: Vec<(String, PathBuf)> = (0..3)
        .map(|i| {
            let name = format!("l{i}");
            let path = write_file(src.path(), &name, &vec![b'a' + i as u8; 36 * MIB as usize]);
            (name, path)
        })
        .collect();
    let (endpoint, most) = in_flight_counting_server(9, Duration::from_secs(1)).await;
    let nine = TransferOptions {
        block_size: 9 * MIB,
        ..TransferOptions::default()
    };
    upload_all_to(&endpoint, nine, &large).await;
    assert_eq!(
        most.load(Ordering::SeqCst),
        8,
        "3 files of 4 blocks of 9 MiB: 2 files at once, 8 blocks in flight"
    );
}
