#!/usr/bin/python3
"""Login burst: while 50 logins arrive at once (Argon2id at its default,
interactive cost), /healthz keeps answering fast, because password hashing runs
on libuv's thread pool and never on the event loop.

Starts build/parleyd (or $PARLEYD) on a free port with a fresh data directory,
signs up one user, then runs several bursts of 50 concurrent logins while a
separate process polls /healthz on a keep-alive connection every 2 ms. Prints
the figures and exits 1 when the /healthz p99 is 5 ms or more.

  /usr/bin/python3 bench/login_burst.py [--bursts N] [--concurrency N] [--url URL]
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARLEYD = os.environ.get("PARLEYD", os.path.join(ROOT, "build", "parleyd"))
PASSWORD = "correct horse battery staple"
LIMIT_MS = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port, data_dir):
    env = dict(os.environ, PARLEY_HOST="127.0.0.1", PARLEY_PORT=str(port),
               PARLEY_DATA_DIR=data_dir, PARLEY_LOG_LEVEL="warn",
               PARLEY_AUTH_RATE_PER_IP="1000000", PARLEY_AUTH_RATE_PER_EMAIL="1000000",
               PARLEY_JWT_SECRET="bench-secret-0123456789abcdef0123456789")
    log = open(os.path.join(data_dir, "parleyd.log"), "ab")
    proc = subprocess.Popen([PARLEYD], env=env, stdout=log, stderr=log)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("parleyd did not start; see " + data_dir)


def post(host, port, path, body):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def poll_healthz(host, port, stop, out, interval):
    """In its own process, so the login threads' GIL does not delay it."""
    c = http.client.HTTPConnection(host, port, timeout=10)
    samples = []
    while not stop.is_set():
        t = time.perf_counter()
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        samples.append((time.perf_counter() - t) * 1000.0)
        if r.status != 200:
            samples[-1] = float("inf")
        time.sleep(interval)
    out.put(samples)


def burst(host, port, email, n):
    results = [None] * n
    gate = threading.Barrier(n)

    def one(i):
        gate.wait()
        t = time.perf_counter()
        status, _ = post(host, port, "/api/auth/login", {"email": email, "password": PASSWORD})
        results[i] = (status, (time.perf_counter() - t) * 1000.0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def loop_lag_max_ms(host, port):
    """The server's own view: the largest event-loop lag it measured."""
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith("parley_event_loop_lag_max_seconds "):
            return float(line.split()[1]) * 1000.0
    return float("nan")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--url", help="an already running server (http://host:port)")
    args = ap.parse_args()

    proc, data_dir = None, None
    if args.url:
        host, port = args.url.split("://", 1)[1].rstrip("/").split(":")
        port = int(port)
    else:
        host, port = "127.0.0.1", free_port()
        data_dir = tempfile.mkdtemp(prefix="parley-bench-")
        proc = start_server(port, data_dir)
    try:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        status, body = post(host, port, "/api/auth/signup",
                            {"email": email, "password": PASSWORD, "name": "Bench"})
        if status != 201:
            raise SystemExit(f"signup failed: {status} {body[:200]!r}")

        # Baseline: /healthz with nothing else going on.
        stop, out = mp.Event(), mp.Queue()
        poller = mp.Process(target=poll_healthz, args=(host, port, stop, out, 0.002))
        poller.start()
        time.sleep(1.0)
        stop.set()
        idle = out.get()
        poller.join()

        stop, out = mp.Event(), mp.Queue()
        poller = mp.Process(target=poll_healthz, args=(host, port, stop, out, 0.002))
        poller.start()
        time.sleep(0.2)
        logins, walls = [], []
        for _ in range(args.bursts):
            res, wall = burst(host, port, email, args.concurrency)
            logins += res
            walls.append(wall)
            time.sleep(0.2)
        stop.set()
        busy = out.get()
        poller.join()
        lag_ms = loop_lag_max_ms(host, port)
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(data_dir, ignore_errors=True)

    ok = sum(1 for s, _ in logins if s == 200)
    lat = [ms for _, ms in logins]
    print(f"logins: {len(logins)} in {args.bursts} bursts of {args.concurrency}, {ok} answered 200")
    print(f"  burst wall time: " + ", ".join(f"{w * 1000:.0f} ms" for w in walls) +
          f"  ({args.concurrency / statistics.mean(walls):.0f} logins/s)")
    print(f"  login latency ms: p50 {pct(lat, 50):.1f}  p99 {pct(lat, 99):.1f}  max {max(lat):.1f}")
    for name, s in (("idle", idle), ("during bursts", busy)):
        print(f"/healthz {name}: {len(s)} requests, ms: p50 {pct(s, 50):.2f}  "
              f"p99 {pct(s, 99):.2f}  max {max(s):.2f}")
    print(f"event-loop lag, largest the server measured (250 ms timer): {lag_ms:.2f} ms")
    try:
        print(f"machine load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    except OSError:
        pass
    p99 = pct(busy, 99)
    verdict = "PASS" if p99 < LIMIT_MS and ok == len(logins) else "FAIL"
    print(f"{verdict}: /healthz p99 during the login bursts {p99:.2f} ms (limit {LIMIT_MS} ms)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
