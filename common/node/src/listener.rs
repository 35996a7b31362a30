//! The RESP listener: accepts connections (one task each, [`crate::conn`])
//! until SHUTDOWN, SIGTERM or Ctrl-C.

use crate::core::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Limits shared by the connection tasks and updated by CONFIG SET.
#[derive(Debug)]
pub struct SharedLimits {
    /// `proto-max-bulk-len`.
    pub bulk_bytes_max: AtomicU64,
    /// A password is set (`requirepass`): a client is a stranger until it
    /// authenticates, also while a busy script keeps it from registering.
    pub password_set: AtomicBool,
}

/// The current `proto-max-bulk-len`.
pub fn bulk_limit(l: &SharedLimits) -> usize {
    l.bulk_bytes_max.load(Ordering::Relaxed) as usize
}

/// The TLS listener (`tls-port`) and its acceptor.
pub type TlsListener = (TcpListener, Arc<crate::tls::Acceptor>);

/// Longest a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Serves clients on `listener` (and over TLS on `tls`) until SHUTDOWN ran
/// (`stopped`) or a termination signal came.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsListener>,
    core: Shared,
    limits: Arc<SharedLimits>,
    stopped: Arc<Notify>,
) {
    let local = |l: &TcpListener| l.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let plain_local = local(&listener);
    let tls_local = tls.as_ref().map(|(l, _)| local(l));
    tracing::info!(local = %plain_local, tls = ?tls_local, "serving clients");
    let accept_tls = async || match &tls {
        Some((l, acceptor)) => (l.accept().await, acceptor.clone()),
        None => std::future::pending().await,
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => spawn_conn(sock, peer, plain_local, None, (core.clone(), limits.clone())),
                Err(e) => accept_failed(e).await,
            },
            (accepted, acceptor) = accept_tls() => match accepted {
                Ok((sock, peer)) => {
                    let local = tls_local.unwrap_or(plain_local);
                    spawn_conn(sock, peer, local, Some(acceptor.get()), (core.clone(), limits.clone()));
                }
                Err(e) => accept_failed(e).await,
            },
            _ = stopped.notified() => {
                tracing::info!("SHUTDOWN received, exiting");
                return;
            }
            _ = shutdown_signal() => {
                tracing::info!("termination signal received, exiting");
                return;
            }
        }
    }
}

/// Out of file descriptors and the like: keep serving the others.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
}

fn spawn_conn(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    (h, l): (Shared, Arc<SharedLimits>),
) {
    tokio::spawn(async move {
        let served = async {
            sock.set_nodelay(true)?;
            match tls {
                None => crate::conn::serve(sock, peer, local, h, l).await,
                Some(acceptor) => {
                    let handshake = std::time::Duration::from_millis(HANDSHAKE_TIMEOUT_MS);
                    let stream = tokio::time::timeout(handshake, acceptor.accept(sock)).await??;
                    crate::conn::serve(stream, peer, local, h, l).await
                }
            }
        };
        if let Err(e) = served.await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
