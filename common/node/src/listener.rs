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

/// Serves clients on `listener` until SHUTDOWN ran (`stopped`) or a
/// termination signal came.
pub async fn serve(listener: TcpListener, core: Shared, limits: Arc<SharedLimits>, stopped: Arc<Notify>) {
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "reading the bound address");
            return;
        }
    };
    tracing::info!(%local, "serving clients");
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => spawn_conn(sock, peer, local, core.clone(), limits.clone()),
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
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

fn spawn_conn(sock: tokio::net::TcpStream, peer: SocketAddr, local: SocketAddr, h: Shared, l: Arc<SharedLimits>) {
    tokio::spawn(async move {
        if let Err(e) = crate::conn::serve(sock, peer, local, h, l).await {
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
