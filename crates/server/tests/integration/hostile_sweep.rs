//! SECURITY.md REL-11: a hostile-input sweep over every endpoint of the real binary, beside a
//! steady load. 1 MiB bodies, 10,000 parameters, an 8 KiB header (and a 20 KiB one), invalid
//! UTF-8 in bodies and queries each get an answer below 500, refused on what was read rather
//! than by a timeout; a client that trickles its headers or its body is cut off at the
//! configured timeout; the load sees no error, and the log no panic.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::signin::PEOPLE;
use crate::support::{ServerProcess, config_text, free_port, sqlite_url, write_file};

const POSTS: &[&str] = &[
    "/token",
    "/introspect",
    "/revoke",
    "/device_authorization",
    "/par",
    "/bc-authorize",
    "/ciba/approve",
    "/device",
    "/userinfo",
    "/authorize",
    "/login",
    "/consent",
    "/end_session",
    "/end_session/confirm",
];
const GETS: &[&str] = &[
    "/authorize",
    "/userinfo",
    "/end_session",
    "/login",
    "/device",
    "/ciba/approve",
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
    "/check_session",
    "/healthz",
];

/// Sends a request; returns its status and how long the answer took. An answer that does not
/// come within 30 s fails the test.
#[allow(clippy::disallowed_methods)] // reports how long answers took
async fn probe(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
    header: Option<&str>,
) -> (u16, Duration) {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
    }
    if let Some(value) = header {
        request = request.header("x-padding", value);
    }
    let started = Instant::now();
    let status = match request.timeout(Duration::from_secs(30)).send().await {
        Ok(response) => response.status().as_u16(),
        Err(e) => panic!("{url:.80}: {e:?}"),
    };
    (status, started.elapsed())
}

/// A POST that announces a `length`-byte body and waits for `100 Continue` before sending it
/// (RFC 9110 §10.1.1), so that a refusal made on the announced length alone is read whole:
/// were the body sent at once, the server's close of a connection with unread bytes could
/// reset it before its answer is read. Returns the final status and how long it took.
#[allow(clippy::disallowed_methods)] // reports how long answers took
async fn announced_body(url: &str, length: usize) -> (u16, Duration) {
    let (addr, path) = addr_and_path(url);
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = connect(&addr);
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
        )
        .unwrap();
        let mut status = read_status(&mut stream);
        if status == 100 {
            // The server wants the body: it is sent, and the final answer read.
            let chunk = vec![b'a'; 64 * 1024];
            let mut left = length;
            while left > 0 {
                let n = left.min(chunk.len());
                if stream.write_all(&chunk[..n]).is_err() {
                    break;
                }
                left -= n;
            }
            status = read_status(&mut stream);
        }
        (status, started.elapsed())
    })
    .await
    .unwrap()
}

/// The `host:port` and path of `url`.
fn addr_and_path(url: &str) -> (String, String) {
    let url = url::Url::parse(url).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    (addr, url.path().to_string())
}

/// A connection to `addr` whose reads and writes give up after 30 s.
fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Reads one response head from `stream` and returns its status code.
fn read_status(stream: &mut TcpStream) -> u16 {
    read_status_or_closed(stream).unwrap_or_else(|head| panic!("no whole answer after {head:?}"))
}

/// The status of the response head on `stream`, or what was read of it when the connection
/// closed (or was reset) first.
fn read_status_or_closed(stream: &mut TcpStream) -> Result<u16, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return Err(String::from_utf8_lossy(&head).into_owned()),
        }
    }
    let line = String::from_utf8_lossy(&head);
    Ok(line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap())
}

/// A POST of a `length`-byte body sent at once, announced by `Content-Length` or chunked; its
/// status, or 0 when the server closed the connection before an answer could be read (it may
/// close on the unread rest of a body it refused). A read that times out fails the test.
#[allow(clippy::disallowed_methods)] // reports how long answers took
async fn body_at_once(url: &str, length: usize, chunked: bool) -> (u16, Duration) {
    let (addr, path) = addr_and_path(url);
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = connect(&addr);
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {length}")
        };
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n{framing}\r\n\r\n"
        )
        .into_bytes();
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..length / chunk.len() {
            if chunked {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            }
            request.extend_from_slice(&chunk);
            if chunked {
                request.extend_from_slice(b"\r\n");
            }
        }
        if chunked {
            request.extend_from_slice(b"0\r\n\r\n");
        }
        // The server may stop reading and close: what could not be written is left.
        let _ = stream.write_all(&request);
        let status = match read_status_or_closed(&mut stream) {
            Ok(status) => status,
            Err(head) if head.is_empty() => 0,
            Err(head) => panic!("a partial answer: {head:?}"),
        };
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "closed by a timeout, not on what was read"
        );
        (status, started.elapsed())
    })
    .await
    .unwrap()
}

