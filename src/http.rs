//! A tiny, bounded HTTP/1.1 server on the loopback interface, for Prometheus scrapes
//! (`GET /metrics`) and other small read-only endpoints of an application.
//!
//! ```
//! use kstreams::http::{metrics_handler, HttpServer};
//! use metrics_exporter_prometheus::PrometheusBuilder;
//!
//! let recorder = PrometheusBuilder::new().build_recorder();
//! let handle = recorder.handle();
//! metrics::with_local_recorder(&recorder, || metrics::counter!("demo_total").increment(1));
//! let server = HttpServer::start("127.0.0.1:0".parse()?, metrics_handler(handle))?;
//! println!("scrape http://{}/metrics", server.local_addr());
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! One thread accepts and answers connections one at a time (a scrape endpoint needs no
//! more), a request head is read up to [`MAX_REQUEST_BYTES`] and sockets time out after
//! [`IO_TIMEOUT`], so a slow or hostile client costs at most that. It binds loopback
//! addresses only: metrics and state are not for the network unless a proxy is put in front.
//! Standard library sockets only — no async runtime, no HTTP framework.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Largest request head (request line and headers) read; longer requests get 431.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Read and write timeout of a connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// What failed while serving HTTP or installing the metrics recorder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The address is not a loopback address.
    #[error("{addr} is not a loopback address: the HTTP server only binds 127.0.0.1 (or ::1)")]
    NotLoopback {
        /// The rejected address.
        addr: SocketAddr,
    },
    /// Binding or configuring the listening socket failed.
    #[error("binding the HTTP server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The accept thread could not be started.
    #[error("starting the HTTP server thread: {0}")]
    Thread(std::io::Error),
    /// Installing the Prometheus recorder failed (another global recorder is installed).
    #[error("installing the Prometheus metrics recorder: {0}")]
    Recorder(String),
}

/// A parsed request: method and path (without the query string), and the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, e.g. `/metrics`.
    pub path: String,
    /// The query string without `?` (empty when absent).
    pub query: String,
}

/// A response: status code, content type, body, and for a redirect its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
    /// `Location` header value (redirects).
    pub location: Option<String>,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8".into(),
            body: body.into().into_bytes(),
            location: None,
        }
    }

    /// A `200 OK` with `content_type`.
    pub fn ok(content_type: &str, body: Vec<u8>) -> Self {
        Self { status: 200, content_type: content_type.into(), body, location: None }
    }

    /// A `307 Temporary Redirect` to `location` (the same request, elsewhere).
    pub fn redirect(location: String) -> Self {
        let mut r = Self::text(307, format!("see {location}\n"));
        r.location = Some(location);
        r
    }

    /// A 404 for `path`.
    pub fn not_found(path: &str) -> Self {
        Self::text(404, format!("no such resource: {path}\n"))
    }
}

/// Answers requests; called on the server's thread, one request at a time.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Installs a Prometheus recorder as the global `metrics` recorder, so every metric the
/// runtime records from then on can be rendered by the returned handle.
pub fn install_prometheus_recorder() -> Result<PrometheusHandle, HttpError> {
    PrometheusBuilder::new().install_recorder().map_err(|e| HttpError::Recorder(e.to_string()))
}

/// A handler serving `GET /metrics` in the Prometheus text format from `handle`.
pub fn metrics_handler(handle: PrometheusHandle) -> Handler {
    Arc::new(move |req: &Request| match req.path.as_str() {
        "/metrics" => {
            handle.run_upkeep();
            Response::ok("text/plain; version=0.0.4; charset=utf-8", handle.render().into_bytes())
        }
        "/" => Response::text(200, "kstreams: metrics at /metrics\n"),
        other => Response::not_found(other),
    })
}

/// A running server; stopped by [`Self::stop`] or on drop.
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer").field("addr", &self.addr).finish()
    }
}

