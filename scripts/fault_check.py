#!/usr/bin/env python3
"""The operator's fault checks of `serve`, re-run on loopback (#14).

Runs the pipeline on embedded defaults into a temporary folder
(scripts/pipeline.sh --no-setup --no-build: build first), loads it into a
fresh redis-server, starts `serve` on Redis and on the embedded store, puts
two clients of traffic on each, and then:

  1. pauses Redis 10 s (SIGSTOP/SIGCONT): answers in the pause, the slowest,
     and the time to the first 200 after it;
  2. kills `load-cache --synthetic 2000000` mid-load three times: the
     serving generation must not move and no request may fail;
  3. sends 20 concurrent authenticated `/admin/reload`s to the embedded
     service;
  4. opens 300 slow-loris connections (half a request each) and times 50
     normal requests.

Prints one table of counts. Standard library only:
    python3 scripts/fault_check.py [--customers 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/offers-recsys/target")) / "release"
TOKEN = "fault-check-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str, timeout: float = 15.0, method: str = "GET", headers: dict | None = None) -> int:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return -1


def wait_for(url: str, what: str) -> None:
    deadline = time.time() + 30
    while status(url, timeout=1) != 200:
        if time.time() > deadline:
            sys.exit(f"fault_check: {what} did not answer 200 at {url} within 30 s")
        time.sleep(0.1)


class Traffic:
    """Two clients cycling through the record ids; every answer logged."""

    def __init__(self, base: str, ids: list[str]) -> None:
        self.log: list[tuple[float, int, float]] = []
        self.stop = False
        self.threads = [threading.Thread(target=self.run, args=(base, ids, k)) for k in range(2)]
        for t in self.threads:
            t.start()

    def run(self, base: str, ids: list[str], k: int) -> None:
        i = k
        while not self.stop:
            t = time.perf_counter()
            s = status(f"{base}/recommend/{ids[i % len(ids)]}?top_k=3")
            self.log.append((time.time(), s, time.perf_counter() - t))
            i += 7

    def finish(self) -> list[tuple[float, int, float]]:
        self.stop = True
        for t in self.threads:
            t.join()
        return self.log


def generation(base: str) -> int:
    with urllib.request.urlopen(f"{base}/", timeout=5) as r:
        return json.load(r)["store"]["generation"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fault-check-"))
    data, models = work / "data", work / "models"
    subprocess.run(
        ["bash", str(REPO / "scripts/pipeline.sh"), "--no-setup", "--no-build", "--customers", str(args.customers),
         "--data-dir", str(data), "--model-dir", str(models)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    ids = [f"REC{i:07d}" for i in range(1, args.customers + 1)]
    procs: list[subprocess.Popen] = []
    rows: list[tuple[str, str]] = []
    try:
        rport = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(work)], stdout=subprocess.DEVNULL)
        procs.append(redis)
        time.sleep(0.5)
        url = f"redis://127.0.0.1:{rport}/0"
        subprocess.run([str(BIN / "load-cache"), "--data-dir", str(data), "--model-dir", str(models), "--redis-url", url],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = dict(os.environ, OFFERS_ADMIN_TOKEN=TOKEN)
        on_redis, embedded = free_port(), free_port()
        for port, extra in ((on_redis, ["--redis-url", url]), (embedded, [])):
            procs.append(subprocess.Popen(
                [str(BIN / "serve"), "--data-dir", str(data), "--model-dir", str(models),
                 "--bind", f"127.0.0.1:{port}", *extra],
                env={k: v for k, v in env.items() if k != "REDIS_URL"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        base, local = f"http://127.0.0.1:{on_redis}", f"http://127.0.0.1:{embedded}"
        wait_for(f"{base}/", "serve on Redis")
        wait_for(f"{local}/", "serve on the embedded store")

        # 1. Redis paused.
        traffic = Traffic(base, ids)
        time.sleep(1)
        os.kill(redis.pid, signal.SIGSTOP)
        t0 = time.time()
        time.sleep(10)
        os.kill(redis.pid, signal.SIGCONT)
        t1 = time.time()
        time.sleep(2)
        # 2. load-cache killed mid-load, three times.
        before = generation(base)
        killed = 0
        for k in range(3):
            lc = subprocess.Popen([str(BIN / "load-cache"), "--synthetic", "2000000", "--lock-ttl-secs", "1",
                                   "--redis-url", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0 + 0.5 * k)
            killed += lc.poll() is None
            lc.kill()
            lc.wait()
            time.sleep(2)
        after = generation(base)
        log = traffic.finish()
        pause = [x for x in log if t0 <= x[0] <= t1]
        first_ok = next((x[0] - t1 for x in log if x[0] > t1 and x[1] == 200), float("nan"))
        outside = [x for x in log if not t0 <= x[0] <= t1 + 0.3]
        rows.append(("Redis paused 10 s: answered 503 in the pause",
                     f"{sum(x[1] == 503 for x in pause)} of {len(pause)}, slowest {max(x[2] for x in pause) * 1000:.0f} ms"))
        rows.append(("first 200 after the pause", f"{first_ok:.2f} s"))
        rows.append(("load-cache killed mid-load", f"{killed} of 3; generation {before} -> {after}"))
        rows.append(("requests outside the pause that failed", f"{sum(x[1] != 200 for x in outside)} of {len(outside)}"))

        # 3. Concurrent reloads.
        traffic = Traffic(local, ids)
        results: list[int] = []
        auth = {"Authorization": f"Bearer {TOKEN}"}
        reloads = [threading.Thread(target=lambda: results.append(
            status(f"{local}/admin/reload", timeout=60, method="POST", headers=auth))) for _ in range(20)]
        for t in reloads:
            t.start()
        for t in reloads:
            t.join()
        log = traffic.finish()
        rows.append(("20 concurrent reloads answered 200", f"{results.count(200)} of {len(results)}"))
        rows.append(("requests during them that failed", f"{sum(x[1] != 200 for x in log)} of {len(log)}"))

        # 4. Slow loris.
        socks = []
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", embedded))
            s.send(b"GET /recommend/REC0000001 HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        time.sleep(2)
        times, oks = [], 0
        for i in range(50):
            t = time.perf_counter()
            oks += status(f"{local}/recommend/{ids[i]}") == 200
            times.append((time.perf_counter() - t) * 1000)
        for s in socks:
            s.close()
        times.sort()
        rows.append(("300 slow-loris connections: normal requests",
                     f"{oks} of 50 answered 200, median {times[25]:.1f} ms, max {times[-1]:.1f} ms"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            p.wait()
    width = max(len(r[0]) for r in rows)
    print(f"| {'check'.ljust(width)} | result |\n| {'-' * width} | --- |")
    for what, result in rows:
        print(f"| {what.ljust(width)} | {result} |")


if __name__ == "__main__":
    main()
