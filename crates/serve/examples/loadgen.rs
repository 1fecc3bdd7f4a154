//! A fixed-rate (open-loop) HTTP load generator for the benchmark script,
//! like wrk2: requests leave on a schedule, and each latency is measured
//! from the request's *scheduled* time, so a stall is not hidden by the
//! generator waiting for it (coordinated omission).
//!
//! `loadgen URL_PREFIX IDS_FILE RATE SECONDS [CONNECTIONS]`: GETs
//! `URL_PREFIX{id}` over keep-alive HTTP/1.1 connections, `RATE` requests
//! per second in total, and prints one line of figures.
//!
//! One thread drives every connection from a `ppoll` loop, as wrk2 drives
//! its connections from an event loop: on a 2-core machine that shares its
//! cores with the server and Redis, a thread per connection would add a
//! wake-up and a context switch to every request and take CPU time from
//! the server under test. `ppoll` takes a nanosecond timeout, so requests
//! leave on time (an epoll or Tokio timer would round up to a millisecond,
//! and that delay would count as latency).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Context;

/// One keep-alive connection and its own schedule: a request every
/// `period`, the next one leaving when both its time has come and the
/// previous response is in.
struct Connection {
    stream: TcpStream,
    /// When the current (or next) request is due.
    due: Instant,
    /// A request is out and its response not yet complete.
    waiting: bool,
    /// The response bytes read so far.
    buffer: Vec<u8>,
    next_id: usize,
}

/// A complete response at the start of `buffer`: its status and length.
fn parse_response(buffer: &[u8]) -> anyhow::Result<Option<(u16, usize)>> {
    let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buffer[..head_end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    let mut length = 0;
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().context("bad content-length")?;
        }
    }
    let total = head_end + 4 + length;
    Ok((buffer.len() >= total).then_some((status, total)))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: loadgen http://HOST:PORT/recommend/ IDS_FILE RATE SECONDS [CONNECTIONS]"
    );
    let prefix = args[0]
        .strip_prefix("http://")
        .context("URL must start with http://")?;
    let (host, path_prefix) = prefix.split_once('/').context("URL needs a path")?;
    let ids: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!ids.is_empty(), "{}: no ids", args[1]);
    let rate: f64 = args[2].parse()?;
    let seconds: f64 = args[3].parse()?;
    let connections: usize = args.get(4).map_or(Ok(16), |c| c.parse())?;
    let period = Duration::from_secs_f64(connections as f64 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(seconds);

    let mut conns = (0..connections)
        .map(|c| -> anyhow::Result<Connection> {
            let stream = TcpStream::connect(host)?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            Ok(Connection {
                stream,
                // Stagger the connections across one period.
                due: start + period.mul_f64(c as f64 / connections as f64),
                waiting: false,
                buffer: Vec::with_capacity(4096),
                next_id: c * 7919,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut latencies_us: Vec<u32> = Vec::with_capacity((rate * seconds * 1.1) as usize);
    let mut errors = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut request = Vec::with_capacity(256);
    let mut pollfds: Vec<libc::pollfd> = Vec::with_capacity(connections);
    let mut polled: Vec<usize> = Vec::with_capacity(connections);

    loop {
        let now = Instant::now();
        // Send every request whose time has come on a free connection.
        let mut next_due: Option<Instant> = None;
        for conn in conns.iter_mut().filter(|c| !c.waiting && c.due < end) {
            if conn.due <= now {
                let id = &ids[conn.next_id % ids.len()];
                conn.next_id += 1;
                request.clear();
                write!(
                    request,
                    "GET /{path_prefix}{id} HTTP/1.1\r\nHost: {host}\r\n\r\n"
                )?;
                // A request is far smaller than an empty socket buffer.
                conn.stream
                    .write_all(&request)
                    .context("sending a request")?;
                conn.waiting = true;
            } else {
                next_due = Some(next_due.map_or(conn.due, |d| d.min(conn.due)));
            }
        }
        if conns.iter().all(|c| !c.waiting && c.due >= end) {
            break;
        }

        pollfds.clear();
        polled.clear();
        for (i, conn) in conns.iter().enumerate().filter(|(_, c)| c.waiting) {
            pollfds.push(libc::pollfd {
                fd: conn.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            polled.push(i);
        }
        let wait = next_due.map_or(Duration::from_millis(100), |d| {
            d.saturating_duration_since(Instant::now())
        });
        let timeout = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `pollfds` is a live, correctly sized array of pollfd and
        // `timeout` a valid timespec; no signal mask is passed.
        let ready = unsafe {
            libc::ppoll(
                pollfds.as_mut_ptr(),
                pollfds.len() as libc::nfds_t,
                &timeout,
                std::ptr::null(),
            )
        };
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            anyhow::ensure!(err.kind() == ErrorKind::Interrupted, "ppoll: {err}");
            continue;
        }
        for (pollfd, &i) in pollfds.iter().zip(&polled) {
            if pollfd.revents == 0 {
                continue;
            }
            let conn = &mut conns[i];
            loop {
                match conn.stream.read(&mut chunk) {
                    Ok(0) => anyhow::bail!("the server closed a connection"),
                    Ok(n) => conn.buffer.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e).context("reading a response"),
                }
            }
            if let Some((status, length)) = parse_response(&conn.buffer)? {
                latencies_us
                    .push(u32::try_from(conn.due.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status != 200 {
                    errors += 1;
                }
                conn.buffer.drain(..length);
                conn.waiting = false;
                conn.due += period;
            }
        }
    }

    anyhow::ensure!(!latencies_us.is_empty(), "no request completed");
    latencies_us.sort_unstable();
    let q = |p: f64| {
        latencies_us[((latencies_us.len() as f64 * p) as usize).min(latencies_us.len() - 1)] as f64
            / 1000.0
    };
    let achieved = latencies_us.len() as f64 / seconds;
    println!(
        "rate={rate:.0} achieved={achieved:.0} requests={} errors={errors} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        latencies_us.len(),
        q(0.50),
        q(0.90),
        q(0.99),
        q(0.999),
        q(1.0)
    );
    Ok(())
}
