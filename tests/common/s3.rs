//! An S3 server for tests, in-process, and a proxy that injects faults
//! between a client and it.
//!
//! [`S3Server`] is `s3s-fs` (objects are plain files under
//! `root/<bucket>/<key>`) behind `s3s`'s HTTP service with signature-v4
//! authentication for one key pair, served by hyper on a tokio runtime of
//! its own in a background thread. [`FaultProxy`] sits in front of any
//! HTTP/1.1 upstream and forwards request by request, failing, delaying or
//! dropping them on command.
//!
//! Both hand out `AWS_*` environment variables (`env()`) that an
//! `object_store::aws::AmazonS3Builder::from_env()` client reads, so a child
//! process can be pointed at either. Include with
//! `#[path = "common/s3.rs"] mod s3;`: it is not part of `common/mod.rs`, so
//! test binaries that do not use it do not link the server.
#![allow(dead_code)]

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::io::BufReader;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// The bucket every server creates at start.
pub const BUCKET: &str = "snapshots";
/// The one access key the server accepts.
pub const ACCESS_KEY: &str = "timely-connect-test";
/// Its secret.
pub const SECRET_KEY: &str = "timely-connect-test-secret-0123456789";
/// The region clients sign for (the server accepts any).
pub const REGION: &str = "us-east-1";

/// How long `restart` keeps trying to bind an address that is briefly in use.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

/// The `AWS_*` variables that point an `object_store` S3 client at
/// `endpoint` with the test credentials.
fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", REGION),
        ("AWS_ALLOW_HTTP", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A listening socket, bound from the calling thread (so in the calling
/// thread's network namespace), non-blocking for tokio.
fn bind(addr: SocketAddr) -> io::Result<StdTcpListener> {
    let listener = StdTcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A single-threaded runtime for one background server thread.
fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(name)
        .build()
        .unwrap_or_else(|e| panic!("{name}: build a tokio runtime: {e}"))
}

/// A background thread that runs `serve` on its own runtime until its stop
/// sender is used or dropped; stopping drops every task the server spawned,
/// so every connection it had is closed by the time `stop` returns.
struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    fn spawn<F, Fut>(name: &str, serve: F) -> Background
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let rt = runtime(name);
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                rt.block_on(serve(stop_rx));
                // Drops the connection tasks (closing their sockets); waits
                // a little for blocking file operations in flight.
                rt.shutdown_timeout(Duration::from_secs(5));
            })
            .unwrap_or_else(|e| panic!("{name}: spawn thread: {e}"));
        Background {
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("a test server thread panicked");
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts connections until `stop` fires, handing each to `handle` as a
/// task of the current runtime.
async fn accept_loop<H, Fut>(listener: StdTcpListener, mut stop: oneshot::Receiver<()>, handle: H)
where
    H: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => panic!("register the listener with tokio: {e}"),
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(handle(stream));
                }
                // Out of file descriptors, or a connection reset before it
                // was accepted: not fatal, try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

// ------------------------------------------------------------------ S3Server

/// An S3-compatible server (s3s-fs over hyper) on a background thread.
///
/// Requests must be signed (signature v4) with [`ACCESS_KEY`] and
/// [`SECRET_KEY`]; anything else is refused with `403`. Bucket
/// [`BUCKET`] exists from the start. Objects are files under
/// `root/<bucket>/<key>`, so a test can also look at them directly.
pub struct S3Server {
    root: PathBuf,
    addr: SocketAddr,
    running: Option<Background>,
}

