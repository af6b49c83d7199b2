//! Limits on open connections: how many a server holds at once, and how many of those
//! one client address may hold.
//!
//! Every connection costs a file descriptor, buffers and a task for as long as it stays
//! open, whether or not it asks anything; without a cap a client can open connections
//! until the process runs out of descriptors and nobody else gets in. A connection past
//! either limit is accepted and closed at once (the client sees the connection reset or
//! closed, not a hang), and never reaches the protocol. The address is the TCP peer's,
//! grouped as the rate limit groups them ([`crate::limit`]: an IPv4 address, an IPv6
//! /64); behind a reverse proxy all clients share the proxy's address, so set the
//! per-address limit to the total there.
//!
//! [`Connections::admit`] hands out a [`ConnectionSlot`] that gives its place back when
//! dropped; [`Limited`] carries a slot alongside the connection it counts, so the place
//! is held exactly as long as the server holds the connection. The node's gRPC server
//! and both HTTP servers (plain and TLS) use it.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How many connections a server holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimit {
    /// Open connections in all.
    pub total: usize,
    /// Open connections from one client address (IPv4 address, IPv6 /64).
    pub per_address: usize,
}

impl ConnectionLimit {
    /// The HTTP servers' default: room for a district's consumers and inspectors, and a
    /// carrier-grade NAT's worth of phones behind one address.
    pub const HTTP: ConnectionLimit = ConnectionLimit {
        total: 4096,
        per_address: 256,
    };
    /// The gRPC server's default: producers and markets keep a few long-lived
    /// connections each.
    pub const GRPC: ConnectionLimit = ConnectionLimit {
        total: 1024,
        per_address: 64,
    };
}

/// The HTTP server's connection limit flags, shared by `ledger-node` and `query-api`.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpConnectionArgs {
    /// HTTP connections held open at once; more are closed as they come.
    #[arg(long, env = "FOODTRACE_HTTP_MAX_CONNECTIONS", default_value_t = ConnectionLimit::HTTP.total)]
    pub http_max_connections: usize,
    /// HTTP connections one client address (IPv4 address, IPv6 /64) may hold open at once.
    #[arg(long, env = "FOODTRACE_HTTP_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = ConnectionLimit::HTTP.per_address)]
    pub http_max_connections_per_address: usize,
}

impl HttpConnectionArgs {
    /// The limit the flags ask for.
    pub fn limit(&self) -> ConnectionLimit {
        ConnectionLimit {
            total: self.http_max_connections,
            per_address: self.http_max_connections_per_address,
        }
    }
}

/// The connections a server holds now, by address. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Connections {
    limit: ConnectionLimit,
    open: Arc<Mutex<Open>>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server holds its total already.
    Full,
    /// This address holds its share already.
    AddressFull,
}

impl Connections {
    /// No connection yet, under `limit`.
    pub fn new(limit: ConnectionLimit) -> Connections {
        Connections {
            limit,
            open: Arc::default(),
        }
    }

    /// A place for a connection from `peer`, or why there is none.
    pub fn admit(&self, peer: IpAddr) -> Result<ConnectionSlot, Refused> {
        let address = crate::limit::bucket_of(peer);
        let mut open = self
            .open
            .lock()
            .expect("the connection count is never poisoned");
        if open.total >= self.limit.total {
            return Err(Refused::Full);
        }
        let from_address = open.by_address.entry(address).or_insert(0);
        if *from_address >= self.limit.per_address {
            return Err(Refused::AddressFull);
        }
        *from_address += 1;
        open.total += 1;
        Ok(ConnectionSlot {
            open: self.open.clone(),
            address,
        })
    }

    /// Connections held now, in all.
    pub fn open(&self) -> usize {
        self.open.lock().expect("never poisoned").total
    }

    /// Accepts the next connection `listener` gets that a place can be found for;
    /// others are closed as they come (and logged). Accept errors (such as running out
    /// of file descriptors) are returned.
    pub async fn accept(
        &self,
        listener: &TcpListener,
    ) -> io::Result<(Limited<TcpStream>, SocketAddr)> {
        loop {
            let (stream, peer) = listener.accept().await?;
            if let Some(limited) = self.wrap(stream, peer) {
                return Ok((limited, peer));
            }
        }
    }

    /// `stream` with its place, or `None` (the stream dropped, so closed) if there is no
    /// place for it.
    pub fn wrap<S>(&self, stream: S, peer: SocketAddr) -> Option<Limited<S>> {
        match self.admit(peer.ip()) {
            Ok(slot) => Some(Limited {
                inner: stream,
                _slot: slot,
            }),
            Err(refused) => {
                tracing::debug!(%peer, ?refused, "connection refused: over the connection limit");
                None
            }
        }
    }
}

/// A connection's place in a [`Connections`] count, given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    open: Arc<Mutex<Open>>,
    address: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("never poisoned");
        open.total -= 1;
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// A connection that holds its place in the count until it is dropped; reads and
/// writes go straight to the inner stream.
#[derive(Debug)]
pub struct Limited<S> {
    inner: S,
    _slot: ConnectionSlot,
}

impl<S> Limited<S> {
    /// The connection itself.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TCP listener for `axum::serve` that lets in only the connections [`Connections`]
/// has a place for.
pub struct LimitedListener {
    listener: TcpListener,
    connections: Connections,
}

impl LimitedListener {
    /// `listener`, counted by `connections`.
    pub fn new(listener: TcpListener, connections: Connections) -> LimitedListener {
        LimitedListener {
            listener,
            connections,
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = Limited<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.connections.accept(&self.listener).await {
                Ok(accepted) => return accepted,
                // As axum's own TCP listener does: out of descriptors or a connection
                // reset before it was taken; wait a little and go on.
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_address_and_in_all_and_given_back() {
        let connections = Connections::new(ConnectionLimit {
            total: 3,
            per_address: 2,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        let c_same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
        let a1 = connections.admit(a).unwrap();
        let a2 = connections.admit(a).unwrap();
        assert_eq!(connections.admit(a).unwrap_err(), Refused::AddressFull);
        let b1 = connections.admit(b).unwrap();
        assert_eq!(connections.open(), 3);
        assert_eq!(connections.admit(c).unwrap_err(), Refused::Full);
        drop(a1);
        assert_eq!(connections.open(), 2);
        let c1 = connections.admit(c).unwrap();
        drop((a2, b1));
        let _c2 = connections.admit(c_same_64).unwrap();
        assert_eq!(connections.admit(c).unwrap_err(), Refused::AddressFull);
        drop(c1);
        assert_eq!(connections.open(), 1);
        assert_eq!(connections.open.lock().unwrap().by_address.len(), 1);
    }
}
