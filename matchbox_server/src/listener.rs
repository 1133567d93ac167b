//! The accept loop: TCP connections in, HTTP/1.1 (websocket upgrades
//! included) served by the router, with the limits a public server needs
//! before it has read a single byte.
//!
//! `axum::serve` has no connection cap and no header timeout: a stranger
//! could hold any number of silent or half-sent requests and starve the
//! process of file descriptors (then `/healthz` goes unanswered for
//! everyone). Here every connection is counted, per address and in total,
//! before hyper sees it, and hyper drops a connection whose request head
//! does not arrive in time (idle keep-alive connections included: hyper
//! starts that clock whenever it waits for a head).

use crate::limits::{ConnectionCounter, Scope, client_key};
use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    convert::Infallible,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tower::ServiceExt;
use tracing::{debug, warn};

/// The accept loop's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Open TCP connections in total.
    pub(crate) total: usize,
    /// Open TCP connections from one address (IPv6: one /64), except from a
    /// trusted proxy, which carries many players.
    pub(crate) per_address: usize,
    /// How long a connection may take to send a request head, and may sit
    /// idle between requests.
    pub(crate) header_timeout: Duration,
}

/// Which peers are reverse proxies whose connections carry many players.
pub(crate) type IsProxy = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Serves `router` on `listener` until `stop` turns true, then stops
/// accepting, lets open connections finish for at most `drain`, and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    is_proxy: IsProxy,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let counter = Arc::new(Mutex::new(ConnectionCounter::new(
        limits.per_address,
        limits.total,
    )));
    let mut connections = JoinSet::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // One request head may not be larger than this.
        .max_buf_size(64 * 1024);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, most likely: wait instead of spinning.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // A proxy's connections count only towards the total: its players'
        // own addresses are known only from their requests' headers.
        let key = (!is_proxy(peer.ip())).then(|| client_key(peer.ip()));
        let admitted = match key {
            Some(key) => lock(&counter).try_open(key),
            None => lock(&counter).try_open_unkeyed(),
        };
        if let Err(scope) = admitted {
            // Dropping the stream closes it: no answer is cheaper than one.
            debug!(
                scope = match scope {
                    Scope::Key => "address",
                    Scope::Global => "total",
                },
                "connection refused: at the cap"
            );
            continue;
        }
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new(Open {
            counter: counter.clone(),
            key,
        }));
        let router = router.clone();
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.extensions_mut().insert(slot.clone());
                    let router = router.clone();
                    async move {
                        let response = match router.oneshot(request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        };
                        Ok::<_, Infallible>(response)
                    }
                }),
            )
            .with_upgrades();
        let mut stop = stop.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        debug!(%peer, %error, "connection ended");
                    }
                }
                () = stopped(&mut stop) => {
                    // Finish the request in flight, take no new one.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        connections.abort_all();
    }
}

/// Descriptors kept for everything but client connections: the listener,
/// log files, the clock, a TURN-less process's odds and ends.
const RESERVED_DESCRIPTORS: usize = 64;

/// `wanted`, lowered to fit the process's open-file limit (Linux; elsewhere
/// `wanted`): past that limit `accept` fails for everyone, `/healthz`
/// included, so the cap must bite first.
pub(crate) fn fit_descriptor_limit(wanted: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return wanted;
    };
    let fits = limit.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    if wanted > fits {
        warn!(
            wanted,
            open_file_limit = limit,
            cap = fits,
            "max connections lowered to fit the open-file limit (raise it with `ulimit -n`)"
        );
        fits
    } else {
        wanted
    }
}

/// The soft open-file limit, from `/proc/self/limits`.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A counted connection's place, in every request's extensions: a
/// websocket keeps it for as long as it lives (hyper lets go of an upgraded
/// connection), so websockets count towards the caps too.
#[derive(Clone)]
pub(crate) struct ConnectionSlot(#[expect(dead_code, reason = "held for its Drop")] Arc<Open>);

/// One counted connection; dropping the last [`ConnectionSlot`] gives its
/// place back.
struct Open {
    counter: Arc<Mutex<ConnectionCounter<IpAddr>>>,
    key: Option<IpAddr>,
}

impl Drop for Open {
    fn drop(&mut self) {
        let mut counter = lock(&self.counter);
        match self.key {
            Some(key) => counter.close(key),
            None => counter.close_unkeyed(),
        }
    }
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // `wait_for` holds a read guard across its await: not `Send`.
    let _ = stop.wait_for(|stopped| *stopped).await.map(|_| ());
}