impl S3Server {
    /// Starts a server on 127.0.0.1 on a free port, storing under `root`
    /// (created if missing). It accepts connections when this returns.
    pub fn start(root: &Path) -> S3Server {
        S3Server::start_on(root, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts a server on `addr` (port 0: a free one). The socket is bound
    /// from the calling thread, so in that thread's network namespace.
    pub fn start_on(root: &Path, addr: SocketAddr) -> S3Server {
        std::fs::create_dir_all(root.join(BUCKET))
            .unwrap_or_else(|e| panic!("S3Server: create {}: {e}", root.display()));
        let listener = bind(addr).unwrap_or_else(|e| panic!("S3Server: bind {addr}: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("S3Server: local address: {e}"));
        let mut server = S3Server {
            root: root.to_path_buf(),
            addr,
            running: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: StdTcpListener) {
        let service = s3_service(&self.root);
        self.running = Some(Background::spawn("s3-server", move |stop| {
            accept_loop(listener, stop, move |stream| {
                let service = service.clone();
                async move {
                    // The connection ends with an error when the client
                    // goes away mid-request; nothing to do about that here.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            })
        }));
    }

    /// Stops the server: when this returns it no longer listens (connects
    /// are refused) and every connection it had is closed. Data stays.
    pub fn stop(&mut self) {
        if let Some(mut running) = self.running.take() {
            running.stop();
        }
    }

    /// Starts the server again on the same address and data root (stopping
    /// it first if it runs). Binds from the calling thread; retries for a
    /// few seconds while the port is still in use.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + REBIND_TIMEOUT;
        let listener = loop {
            match bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("S3Server: bind {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Whether the server is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where object `key` of [`BUCKET`] is stored.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }

    /// The epochs of the snapshot objects (`snapshot-{epoch:020}.tcs`)
    /// under `prefix`, ascending, read straight from the server's files.
    pub fn snapshot_epochs(&self, prefix: &str) -> Vec<u64> {
        let mut epochs: Vec<u64> = std::fs::read_dir(self.object_path(prefix))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_prefix("snapshot-")?
                            .strip_suffix(".tcs")?
                            .parse()
                            .ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        epochs.sort();
        epochs
    }

    /// The bucket that exists from the start, [`BUCKET`].
    pub fn bucket(&self) -> &'static str {
        BUCKET
    }

    /// The access key requests must be signed with, [`ACCESS_KEY`].
    pub fn access_key(&self) -> &'static str {
        ACCESS_KEY
    }

    /// Its secret, [`SECRET_KEY`].
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// The region of [`S3Server::env`], [`REGION`] (any region's signature is accepted).
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION` and `AWS_ALLOW_HTTP=true` for a child process.
    pub fn env(&self) -> Vec<(String, String)> {
        aws_env(&self.endpoint())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn s3_service(root: &Path) -> S3Service {
    let fs = s3s_fs::FileSystem::new(root)
        .unwrap_or_else(|e| panic!("S3Server: open {}: {e:?}", root.display()));
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    builder.build()
}

// ---------------------------------------------------------------- FaultProxy

/// What the proxy's connections share with the test.
struct Controls {
    /// Requests still to fail, and the status to fail them with.
    fail: Mutex<(u64, u16)>,
    delay: Mutex<Duration>,
    /// `true` while down; connections watch it to drop themselves.
    down: watch::Sender<bool>,
    connections: AtomicU64,
    seen: AtomicU64,
    failed: AtomicU64,
    forwarded: AtomicU64,
    upstream_errors: AtomicU64,
}

impl Controls {
    fn take_failure(&self) -> Option<u16> {
        let mut fail = self.fail.lock().unwrap_or_else(|e| e.into_inner());
        if fail.0 == 0 {
            return None;
        }
        fail.0 -= 1;
        Some(fail.1)
    }

    fn delay(&self) -> Duration {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An HTTP/1.1 proxy on 127.0.0.1 in front of `upstream`, forwarding
/// request by request (keep-alive kept: each client connection has one
/// upstream connection) and injecting faults on command. The controls may
/// be used from any thread while requests are in flight.
///
/// Request heads are forwarded byte for byte, so signed requests stay
/// valid. When upstream cannot be reached the proxy answers `502` with an
/// S3-style error body and closes the connection.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    controls: Arc<Controls>,
    running: Background,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 on a free port; it accepts connections
    /// when this returns.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap_or_else(|e| panic!("FaultProxy: bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("FaultProxy: local address: {e}"));
        let controls = Arc::new(Controls {
            fail: Mutex::new((0, 503)),
            delay: Mutex::new(Duration::ZERO),
            down: watch::Sender::new(false),
            connections: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            upstream_errors: AtomicU64::new(0),
        });
        let shared = Arc::clone(&controls);
        let running = Background::spawn("s3-fault-proxy", move |stop| {
            accept_loop(listener, stop, move |stream| {
                proxy_connection(stream, upstream, Arc::clone(&shared))
            })
        });
        FaultProxy {
            addr,
            upstream,
            controls,
            running,
        }
    }

    /// The next `n` requests get an S3-style error response with `status`
    /// (`503` → `SlowDown`, `500` → `InternalError`, …) without reaching
    /// upstream. Replaces what was left of an earlier `fail_next`.
    pub fn fail_next(&self, n: u64, status: u16) {
        *self.controls.fail.lock().unwrap_or_else(|e| e.into_inner()) = (n, status);
    }

    /// While down, new connections are accepted and reset at once and
    /// connections in flight are reset (requests on them get no response).
    pub fn set_down(&self, down: bool) {
        self.controls.down.send_replace(down);
    }

    /// Latency added to every request, before it is failed or forwarded.
    pub fn delay(&self, delay: Duration) {
        *self
            .controls
            .delay
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// Client connections accepted (while up).
    pub fn connections(&self) -> u64 {
        self.controls.connections.load(Ordering::SeqCst)
    }

    /// Requests whose head the proxy read.
    pub fn requests_seen(&self) -> u64 {
        self.controls.seen.load(Ordering::SeqCst)
    }

    /// Requests answered with an injected error (`fail_next`).
    pub fn requests_failed(&self) -> u64 {
        self.controls.failed.load(Ordering::SeqCst)
    }

    /// Requests sent on to upstream in full.
    pub fn requests_forwarded(&self) -> u64 {
        self.controls.forwarded.load(Ordering::SeqCst)
    }

    /// Requests answered `502` because upstream could not be reached.
    pub fn upstream_errors(&self) -> u64 {
        self.controls.upstream_errors.load(Ordering::SeqCst)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address it forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Like [`S3Server::env`], with the endpoint pointing at the proxy.
    pub fn env(&self) -> Vec<(String, String)> {
        aws_env(&self.endpoint())
    }

    /// Stops the proxy; every connection it had is closed. Dropping does
    /// the same.
    pub fn stop(&mut self) {
        self.running.stop();
    }
}

/// Largest request or response head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers in one head.
const MAX_HEADERS: usize = 128;

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the proxy needs from a request head.
struct RequestHead {
    raw: Vec<u8>,
    is_head: bool,
    framing: Framing,
    expect_continue: bool,
    close: bool,
}

/// What the proxy needs from a response head.
struct ResponseHead {
    raw: Vec<u8>,
    status: u16,
    framing: Framing,
    close: bool,
}

/// One client connection: reads requests one by one, and fails, forwards
/// or drops each. Returns (closing the connection) at the client's EOF, on
/// any I/O or protocol error, or when the proxy goes down.
async fn proxy_connection(client: TcpStream, upstream: SocketAddr, controls: Arc<Controls>) {
    let mut down = controls.down.subscribe();
    if *down.borrow_and_update() {
        reset(&client);
        return;
    }
    controls.connections.fetch_add(1, Ordering::SeqCst);
    let mut client = BufReader::new(client);
    tokio::select! {
        _ = down.wait_for(|down| *down) => reset(client.get_ref()),
        _ = exchange_requests(&mut client, upstream, &controls) => {}
    }
}

/// Closes with RST instead of FIN, as a failed network path would look.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn exchange_requests(
    client: &mut BufReader<TcpStream>,
    upstream_addr: SocketAddr,
    controls: &Controls,
) -> io::Result<()> {
    let mut upstream: Option<BufReader<TcpStream>> = None;
    loop {
        if let Some(up) = upstream.as_mut() {
            // Between requests, mirror upstream closing its connection (as
            // a server that stops does) by closing the client's, so the
            // client's pool sees it as it would without the proxy.
            tokio::select! {
                ready = client.fill_buf() => { ready?; }
                _ = up.fill_buf() => return Ok(()),
            }
        }
        let Some(request) = read_request_head(client).await? else {
            return Ok(());
        };
        controls.seen.fetch_add(1, Ordering::SeqCst);
        let delay = controls.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }

        if let Some(status) = controls.take_failure() {
            controls.failed.fetch_add(1, Ordering::SeqCst);
            // A client waiting for `100 Continue` has not sent its body:
            // answer and close rather than guess where the next request
            // starts.
            let close = request.close || request.expect_continue;
            if !request.expect_continue {
                copy_body(client, &mut tokio::io::sink(), request.framing).await?;
            }
            write_error(client.get_mut(), status, request.is_head, close).await?;
            if close {
                return Ok(());
            }
            continue;
        }

        let up = match upstream.as_mut() {
            Some(up) => up,
            None => match TcpStream::connect(upstream_addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    upstream.insert(BufReader::new(stream))
                }
                Err(_) => {
                    controls.upstream_errors.fetch_add(1, Ordering::SeqCst);
                    if !request.expect_continue {
                        copy_body(client, &mut tokio::io::sink(), request.framing).await?;
                    }
                    write_error(client.get_mut(), 502, request.is_head, true).await?;
                    return Ok(());
                }
            },
        };

        up.get_mut().write_all(&request.raw).await?;
        if request.expect_continue {
            // The proxy lets the body come; upstream's own interim
            // responses are relayed as well, which clients must accept.
            client
                .get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        copy_body(client, up.get_mut(), request.framing).await?;
        up.get_mut().flush().await?;
        controls.forwarded.fetch_add(1, Ordering::SeqCst);

        let response = loop {
            let response = read_response_head(up, request.is_head).await?;
            client.get_mut().write_all(&response.raw).await?;
            // 101 would switch protocols, which S3 never does.
            if (100..200).contains(&response.status) && response.status != 101 {
                continue;
            }
            break response;
        };
        copy_body(up, client.get_mut(), response.framing).await?;
        client.get_mut().flush().await?;
        if request.close || response.close || response.framing == Framing::UntilClose {
            return Ok(());
        }
    }
}

/// Reads one head (up to and including the empty line). `None` at EOF
/// before its first byte.
async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    loop {
        let start = raw.len();
        let n = (&mut *reader)
            .take((MAX_HEAD - start) as u64 + 1)
            .read_until(b'\n', &mut raw)
            .await?;
        if n == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message head",
            ));
        }
        if raw.len() > MAX_HEAD {
            return Err(invalid("message head too large"));
        }
        let line = &raw[start..];
        if line == b"\r\n" || line == b"\n" {
            // Blank lines before a request line are allowed (RFC 9112 2.2).
            if start == 0 {
                raw.clear();
                continue;
            }
            return Ok(Some(raw));
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// The body framing the headers declare; `None` if they declare none.
fn declared_framing(headers: &[httparse::Header<'_>]) -> io::Result<Option<Framing>> {
    let codings = header(headers, "transfer-encoding");
    if let Some(last) = codings.last() {
        if last.eq_ignore_ascii_case("chunked") {
            return Ok(Some(Framing::Chunked));
        }
        return Err(invalid("transfer-encoding without chunked"));
    }
    let lengths = header(headers, "content-length");
    let Some(first) = lengths.first() else {
        return Ok(None);
    };
    if lengths.iter().any(|l| l != first) {
        return Err(invalid("conflicting content-length"));
    }
    let length = first
        .parse::<u64>()
        .map_err(|_| invalid("bad content-length"))?;
    Ok(Some(Framing::Length(length)))
}

/// Whether the connection ends after this message.
fn wants_close(version: Option<u8>, headers: &[httparse::Header<'_>]) -> bool {
    let connection = header(headers, "connection");
    let has = |token: &str| connection.iter().any(|c| c.eq_ignore_ascii_case(token));
    if version == Some(0) {
        !has("keep-alive")
    } else {
        has("close")
    }
}

async fn read_request_head<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<RequestHead>> {
    let Some(raw) = read_head(reader).await? else {
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(invalid("malformed request head")),
    }
    let framing = declared_framing(request.headers)?.unwrap_or(Framing::None);
    let expect_continue = header(request.headers, "expect")
        .iter()
        .any(|e| e.eq_ignore_ascii_case("100-continue"));
    let close = wants_close(request.version, request.headers);
    let is_head = request.method == Some("HEAD");
    Ok(Some(RequestHead {
        raw,
        is_head,
        framing,
        expect_continue,
        close,
    }))
}

async fn read_response_head<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    request_was_head: bool,
) -> io::Result<ResponseHead> {
    let Some(raw) = read_head(reader).await? else {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "upstream closed before responding",
        ));
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&raw) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(invalid("malformed response head")),
    }
    let status = response.code.ok_or_else(|| invalid("no status"))?;
    let framing =
        if request_was_head || (100..200).contains(&status) || status == 204 || status == 304 {
            Framing::None
        } else {
            declared_framing(response.headers)?.unwrap_or(Framing::UntilClose)
        };
    let close = wants_close(response.version, response.headers);
    Ok(ResponseHead {
        raw,
        status,
        framing,
        close,
    })
}

/// Copies one body from `reader` to `writer` as is, reading exactly as far
/// as its framing says.
async fn copy_body<R, W>(reader: &mut R, writer: &mut W, framing: Framing) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    match framing {
        Framing::None => Ok(()),
        Framing::Length(length) => copy_exact(reader, writer, length).await,
        Framing::UntilClose => tokio::io::copy_buf(reader, writer).await.map(drop),
        Framing::Chunked => loop {
            let mut line = Vec::new();
            read_line(reader, &mut line).await?;
            writer.write_all(&line).await?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| l.split(';').next())
                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                .ok_or_else(|| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    let mut trailer = Vec::new();
                    read_line(reader, &mut trailer).await?;
                    writer.write_all(&trailer).await?;
                    if trailer == b"\r\n" || trailer == b"\n" {
                        return Ok(());
                    }
                }
            }
            copy_exact(reader, writer, size).await?;
            let mut end = Vec::new();
            read_line(reader, &mut end).await?;
            if end != b"\r\n" && end != b"\n" {
                return Err(invalid("chunk not followed by CRLF"));
            }
            writer.write_all(&end).await?;
        },
    }
}

async fn copy_exact<R, W>(reader: &mut R, writer: &mut W, length: u64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let copied = tokio::io::copy(&mut (&mut *reader).take(length), writer).await?;
    if copied < length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a body",
        ));
    }
    Ok(())
}

/// Reads one line (with its `\n`) of a chunked body, at most 8 KiB.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<()> {
    const MAX_LINE: u64 = 8 * 1024;
    let n = (&mut *reader)
        .take(MAX_LINE)
        .read_until(b'\n', line)
        .await?;
    if n == 0 || line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "chunked body cut short or line too long",
        ));
    }
    Ok(())
}

/// The S3 error code a status is usually reported with.
fn s3_error_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NoSuchKey",
        409 => "OperationAborted",
        412 => "PreconditionFailed",
        429 | 503 => "SlowDown",
        500 => "InternalError",
        501 => "NotImplemented",
        502 => "BadGateway",
        _ => "InjectedFault",
    }
}

/// Writes an S3-style XML error response (no body for HEAD, as HTTP wants).
async fn write_error<W: AsyncWrite + Unpin>(
    writer: &mut W,
    status: u16,
    is_head: bool,
    close: bool,
) -> io::Result<()> {
    let code = s3_error_code(status);
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Injected Fault");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Error><Code>{code}</Code><Message>{reason} (injected by FaultProxy)</Message>\
         <RequestId>fault-proxy</RequestId></Error>"
    );
    let connection = if close { "close" } else { "keep-alive" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: application/xml\r\n\
         Content-Length: {}\r\n\
         Connection: {connection}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).await?;
    if !is_head {
        writer.write_all(body.as_bytes()).await?;
    }
    writer.flush().await
}

#[cfg(test)]
mod framing_tests {
    use super::*;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        runtime("framing-test").block_on(f)
    }

    #[test]
    fn chunked_body_is_copied_whole_and_no_further() {
        let body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32: AAAA\r\n\r\n";
        let mut input: Vec<u8> = body.to_vec();
        input.extend_from_slice(b"GET /next HTTP/1.1\r\n");
        let mut reader = &input[..];
        let mut out = Vec::new();
        run(copy_body(&mut reader, &mut out, Framing::Chunked)).expect("copy");
        assert_eq!(out, body);
        assert_eq!(reader, b"GET /next HTTP/1.1\r\n");
    }

    #[test]
    fn cut_bodies_are_errors() {
        let mut reader = &b"5\r\nhel"[..];
        let cut = run(copy_body(
            &mut reader,
            &mut tokio::io::sink(),
            Framing::Chunked,
        ));
        assert_eq!(
            cut.expect_err("cut chunk").kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut reader = &b"hel"[..];
        let cut = run(copy_body(
            &mut reader,
            &mut tokio::io::sink(),
            Framing::Length(5),
        ));
        assert_eq!(
            cut.expect_err("cut body").kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn response_framing_follows_the_request_and_status() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let framing = |raw: &[u8], is_head| {
            let mut reader = raw;
            run(read_response_head(&mut reader, is_head))
                .expect("parse")
                .framing
        };
        assert_eq!(framing(head, false), Framing::Length(10));
        assert_eq!(framing(head, true), Framing::None);
        assert_eq!(
            framing(b"HTTP/1.1 204 No Content\r\n\r\n", false),
            Framing::None
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Framing::Chunked
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\n\r\n", false),
            Framing::UntilClose
        );
    }
}