/// Writes `head` at once, then one byte of `trickle` a second; returns when the server closes
/// the connection, and what it answered.
#[allow(clippy::disallowed_methods)] // measures when the server lets go of a slow client
fn trickle(addr: &str, head: &'static [u8], trickle: &'static [u8]) -> (Duration, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(1_000)))
        .unwrap();
    stream.write_all(head).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for byte in trickle.iter().cycle() {
        let mut buf = [0u8; 512];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if stream.write_all(&[*byte]).is_err() || started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn rel11_hostile_input_on_every_endpoint_gets_a_quick_4xx_beside_a_steady_load() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let extra = format!("[http]\nheader_read_timeout = 2\nrequest_timeout = 2\n{PEOPLE}");
    let config = write_file(
        dir.path(),
        "tessera.toml",
        &config_text(port, &sqlite_url(dir.path()), &extra),
    );
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_logging(&config, port, Some(&log), "info").await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    // Each hostile request on its own connection: the server closes a connection after
    // refusing what it could not read.
    let hostile = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let (http, stop, url) = (http.clone(), stop.clone(), format!("{base}{path}"));
        load.spawn(async move {
            let (mut ok, mut failed) = (0usize, 0usize);
            while !stop.load(Ordering::SeqCst) {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        });
    }

    let mib = vec![b'a'; 1 << 20];
    let many: Vec<u8> = (0..10_000)
        .map(|i| format!("p{i}=v"))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes();
    let bad_utf8 = b"client_id=\xff\xfe&grant_type=\xc3\x28".to_vec();
    let (header_8k, header_20k) = ("h".repeat(8 * 1024), "h".repeat(20 * 1024));
    let mut answers = vec![];
    for path in POSTS {
        let url = format!("{base}{path}");
        for (what, body, header) in [
            ("1 MiB body", Some(mib.clone()), None),
            ("10,000 parameters", Some(many.clone()), None),
            ("invalid UTF-8 body", Some(bad_utf8.clone()), None),
            (
                "8 KiB header",
                Some(b"a=b".to_vec()),
                Some(header_8k.as_str()),
            ),
            (
                "20 KiB header",
                Some(b"a=b".to_vec()),
                Some(header_20k.as_str()),
            ),
        ] {
            let (status, took) = if what == "1 MiB body" {
                announced_body(&url, mib.len()).await
            } else {
                probe(&hostile, Method::POST, &url, body, header).await
            };
            answers.push((format!("POST {path} {what}"), status, took));
        }
        // The same body sent at once, with its length or chunked: refused on what was read
        // (413), or the connection closed on the unread rest; never a 5xx or a wait.
        for chunked in [false, true] {
            let (status, took) = body_at_once(&url, mib.len(), chunked).await;
            let what = if chunked {
                "chunked"
            } else {
                "with its length"
            };
            answers.push((format!("POST {path} 1 MiB at once, {what}"), status, took));
        }
    }
    // 10,000 parameters in a query (40 KB; the HTTP client's own limit on a URI is 64 KiB).
    let many_query = "a=1&".repeat(10_000);
    for path in GETS {
        for (what, query, header) in [
            ("10,000 parameters", many_query.as_str(), None),
            ("invalid UTF-8 query", "client_id=%FF%FE&scope=%C3%28", None),
            ("8 KiB header", "a=b", Some(header_8k.as_str())),
            ("20 KiB header", "a=b", Some(header_20k.as_str())),
        ] {
            let url = format!("{base}{path}?{query}");
            let (status, took) = probe(&hostile, Method::GET, &url, None, header).await;
            answers.push((format!("GET {path} {what}"), status, took));
        }
    }
    for (what, status, _) in &answers {
        assert!(*status < 500, "{what}: {status}");
        // Refused on what was read, not left to the request or header timeout (408).
        assert_ne!(*status, 408, "{what}: answered by a timeout");
        if what.contains("1 MiB at once") {
            // 0: closed before an answer could be read.
            assert!(matches!(*status, 0 | 413), "{what}: {status}");
        } else if what.contains("1 MiB") {
            assert_eq!(*status, 413, "{what}");
        }
        if what.contains("20 KiB") {
            assert_eq!(*status, 431, "{what}");
        }
    }
    let slowest = answers.iter().map(|a| a.2).max().unwrap();

    // Slow clients: headers at one byte a second, then a body at one byte a second.
    let addr = base.trim_start_matches("http://").to_string();
    let (a, b) = (addr.clone(), addr);
    let slow_headers = tokio::task::spawn_blocking(move || {
        trickle(
            &a,
            b"POST /token HTTP/1.1\r\nHost: x\r\nX-Slow: ",
            b"abcdefgh",
        )
    });
    let slow_body = tokio::task::spawn_blocking(move || {
        trickle(
            &b,
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
            b"abcdefgh",
        )
    });
    let (headers_cut, _) = slow_headers.await.unwrap();
    let (body_cut, body_answer) = slow_body.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = load
        .join_all()
        .await
        .into_iter()
        .fold((0, 0), |(o, f), (a, b)| (o + a, f + b));
    eprintln!(
        "REL-11: {} hostile requests, slowest answer {slowest:?}; slow headers cut after {headers_cut:?}, slow body after {body_cut:?}; load beside it: {ok} ok, {failed} failed",
        answers.len()
    );
    assert!(
        headers_cut < Duration::from_secs(5),
        "slow headers held {headers_cut:?}"
    );
    assert!(
        body_cut < Duration::from_secs(5),
        "slow body held {body_cut:?}"
    );
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    assert!(ok > 0);
    assert_eq!(failed, 0, "the load beside the sweep saw errors");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
    drop(server);
}