impl HttpServer {
    /// Binds `addr` (a loopback address; port 0 picks a free port) and serves `handler` on a
    /// thread. Only `GET` and `HEAD` are answered; other methods get 405.
    pub fn start(addr: SocketAddr, handler: Handler) -> Result<Self, HttpError> {
        if !addr.ip().is_loopback() {
            return Err(HttpError::NotLoopback { addr });
        }
        let bind_err = |source| HttpError::Bind { addr, source };
        let listener = TcpListener::bind(addr).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kstreams-http".into())
            .spawn(move || accept_loop(&listener, &handler, &flag))
            .map_err(HttpError::Thread)?;
        tracing::info!(addr = %local, "HTTP server listening");
        Ok(Self { addr: local, stop, thread: Some(thread) })
    }

    /// The bound address (with the real port when started on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
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

fn accept_loop(listener: &TcpListener, handler: &Handler, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = serve(stream, handler) {
                    tracing::debug!(%peer, error = %e, "HTTP connection failed");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Reads one request head, answers it and closes the connection.
fn serve(mut stream: TcpStream, handler: &Handler) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_complete = loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if buf.len() >= MAX_REQUEST_BYTES {
            break false;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break !buf.is_empty();
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (response, head_only) = if !head_complete {
        (Response::text(431, "request head too large\n"), false)
    } else {
        match parse_request(&buf) {
            None => (Response::text(400, "malformed request\n"), false),
            Some(req) if req.method == "GET" => (handler(&req), false),
            Some(req) if req.method == "HEAD" => (handler(&req), true),
            Some(_) => (Response::text(405, "only GET and HEAD are supported\n"), false),
        }
    };
    write_response(&mut stream, &response, head_only)?;
    linger(&mut stream)
}

/// Closes our side, then reads (a bounded amount of) what the client still sends, so that
/// closing with unread input does not reset the connection before the client read the reply.
fn linger(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.shutdown(std::net::Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut sink = [0u8; 4096];
    let mut left = 16 * MAX_REQUEST_BYTES;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
    Ok(())
}

/// Parses the request line (`METHOD /path?query HTTP/1.x`).
fn parse_request(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split_ascii_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Some(Request { method: method.to_string(), path: path.to_string(), query: query.to_string() })
}

fn write_response(stream: &mut TcpStream, r: &Response, head_only: bool) -> std::io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "",
    };
    // Only our own handlers set a location; refuse line breaks anyway (header injection).
    let location = match &r.location {
        Some(l) if !l.contains(['\r', '\n']) => format!("Location: {l}\r\n"),
        _ => String::new(),
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{location}Connection: close\r\n\r\n",
        r.status,
        r.content_type,
        r.body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    fn get(addr: SocketAddr, raw: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn scraping_metrics_finds_a_recorded_counter() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("kstreams_test_scrapes_total", "thread" => "t-1").increment(3);
        });
        let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), metrics_handler(handle)).unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        let body = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
        assert!(body.contains("kstreams_test_scrapes_total{thread=\"t-1\"} 3"), "{body}");
        assert!(get(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(get(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        let head = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"), "{head}");
        server.stop();
        assert!(TcpStream::connect(addr).is_err(), "stopped servers release the port");
    }

    #[test]
    fn oversized_requests_are_refused() {
        let handler: Handler = Arc::new(|_: &Request| Response::text(200, "ok"));
        let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), handler).unwrap();
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_BYTES));
        assert!(get(server.local_addr(), &long).starts_with("HTTP/1.1 431"));
    }

    #[test]
    fn only_loopback_addresses_are_bound() {
        let handler: Handler = Arc::new(|_: &Request| Response::text(200, "ok"));
        let e = HttpServer::start("0.0.0.0:0".parse().unwrap(), handler).unwrap_err();
        assert!(matches!(e, HttpError::NotLoopback { .. }), "{e}");
    }

    #[test]
    fn request_lines_are_parsed() {
        let r = parse_request(b"GET /windows?sensor=7 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/windows", "sensor=7"));
        assert!(parse_request(b"GET nope HTTP/1.1\r\n\r\n").is_none());
        assert!(parse_request(b"\xff\xfe").is_none());
    }
}
