//! An HTTP server for an application's read-only endpoints: Prometheus scrapes (`GET
//! /metrics`, [`metrics_router`]) and routes of your own, such as interactive queries of its
//! stores. Enabled by the `http` feature.
//!
//! ```
//! use kstreams::http::{metrics_router, HttpServer};
//! use metrics_exporter_prometheus::PrometheusBuilder;
//!
//! let recorder = PrometheusBuilder::new().build_recorder();
//! let handle = recorder.handle();
//! metrics::with_local_recorder(&recorder, || metrics::counter!("demo_total").increment(1));
//! let server = HttpServer::start("127.0.0.1:0".parse()?, metrics_router(handle))?;
//! println!("scrape http://{}/metrics", server.local_addr());
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Routes are an [`axum::Router`] (re-exported as [`kstreams::http::axum`](axum), so your
//! routes and the server agree on its version); connections are served by hyper.
//!
//! **Threads.** kstreams programs are synchronous ([`crate::runtime::KafkaStreams`] blocks), so
//! [`HttpServer::start`] needs no async runtime from its caller: it binds the address on the
//! caller's thread (a bind error is returned at once) and serves on a thread of its own that
//! runs a one-thread tokio runtime, which works the same from a plain `main` and from inside
//! another tokio program. That thread only does socket I/O and routing. Handlers that block —
//! interactive queries do: they wait until the stream thread owning the store answers — go
//! through [`blocking`], which runs them on the runtime's blocking pool (at most
//! [`MAX_BLOCKING_HANDLERS`] at once), so a slow query never holds up a scrape or another
//! request. Keeping the server off any runtime of the caller also means a blocked handler can
//! never starve the caller's tasks.
//!
//! **Bounds.** Each connection answers one request (`Connection: close`, as simple scrapers
//! and scripts reading to the end of the reply expect; header names title-cased), its request head may be at most
//! [`MAX_REQUEST_BYTES`] (431 beyond) and must arrive within [`IO_TIMEOUT`], a connection
//! lives at most [`CONNECTION_TIMEOUT`], and at most [`MAX_CONNECTIONS`] are served at once
//! (further ones wait to be accepted). Only what routes answer is served: axum answers 405
//! to other methods on a route (its `get` routes answer `HEAD` too) and 404 to other paths
//! ([`not_found`] is a fallback with a message).
//!
//! **Address.** The server binds whatever address it is given (port 0 picks a free port,
//! [`HttpServer::local_addr`] tells which). It has no authentication or TLS: bind a loopback
//! or private address, or put a proxy in front, unless metrics and state may be read by
//! anyone who reaches the port.
//!
//! **Stopping.** [`HttpServer::stop`] (or dropping the server) stops accepting and releases
//! the port at once, lets requests under way finish for up to [`STOP_GRACE`], then closes what
//! is left and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use axum;
use axum::http::header::CONTENT_TYPE;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics_exporter_prometheus::PrometheusBuilder;
/// What renders the recorded metrics (from [`install_prometheus_recorder`]).
pub use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Largest request head (request line and headers) read; longer requests get 431.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may live, from accept to the end of the reply.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// Handlers run through [`blocking`] at once; further ones wait for a thread.
pub const MAX_BLOCKING_HANDLERS: usize = 8;
/// How long [`HttpServer::stop`] lets requests under way finish.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// `Content-Type` of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What failed while starting the HTTP server or installing the metrics recorder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Binding or configuring the listening socket failed.
    #[error("binding the HTTP server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The server's runtime or thread could not be started.
    #[error("starting the HTTP server's thread: {0}")]
    Thread(std::io::Error),
    /// Installing the Prometheus recorder failed (another global recorder is installed).
    #[error("installing the Prometheus metrics recorder: {0}")]
    Recorder(String),
}

/// Installs a Prometheus recorder as the global `metrics` recorder, so every metric the
/// runtime records from then on can be rendered by the returned handle.
pub fn install_prometheus_recorder() -> Result<PrometheusHandle, HttpError> {
    PrometheusBuilder::new().install_recorder().map_err(|e| HttpError::Recorder(e.to_string()))
}

/// Routes serving `GET /metrics` in the Prometheus text format from `handle` (and a line
/// saying so at `/`). Merge your own routes into it with [`Router::merge`].
pub fn metrics_router(handle: PrometheusHandle) -> Router {
    let scrape = move || {
        let handle = handle.clone();
        async move {
            handle.run_upkeep();
            ([(CONTENT_TYPE, PROMETHEUS_TEXT)], handle.render())
        }
    };
    Router::new()
        .route("/metrics", get(scrape))
        .route("/", get(|| async { "kstreams: metrics at /metrics\n" }))
}

/// A fallback answering 404 with the path that was not found: `router.fallback(not_found)`.
pub async fn not_found(uri: Uri) -> Response {
    (StatusCode::NOT_FOUND, format!("no such resource: {}\n", uri.path())).into_response()
}

/// Runs the blocking `handler` on the server's blocking pool and answers what it returns (500
/// if it panicked), so it does not hold up the server's thread; see the module doc.
///
/// ```
/// use kstreams::http::axum::{routing::get, Router};
/// use kstreams::http::blocking;
///
/// let slow = || "answered after a blocking call\n";
/// let routes: Router = Router::new().route("/slow", get(move || blocking(slow)));
/// ```
pub async fn blocking<F, R>(handler: F) -> Response
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoResponse + Send + 'static,
{
    match tokio::task::spawn_blocking(handler).await {
        Ok(answer) => answer.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "an HTTP handler failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the request's handler failed\n").into_response()
        }
    }
}

