#!/usr/bin/python3
"""Files: uploads and downloads per second and MB/s for a 1 MB and a 20 MB
file, and the server's RSS sampled during one 20 MB upload and one 20 MB
download (it must stay flat: both stream, neither holds the file).

Starts build/parleyd (or $PARLEYD) on a free port with a fresh data directory
(with --files s3, against tests/s3_server started here), signs up a user, then
for each size runs uploads for --seconds with --concurrency clients (raw body,
Content-Length), then downloads of what was uploaded through the signed URLs
the same way. RSS is read from /proc/<pid>/status every 10 ms while five more
uploads of 20 MB, then five downloads, run one at a time. Prints the figures as JSON on the
last line; exits 1 when RSS grows by more than 8 MiB during either.

  /usr/bin/python3 bench/files_bench.py [--seconds N] [--concurrency N] [--files dir|s3]
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARLEYD = os.environ.get("PARLEYD", os.path.join(ROOT, "build", "parleyd"))
MB = 1000 * 1000
RSS_LIMIT = 8 * 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, proc, what):
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            c.getresponse().read()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise SystemExit(what + " did not start")


def start_s3(work):
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "s3_server", "server.py"),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port, "/", proc, "the S3 stand-in")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/_standin/buckets/bench")
    c.getresponse().read()
    return proc, {"PARLEY_FILES_STORAGE": "s3", "PARLEY_S3_ENDPOINT": f"http://127.0.0.1:{port}",
                  "PARLEY_S3_BUCKET": "bench", "PARLEY_S3_ACCESS_KEY": "parley-test",
                  "PARLEY_S3_SECRET_KEY": "parley-test-secret"}


def start_server(port, data_dir, extra):
    env = dict(os.environ, PARLEY_HOST="127.0.0.1", PARLEY_PORT=str(port),
               PARLEY_DATA_DIR=data_dir, PARLEY_LOG_LEVEL="warn",
               PARLEY_UPLOAD_MAX_BYTES=str(64 * MB), PARLEY_UPLOAD_QUOTA_BYTES=str(1 << 50),
               PARLEY_UPLOAD_MAX_IN_FLIGHT="64",
               PARLEY_JWT_SECRET="bench-secret-0123456789abcdef0123456789", **extra)
    log = open(os.path.join(data_dir, "parleyd.log"), "ab")
    proc = subprocess.Popen([PARLEYD], env=env, stdout=log, stderr=log)
    wait_http(port, "/healthz", proc, "parleyd")
    return proc


def request(port, method, path, body=None, headers=None, sink=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    if sink:
        n = 0
        while True:
            piece = r.read(256 * 1024)
            if not piece:
                break
            n += len(piece)
        c.close()
        return r.status, n
    data = r.read()
    c.close()
    return r.status, data


def payload(size):
    # A PDF by its magic bytes; the rest need not be random (nothing compresses).
    return b"%PDF-1.4\n" + os.urandom(1024) * ((size - 9) // 1024) + b"\n" * ((size - 9) % 1024)


def upload(port, token, data):
    status, body = request(port, "POST", "/api/uploads?name=bench.pdf", data,
                           {"Authorization": "Bearer " + token,
                            "Content-Type": "application/octet-stream"})
    if status != 201:
        raise SystemExit(f"upload answered {status}: {body[:200]!r}")
    return json.loads(body)["attachment"]["url"]


def download(port, url, size):
    status, n = request(port, "GET", url, sink=True)
    if status != 200 or n != size:
        raise SystemExit(f"download answered {status} with {n} of {size} bytes")


def timed(seconds, concurrency, one):
    """Runs one() from concurrency threads for seconds; returns (count, elapsed)."""
    stop = time.perf_counter() + seconds
    counts = [0] * concurrency
    out = []

    def worker(i):
        while time.perf_counter() < stop:
            r = one()
            if r is not None:
                out.append(r)
            counts[i] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), time.perf_counter() - t0, out


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def sampled(pid, fn):
    """RSS before, and its min and max while fn runs (every 10 ms)."""
    before = rss(pid)
    samples = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            samples.append(rss(pid))
            time.sleep(0.01)

    t = threading.Thread(target=sample)
    t.start()
    fn()
    done.set()
    t.join()
    return before, min(samples), max(samples), len(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--files", choices=("dir", "s3"), default="dir")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="parley-files-bench-")
    s3proc, extra = (None, {})
    if a.files == "s3":
        s3proc, extra = start_s3(work)
    port = free_port()
    proc = start_server(port, work, extra)
    result = {"backend": a.files, "concurrency": a.concurrency, "seconds": a.seconds}
    ok = True
    try:
        status, body = request(port, "POST", "/api/auth/signup",
                               json.dumps({"email": "bench@example.com", "password": "correct horse battery",
                                           "name": "Bench"}), {"Content-Type": "application/json"})
        token = json.loads(body)["access_token"]
        for label, size in (("1mb", 1 * MB), ("20mb", 20 * MB)):
            data = payload(size)
            n, el, urls = timed(a.seconds, a.concurrency, lambda: upload(port, token, data))
            result[f"upload_{label}_per_s"] = round(n / el, 2)
            result[f"upload_{label}_mb_per_s"] = round(n * size / MB / el, 1)
            urls = urls[:64]
            i = [0]
            lock = threading.Lock()

            def next_download():
                with lock:
                    u = urls[i[0] % len(urls)]
                    i[0] += 1
                download(port, u, size)

            n, el, _ = timed(a.seconds, a.concurrency, next_download)
            result[f"download_{label}_per_s"] = round(n / el, 2)
            result[f"download_{label}_mb_per_s"] = round(n * size / MB / el, 1)
            print(f"{label}: upload {result[f'upload_{label}_per_s']}/s "
                  f"({result[f'upload_{label}_mb_per_s']} MB/s), download "
                  f"{result[f'download_{label}_per_s']}/s ({result[f'download_{label}_mb_per_s']} MB/s)",
                  flush=True)
        # Five 20 MB transfers in a row each time, one at a time: enough samples.
        big = payload(20 * MB)
        holder = {}
        before, lo, hi, ns = sampled(proc.pid, lambda: [holder.__setitem__("url", upload(port, token, big))
                                                         for _ in range(5)])
        result.update(rss_upload_before_mib=round(before / 2**20, 1), rss_upload_min_mib=round(lo / 2**20, 1),
                      rss_upload_max_mib=round(hi / 2**20, 1), rss_upload_samples=ns)
        ok &= hi - before <= RSS_LIMIT
        before, lo, hi, ns = sampled(proc.pid, lambda: [download(port, holder["url"], 20 * MB)
                                                         for _ in range(5)])
        result.update(rss_download_before_mib=round(before / 2**20, 1),
                      rss_download_min_mib=round(lo / 2**20, 1),
                      rss_download_max_mib=round(hi / 2**20, 1), rss_download_samples=ns)
        ok &= hi - before <= RSS_LIMIT
        print(f"RSS during 20 MB uploads: {result['rss_upload_before_mib']} MiB before, "
              f"{result['rss_upload_min_mib']}..{result['rss_upload_max_mib']} MiB during "
              f"({result['rss_upload_samples']} samples); during 20 MB downloads: "
              f"{result['rss_download_before_mib']} MiB before, {result['rss_download_min_mib']}.."
              f"{result['rss_download_max_mib']} MiB during", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if s3proc:
            s3proc.terminate()
            s3proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    result["pass"] = bool(ok)
    print("PASS" if ok else "FAIL: RSS grew by more than 8 MiB")
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
