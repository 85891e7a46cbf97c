"""Fixtures for the integration suite: start the real build/parleyd on a free
loopback port and talk to it as the SPA does.

Environment (set by ./scripts/test):
  PARLEYD                  the binary (default: build/parleyd)
  PARLEY_TEST_STORE        "sqlite" (default) or "mongo"
  PARLEY_TEST_MONGO_URI    the MongoDB (or stand-in) used when the store is mongo
  PARLEY_TEST_REDIS_URL    a Redis for tests that need the Redis bus
  PARLEY_TEST_FILES        "dir" (default) or "s3": where uploaded files live
  PARLEY_TEST_S3_URL       the S3 stand-in (tests/s3_server) used when files are s3;
                           unset: storage_helpers starts one
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

import storage_helpers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARLEYD = os.environ.get("PARLEYD", os.path.join(ROOT, "build", "parleyd"))


# Argon2id at parleyd's default cost (libsodium's interactive limits), for a test
# that measures what a password check costs; Server's default is the minimum.
ARGON2_DEFAULT = {"PARLEY_ARGON2_OPSLIMIT": "2", "PARLEY_ARGON2_MEMLIMIT": "67108864"}


def mongo_uri(db):
    """PARLEY_TEST_MONGO_URI with its database replaced by db; credentials and
    options (replicaSet, authSource, w, journal) kept."""
    scheme, rest = os.environ["PARLEY_TEST_MONGO_URI"].split("://", 1)
    rest, _, opts = rest.partition("?")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{db}" + (f"?{opts}" if opts else "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


class Server:
    """One parleyd process. Use start_server() to get one."""

    def __init__(self, env=None, args=None, data_dir=None, port=None):
        self.port_chosen = port is None  # a free port probed here: another may take it first
        self.port = port or free_port()
        self.owns_data = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="parley-test-")
        self.env = dict(os.environ)
        self.env.update({
            "PARLEY_HOST": "127.0.0.1",
            "PARLEY_PORT": str(self.port),
            "PARLEY_DATA_DIR": self.data_dir,
            "PARLEY_LOG_LEVEL": "warn",
            "PARLEY_AUTH_RATE_PER_IP": "100000",
            "PARLEY_AUTH_RATE_PER_EMAIL": "100000",
            "PARLEY_KEYS_RATE_PER_USER": "100000",
            "PARLEY_KEYS_BURST": "100000",
            "PARLEY_JWT_SECRET": "integration-test-secret-0123456789abcdef",
            # Instances on one store must share these (the store records their
            # fingerprints); a test about a key sets its own, or "" and a _FILE.
            "PARLEY_SECRET_KEY": "5ec2e7" * 10 + "5ec2",
            "PARLEY_VAPID_PRIVATE_KEY": "ERERERERERERERERERERERERERERERERERERERERERE",
            # Argon2id at its minimum: a password hash at the interactive cost (the
            # default) takes 0.1-0.3 s of a core, and the suites sign up and log in
            # thousands of times. A test about the cost itself passes ARGON2_DEFAULT.
            "PARLEY_ARGON2_OPSLIMIT": "1",
            "PARLEY_ARGON2_MEMLIMIT": "8192",
            # API only, whatever web/dist holds; test_web_static.py gives its own.
            "PARLEY_WEB_DIR": "",
        })
        if os.environ.get("PARLEY_TEST_STORE") == "mongo":
            # One database per server so tests do not see each other's data.
            self.env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_{uuid.uuid4().hex[:12]}")
        # Files on the data directory, or in a bucket of its own on the S3 stand-in.
        self.env.update(storage_helpers.server_env())
        self.env.update(env or {})
        self.args = args or []
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "parleyd.log")

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, wait=True):
        # free_port() closes its probe before parleyd binds the port, and a process
        # beside this one (a fake Graph API, another worker's server) can take it
        # in between: parleyd then refuses to start ("cannot listen"), and it is
        # started again on another port.
        for attempt in range(3):
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([PARLEYD] + self.args, env=self.env,
                                         stdout=self.log, stderr=self.log)
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                if not (self.port_chosen and attempt < 2 and self.proc.poll() is not None
                        and "cannot listen on" in self.read_log()):
                    raise
                self.log.close()
                self.port = free_port()
                self.env["PARLEY_PORT"] = str(self.port)
        return self

    def wait_ready(self, timeout=45):
        # A server starts in 0.3 s under ASan on a quiet machine; CI runs the
        # S3 leg beside the browser suite on 2 cores, where one ASan start
        # once took more than 15 s. Only a server that never answers waits
        # all of it.
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"parleyd exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                r = self.request("GET", "/healthz", timeout=1)
                # parleyd's answer (every answer has a request id), not that of
                # another process that took the port first.
                if r.status == 200 and r.header("X-Request-Id"):
                    self.wait_revocations(deadline)
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("parleyd did not answer /healthz:\n" + self.read_log())

    def wait_revocations(self, deadline):
        """A restarted server answers authenticated calls 503 until it has read the
        saved revocations (API.md): wait while /readyz says only that. A store or bus
        that is down (as some tests want) is not waited for."""
        while time.time() < deadline:
            try:
                r = self.request("GET", "/readyz", timeout=1)
                body = r.json()
            except (OSError, ValueError):
                return
            if r.status == 200 or body.get("store", {}).get("state") != "up" \
                    or body.get("bus", {}).get("state") != "up":
                return
            time.sleep(0.05)

    def read_log(self, tail=8000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode(errors="replace")
            return data[-tail:] if tail else data
        except OSError:
            return ""

    def request(self, method, path, body=None, token=None, headers=None, timeout=10, raw_body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            data = raw_body
            if body is not None:
                data = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            if token:
                h["Authorization"] = f"Bearer {token}"
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def signup(self, name=None, email=None, password="correct horse battery"):
        """Creates a user and returns the session object of API.md."""
        tag = uuid.uuid4().hex[:10]
        email = email or f"user-{tag}@example.com"
        r = self.request("POST", "/api/auth/signup",
                         {"email": email, "password": password, "name": name or f"User {tag}"})
        assert r.status == 201, r
        return r.json()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the process; returns its exit status."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        return self.proc.returncode if self.proc else None

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "WARNING: ThreadSanitizer")

    def sanitizer_report(self):
        """The sanitizer's report in the log, if any (ASan builds)."""
        log = self.read_log(tail=0)
        for mark in self.SANITIZER_MARKS:
            at = log.find(mark)
            if at >= 0:
                return log[max(0, at - 200):at + 3000]
        return None

    def cleanup(self):
        self.stop()
        report = self.sanitizer_report()
        if self.owns_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return report


@pytest.fixture
def start_server():
    """A factory: start_server(env={...}, args=[...]) -> a running Server.
    Every server started is stopped after the test."""
    started = []

    def start(env=None, args=None, data_dir=None, port=None, wait=True):
        s = Server(env=env, args=args, data_dir=data_dir, port=port)
        started.append(s)
        return s.start(wait=wait)

    yield start
    reports = [r for r in (s.cleanup() for s in started) if r]
    # Under ASan+UBSan every server's log must be free of reports, leaks included.
    assert not reports, "sanitizer report from parleyd:\n" + reports[0]


@pytest.fixture
def server(start_server):
    """A running parleyd on the backends chosen by the environment."""
    return start_server()


@pytest.fixture
def redis_url():
    url = os.environ.get("PARLEY_TEST_REDIS_URL")
    if not url:
        pytest.skip("PARLEY_TEST_REDIS_URL is not set (./scripts/test sets it)")
    return url
