//! TLS for the HTTP API (and, through [`TlsIdentity`], the node's gRPC): rustls with the
//! `ring` provider, certificates and keys in PEM.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;

use crate::connections::{ConnectionLimit, Connections, Limited};

/// A server's TLS identity: its certificate chain (leaf first) and private key, PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Reads a certificate chain and its key from PEM files, and checks they parse.
    pub fn from_files(cert: &Path, key: &Path) -> Result<TlsIdentity, String> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let identity = TlsIdentity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        };
        identity
            .server_config()
            .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?;
        Ok(identity)
    }

    /// A rustls server configuration for this identity: TLS 1.2 and 1.3, no client
    /// certificates, ALPN `h2` then `http/1.1`.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        let certs = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("the certificate is not PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the certificate file".into());
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| format!("the private key is not PEM: {e}"))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make an identity: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Before the TLS handshake: closes a connection past the connection limit, and sets
/// `TCP_NODELAY` on the others.
#[derive(Clone)]
struct LimitAndNoDelay(Connections);

impl<S> axum_server::accept::Accept<TcpStream, S> for LimitAndNoDelay {
    type Stream = Limited<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Limited<TcpStream>, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let _ = stream.set_nodelay(true);
        let limited = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.0.wrap(stream, peer))
            .ok_or_else(|| io::Error::other("over the connection limit"));
        std::future::ready(limited.map(|stream| (stream, service)))
    }
}

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// [`crate::serve`] over TLS: the same router, peer addresses, connection limit and
/// `TCP_NODELAY`; a handshake that does not finish within [`HANDSHAKE_TIMEOUT`] is dropped. Once
/// `shutdown` completes, open requests get 30 seconds to finish.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    identity: &TlsIdentity,
    connections: ConnectionLimit,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let config = identity
        .server_config()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
    )
    .handshake_timeout(HANDSHAKE_TIMEOUT)
    .acceptor(LimitAndNoDelay(Connections::new(connections)));
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    axum_server::from_tcp(listener.into_std()?)
        .acceptor(acceptor)
        .handle(handle)
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await
}
