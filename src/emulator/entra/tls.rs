//! TLS for the emulator: a local certificate authority and a server certificate for
//! `127.0.0.1`, `::1` and `localhost`, made on the first start and kept in the data directory
//! (`entra/ca.pem` is the file to trust: `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`); and the
//! accept loop every listener uses, which speaks TLS to a client that opens with a TLS
//! handshake and plain HTTP to one that does not, on the same port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::emulator::EmulatorError;

/// Whether a request arrived over TLS (an extension of every request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tls(pub bool);

/// The certificate files of an emulator's data directory.
pub struct Certificates {
    /// The local CA's certificate (PEM): what clients trust.
    pub ca_pem: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
}

fn err(path: &Path, message: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::DataDir {
        path: path.to_path_buf(),
        source: std::io::Error::other(message.to_string()),
    }
}

impl Certificates {
    /// Loads the certificates of `dir`, making them on the first start.
    pub fn open(dir: &Path) -> Result<Certificates, EmulatorError> {
        std::fs::create_dir_all(dir).map_err(|source| EmulatorError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let (ca_pem, chain_der, key_der) = (
            dir.join("ca.pem"),
            dir.join("server-chain.der"),
            dir.join("server-key.der"),
        );
        if !(ca_pem.exists() && chain_der.exists() && key_der.exists()) {
            make(dir, &ca_pem, &chain_der, &key_der)?;
        }
        let chain = std::fs::read(&chain_der).map_err(|e| err(&chain_der, e))?;
        let key = std::fs::read(&key_der).map_err(|e| err(&key_der, e))?;
        // The chain file holds the server certificate then the CA's, each length-prefixed.
        let mut certs = Vec::new();
        let mut rest = chain.as_slice();
        while rest.len() >= 4 {
            let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if rest.len() < 4 + n {
                return Err(err(&chain_der, "truncated certificate chain"));
            }
            certs.push(CertificateDer::from(rest[4..4 + n].to_vec()));
            rest = &rest[4 + n..];
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(dir, e))?
            .with_no_client_auth()
            .with_single_cert(certs, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
            .map_err(|e| err(&key_der, e))?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Certificates {
            ca_pem,
            server: Arc::new(server),
        })
    }
}

fn make(dir: &Path, ca_pem: &Path, chain_der: &Path, key_der: &Path) -> Result<(), EmulatorError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().map_err(|e| err(dir, e))?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "batchdeck emulator local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| err(dir, e))?;
    let server_key = KeyPair::generate().map_err(|e| err(dir, e))?;
    let mut server = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(|e| err(dir, e))?;
    server
        .distinguished_name
        .push(DnType::CommonName, "batchdeck emulator");
    let issuer = Issuer::from_params(&ca, &ca_key);
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .map_err(|e| err(dir, e))?;
    let mut chain = Vec::new();
    for der in [server_cert.der().as_ref(), ca_cert.der().as_ref()] {
        chain.extend_from_slice(&(der.len() as u32).to_be_bytes());
        chain.extend_from_slice(der);
    }
    use crate::util::{FileAccess, write_atomic_as};
    write_atomic_as(key_der, &server_key.serialize_der(), FileAccess::OwnerOnly)
        .map_err(|e| err(key_der, e))?;
    write_atomic_as(chain_der, &chain, FileAccess::OwnerOnly).map_err(|e| err(chain_der, e))?;
    // Written last: its presence means the set is complete.
    write_atomic_as(ca_pem, ca_cert.pem().as_bytes(), FileAccess::Default)
        .map_err(|e| err(ca_pem, e))?;
    Ok(())
}

/// Serves `router` on `listener` until `stop`: TLS when `tls` is given and the client opens
/// with a handshake, plain HTTP otherwise. Each request carries its peer's address
/// (`ConnectInfo`) and whether it came over TLS ([`Tls`]). On stop, no new connection is
/// accepted and open ones finish the request they are serving.
pub fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        continue;
                    }
                },
                () = stopped(&mut stop) => break,
            };
            let _ = stream.set_nodelay(true);
            let (router, acceptor, stop) = (router.clone(), acceptor.clone(), stop.clone());
            connections.spawn(async move {
                // Until it says which protocol it speaks (its first byte, then the TLS
                // handshake), a connection is dropped on stop: a client may open one and
                // keep it unused in its pool.
                let mut early_stop = stop.clone();
                let opened = async {
                    let mut first = [0u8; 1];
                    let is_tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16);
                    match (is_tls, acceptor) {
                        (true, Some(acceptor)) => match acceptor.accept(stream).await {
                            Ok(s) => Some(Either::Tls(Box::new(s))),
                            Err(e) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                None
                            }
                        },
                        _ => Some(Either::Plain(stream)),
                    }
                };
                let opened = tokio::select! {
                    o = opened => o,
                    () = stopped(&mut early_stop) => None,
                };
                match opened {
                    Some(Either::Tls(s)) => connection(*s, peer, true, router, stop).await,
                    Some(Either::Plain(s)) => connection(s, peer, false, router, stop).await,
                    None => {}
                }
            });
            // Reap finished connections so the set does not grow.
            while connections.try_join_next().is_some() {}
        }
        while connections.join_next().await.is_some() {}
    })
}

enum Either {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    tls: bool,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tower::ServiceExt as _;
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            req.extensions_mut().insert(Tls(tls));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, %peer, "connection ended");
            }
        }
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Resolves once `stop` says so (its guard is not held past this).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
