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

use crate::limits::{AddressCounter, Scope};
use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{
    convert::Infallible,
    future::Future,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    sync::watch,
    task::JoinSet,
};
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
    /// An IPv6 /48's share: this many times `per_address`.
    pub(crate) site_factor: u32,
    /// How long a connection may take to send a request head, and may sit
    /// idle between requests.
    pub(crate) header_timeout: Duration,
    /// How long a write may make no progress before the connection fails.
    pub(crate) write_stall: Duration,
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
    let counter = Arc::new(Mutex::new(AddressCounter::new(
        limits.per_address,
        limits.total,
        limits.site_factor,
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
        let key = (!is_proxy(peer.ip())).then_some(peer.ip());
        let admitted = match key {
            Some(key) => lock(&counter).try_open(key),
            None => lock(&counter).try_open_unkeyed(),
        };
        if let Err(scope) = admitted {
            // Dropping the stream closes it: no answer is cheaper than one.
            debug!(
                scope = match scope {
                    Scope::Key => "address",
                    Scope::Site => "IPv6 site",
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
                TokioIo::new(StallGuard::new(stream, limits.write_stall)),
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

/// Descriptors one connection may hold at once: its socket, and the file it
/// is being sent from the web root.
const DESCRIPTORS_PER_CONNECTION: usize = 2;

/// `wanted`, lowered to fit the process's open-file limit (Linux; elsewhere
/// `wanted`): past that limit `accept` (and opening a file to serve) fails
/// for everyone, `/healthz` included, so the cap must bite first.
pub(crate) fn fit_descriptor_limit(wanted: usize) -> usize {
    let Some(limit) = open_file_limit() else {
        return wanted;
    };
    let fits = (limit.saturating_sub(RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_CONNECTION).max(1);
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
    counter: Arc<Mutex<AddressCounter>>,
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

/// A connection whose writes fail once they have made no progress for
/// `stall`. hyper has no write timeout: a client that stops reading (its
/// TCP window stays shut) would otherwise hold its connection, a file
/// download's descriptor, or a websocket's writer forever. Reads are left
/// alone: the header timeout and the websocket silence timeout bound those.
pub(crate) struct StallGuard<S> {
    inner: S,
    stall: Duration,
    /// Set while a write is pending; cleared when a write goes through.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> StallGuard<S> {
    pub(crate) fn new(inner: S, stall: Duration) -> Self {
        Self {
            inner,
            stall,
            stalled: None,
        }
    }

    /// After `inner` said `Pending`: pending still, or failed if the stall
    /// has lasted too long.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let stall = self.stall;
        let clock = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match clock.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer has read nothing for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// After a write: only bytes written are progress. A flush that
    /// returns at once (a socket's always does) is not: websocket reads
    /// flush too, and a peer that sends but never reads would otherwise
    /// restart the clock with every message it sends.
    fn written(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match poll {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.pending(cx),
        }
    }

    /// After a flush or a shutdown: pending counts towards the stall.
    fn waited(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<()>>) -> Poll<io::Result<()>> {
        match poll {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.written(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.written(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.waited(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.waited(cx, poll)
    }
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // `wait_for` holds a read guard across its await: not `Send`.
    let _ = stop.wait_for(|stopped| *stopped).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_fails_after_the_stall() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(near, Duration::from_secs(30));
        // Progress, however slow, keeps the connection: each write waits
        // 29 s for the reader to make room.
        let reader = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(29)).await;
                let mut read = [0; 128];
                far.read_exact(&mut read).await.expect("read");
            }
            far
        });
        let started = tokio::time::Instant::now();
        for _ in 0..4 {
            guarded.write_all(&[7; 128]).await.expect("slow but going");
        }
        assert!(started.elapsed() >= Duration::from_secs(4 * 29));
        let _far = reader.await.expect("the reader");
        // Now nobody reads: the write fails once 30 s have passed, flushes
        // in between (a websocket read flushes) changing nothing.
        guarded.write_all(&[7; 64]).await.expect("fills the buffer");
        let started = tokio::time::Instant::now();
        let stuck = std::future::poll_fn(|cx| Pin::new(&mut guarded).poll_write(cx, &[7]));
        assert!(
            tokio::time::timeout(Duration::from_secs(20), stuck)
                .await
                .is_err(),
            "pending for 20 s"
        );
        guarded.flush().await.expect("a flush returns at once");
        let error = guarded
            .write_all(&[7; 1])
            .await
            .expect_err("the stalled write fails");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
