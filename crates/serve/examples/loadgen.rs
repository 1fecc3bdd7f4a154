//! A fixed-rate (open-loop) HTTP load generator for the benchmark script,
//! like wrk2: requests leave on a schedule, and each latency is measured
//! from the request's *scheduled* time, so a stall is not hidden by the
//! generator waiting for it (coordinated omission).
//!
//! `loadgen URL_PREFIX IDS_FILE RATE SECONDS [CONNECTIONS]`: GETs
//! `URL_PREFIX{id}` over keep-alive HTTP/1.1 connections, `RATE` requests
//! per second in total, and prints one line of figures.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Context;

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
    let path_prefix = format!("/{path_prefix}");
    let ids: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .map(str::to_owned)
        .collect();
    let rate: f64 = args[2].parse()?;
    let seconds: f64 = args[3].parse()?;
    let connections: usize = args.get(4).map_or(Ok(16), |c| c.parse())?;
    let per_connection = Duration::from_secs_f64(connections as f64 / rate);
    let total = Duration::from_secs_f64(seconds);
    let start = Instant::now() + Duration::from_millis(100);

    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let (host, path_prefix, ids) = (host.to_owned(), path_prefix.clone(), ids.clone());
            std::thread::spawn(move || -> anyhow::Result<(Vec<u32>, u64)> {
                let mut stream = TcpStream::connect(&host)?;
                stream.set_nodelay(true)?;
                let mut reader = BufReader::new(stream.try_clone()?);
                let mut latencies_us = Vec::new();
                let mut errors = 0;
                // Stagger connections across one period.
                let mut due = start + per_connection.mul_f64(c as f64 / connections as f64);
                let mut i = c * 7919;
                let mut line = String::new();
                let mut body = Vec::new();
                while due < start + total {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let id = &ids[i % ids.len()];
                    i += 1;
                    write!(
                        stream,
                        "GET {path_prefix}{id} HTTP/1.1\r\nHost: {host}\r\n\r\n"
                    )?;
                    line.clear();
                    reader.read_line(&mut line)?;
                    let ok = line.split_whitespace().nth(1) == Some("200");
                    let mut length = 0;
                    loop {
                        line.clear();
                        reader.read_line(&mut line)?;
                        if line == "\r\n" || line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse()?;
                        }
                    }
                    body.resize(length, 0);
                    reader.read_exact(&mut body)?;
                    latencies_us.push(u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if !ok {
                        errors += 1;
                    }
                    due += per_connection;
                }
                Ok((latencies_us, errors))
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w
            .join()
            .map_err(|_| anyhow::anyhow!("a connection thread panicked"))??;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    let q = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)] as f64 / 1000.0
    };
    let achieved = latencies.len() as f64 / seconds;
    println!(
        "rate={rate:.0} achieved={achieved:.0} requests={} errors={errors} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        latencies.len(),
        q(0.50),
        q(0.90),
        q(0.99),
        q(0.999),
        q(1.0)
    );
    Ok(())
}
