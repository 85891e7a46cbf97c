"""The storage of uploaded files as the tests see it, on either backend
(PARLEY_TEST_FILES): "dir" (default), the data directory; or "s3", the S3
backend against tests/s3_server, the stand-in at PARLEY_TEST_S3_URL (started by
./scripts/test) or, when that is unset, one started here for the session.
Each server gets a bucket of its own."""
import atexit
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKEND = os.environ.get("PARLEY_TEST_FILES", "dir")
ACCESS_KEY, SECRET_KEY = "parley-test", "parley-test-secret"
_standin = {}


def s3_url():
    """The stand-in's base URL, started on first use when none is given."""
    url = os.environ.get("PARLEY_TEST_S3_URL")
    if url:
        return url.rstrip("/")
    if "url" not in _standin:
        fd, port_file = tempfile.mkstemp(prefix="parley-s3-port-")
        os.close(fd)
        os.unlink(port_file)
        proc = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "s3_server",
                                                                  "server.py"),
                                 "--host", "127.0.0.1", "--port", "0", "--port-file", port_file],
                                stdout=subprocess.DEVNULL)
        atexit.register(lambda: (proc.terminate(), proc.wait()))
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the S3 stand-in did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            _standin["url"] = "http://127.0.0.1:%d" % int(f.read())
        os.unlink(port_file)
    return _standin["url"]


def control(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(s3_url() + "/_standin/" + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        out = r.read()
        return json.loads(out) if r.headers.get("Content-Type") == "application/json" else out


def server_env():
    """The settings that put a new server's files on the chosen backend."""
    if BACKEND != "s3":
        return {}
    bucket = "parley-" + uuid.uuid4().hex[:12]
    control("POST", "buckets/" + bucket)
    return {"PARLEY_FILES_STORAGE": "s3", "PARLEY_S3_ENDPOINT": s3_url(),
            "PARLEY_S3_BUCKET": bucket, "PARLEY_S3_ACCESS_KEY": ACCESS_KEY,
            "PARLEY_S3_SECRET_KEY": SECRET_KEY}


def bucket(server):
    return server.env["PARLEY_S3_BUCKET"]


def is_s3(server):
    return server.env.get("PARLEY_FILES_STORAGE") == "s3"


def stored(server):
    """What the storage holds: (committed objects, what uploads in progress hold).
    Data directory: files/ and files/tmp/. S3: the bucket's objects, and the
    spool files with the bucket's multipart uploads in progress."""
    if not is_s3(server):
        root = os.path.join(server.data_dir, "files")
        objs = sorted(n for n in os.listdir(root) if n != "tmp")
        return objs, sorted(os.listdir(os.path.join(root, "tmp")))
    st = control("GET", "state/" + bucket(server))
    spool = os.path.join(server.data_dir, "s3spool")
    pending = sorted(os.listdir(spool)) + sorted("upload:" + u["key"] for u in st["uploads"])
    return sorted(st["objects"]), pending


def stored_bytes(server, key):
    if not is_s3(server):
        with open(os.path.join(server.data_dir, "files", key), "rb") as f:
            return f.read()
    return control("GET", "object/%s/%s" % (bucket(server), key))


def s3_requests(server):
    return control("GET", "requests/" + bucket(server))


def s3_fault(server, fault):
    """fault: {"status", "count", "methods", "hang"} (tests/s3_server), or None."""
    if fault is None:
        control("DELETE", "fault/" + bucket(server))
    else:
        control("POST", "fault/" + bucket(server), fault)