/// A running server; stopped by [`Self::stop`] or on drop.
pub struct HttpServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer").field("addr", &self.addr).finish()
    }
}

impl HttpServer {
    /// Binds `addr` (any address; port 0 picks a free port) and serves `routes` on a thread
    /// of its own until stopped.
    pub fn start(addr: SocketAddr, routes: Router) -> Result<Self, HttpError> {
        let bind_err = |source| HttpError::Bind { addr, source };
        let socket = std::net::TcpListener::bind(addr).map_err(bind_err)?;
        socket.set_nonblocking(true).map_err(bind_err)?;
        let local = socket.local_addr().map_err(bind_err)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(MAX_BLOCKING_HANDLERS)
            .thread_name("kstreams-http-blocking")
            .build()
            .map_err(HttpError::Thread)?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(socket).map_err(bind_err)?
        };
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("kstreams-http".into())
            .spawn(move || {
                runtime.block_on(serve(listener, routes, stopped));
                // Blocking handlers still running finish on their own; do not wait for them.
                runtime.shutdown_timeout(Duration::ZERO);
            })
            .map_err(HttpError::Thread)?;
        tracing::info!(addr = %local, "HTTP server listening");
        Ok(Self { addr: local, stop, thread: Some(thread) })
    }

    /// The bound address (with the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests under way finish (up to [`STOP_GRACE`]) and waits for
    /// the server's thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the HTTP server thread panicked");
            }
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Resolves once the server is asked to stop (or its handle is gone).
async fn stopping(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The accept loop: one task per connection, at most [`MAX_CONNECTIONS`] at once.
async fn serve(listener: tokio::net::TcpListener, routes: Router, stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    let stopped = stopping(stop.clone());
    tokio::pin!(stopped);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = &mut stopped => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(routes.clone());
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(false)
                // `Content-Type`, `Location`, as the server wrote them before hyper.
                .title_case_headers(true)
                .max_buf_size(MAX_REQUEST_BYTES)
                .header_read_timeout(IO_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let served = tokio::time::timeout(CONNECTION_TIMEOUT, async {
                tokio::select! {
                    done = connection.as_mut() => done,
                    _ = stopping(stop) => {
                        // Finishes a request under way; closes a connection waiting for one.
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                }
            });
            match served.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTP connection failed"),
                Err(_) => tracing::debug!(%peer, "HTTP connection closed after {CONNECTION_TIMEOUT:?}"),
            }
        });
    }
    drop(listener); // the port is free from here on
    let drained =
        tokio::time::timeout(STOP_GRACE, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "HTTP connections still open {STOP_GRACE:?} after stop; closing them"
        );
        connections.abort_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    use super::*;

    fn send(addr: SocketAddr, raw: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn scraping_metrics_finds_a_recorded_counter() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("kstreams_test_scrapes_total", "thread" => "t-1").increment(3);
        });
        let server = HttpServer::start(loopback(), metrics_router(handle)).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let body = send(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
        assert!(body.contains("Connection: close\r\n"), "{body}");
        assert!(body.contains("kstreams_test_scrapes_total{thread=\"t-1\"} 3"), "{body}");
        assert!(send(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(send(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(send(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        let head = send(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"), "{head}");
        server.stop();
        assert!(TcpStream::connect(addr).is_err(), "stopped servers release the port");
    }

    #[test]
    fn oversized_requests_are_refused() {
        let server = HttpServer::start(loopback(), Router::new().fallback(not_found)).unwrap();
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_BYTES));
        assert!(send(server.local_addr(), &long).starts_with("HTTP/1.1 431"));
        let missing = send(server.local_addr(), "GET /missing HTTP/1.1\r\n\r\n");
        assert!(missing.starts_with("HTTP/1.1 404") && missing.ends_with("no such resource: /missing\n"));
    }

    #[test]
    fn any_address_is_bound() {
        let server =
            HttpServer::start("0.0.0.0:0".parse().unwrap(), Router::new().fallback(not_found)).unwrap();
        assert!(server.local_addr().ip().is_unspecified());
        let at = SocketAddr::from(([127, 0, 0, 1], server.local_addr().port()));
        assert!(send(at, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn a_blocking_handler_holds_up_no_other_request() {
        let slow = || {
            std::thread::sleep(Duration::from_secs(3));
            "slow\n"
        };
        let routes = Router::new()
            .route("/slow", get(move || blocking(slow)))
            .route("/fast", get(|| async { "fast\n" }))
            .route("/panics", get(|| blocking(|| -> &'static str { panic!("handler bug") })));
        let server = HttpServer::start(loopback(), routes).unwrap();
        let addr = server.local_addr();
        let waiting = std::thread::spawn(move || send(addr, "GET /slow HTTP/1.1\r\n\r\n"));
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        assert!(send(addr, "GET /fast HTTP/1.1\r\n\r\n").ends_with("fast\n"));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(send(addr, "GET /panics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 500"));
        assert!(waiting.join().unwrap().ends_with("slow\n"));
    }

    #[test]
    fn stopping_closes_idle_connections_at_once() {
        let server = HttpServer::start(loopback(), Router::new().fallback(not_found)).unwrap();
        let idle = TcpStream::connect(server.local_addr()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        server.stop();
        assert!(started.elapsed() < Duration::from_secs(2), "stop took {:?}", started.elapsed());
        drop(idle);
    }
}
