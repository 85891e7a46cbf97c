"""Parley's S3 stand-in: an in-memory S3-compatible server for the S3 storage
backend's tests. It checks what real S3 checks and the tests rely on: every
request's AWS Signature Version 4 is recomputed from the canonical request
(a bad one is refused 403 SignatureDoesNotMatch), x-amz-content-sha256 must be
present, signed and (unless UNSIGNED-PAYLOAD) the body's hash, and a chunked
PUT without Content-Length is refused 411 MissingContentLength. It serves
PutObject, GetObject (with Range), HeadObject, DeleteObject and multipart
uploads (create, upload part, complete, abort, list parts), path-style only.

Buckets, faults and the request log are per bucket, so test processes that
share one stand-in do not see each other. Unsigned control routes for tests:
  POST /_standin/buckets/B        create bucket B
  GET  /_standin/state/B          {"objects": {key: size}, "uploads": [{key, id, parts}]}
  GET  /_standin/object/B/KEY     an object's bytes
  GET  /_standin/requests/B       [{method, path, query, status, length, peer}] of signed
                                  requests (peer: the client's port, one per connection)
  POST /_standin/fault/B          {"status": 503, "count": N, "methods": ["PUT"], "query": Q,
                                  "hang": s}: the next N requests with one of the methods
                                  and a query starting with Q answer status (after hanging
                                  s seconds; status 0: then served as usual); count -1
                                  (default) is for ever
  DELETE /_standin/fault/B        no more faults

Usage: server.py --host 127.0.0.1 --port N [--port-file F] [--access-key K]
                 [--secret-key S] [--region R] [--bucket B]...
Prints "ready" once listening; SIGTERM or SIGINT stops it cleanly."""
import argparse
import calendar
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

MIN_PART = 5 * 1024 * 1024
MAX_BODY = 64 * 1024 * 1024
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def s3_quote(s):
    return quote(s, safe="-_.~")


def canonical_query(raw):
    pairs = []
    for item in raw.split("&") if raw else []:
        k, _, v = item.partition("=")
        pairs.append((s3_quote(unquote(k)), s3_quote(unquote(v))))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def canonical_path(raw):
    return "/".join(s3_quote(unquote(seg)) for seg in raw.split("/"))


def signing_key(secret, date, region):
    k = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/s3/aws4_request,\s*"
                     r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")


class S3Error(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Bucket:
    def __init__(self):
        self.objects = {}   # key -> (bytes, etag)
        self.uploads = {}   # id -> {"key": k, "parts": {n: (bytes, etag)}}
        self.requests = []
        self.fault = None


class State:
    def __init__(self, access_key, secret_key, region):
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.lock = threading.Lock()
        self.buckets = {}


def xml_error(code, message, resource=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<Resource>%s</Resource><RequestId>%s</RequestId></Error>'
            % (code, message, resource, uuid.uuid4().hex[:16])).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "S3StandIn"

    def log_message(self, fmt, *args):  # quiet; the request log is per bucket
        pass

    # ---- replies ----

    def reply(self, status, body=b"", headers=None, head_only=False):
        self.send_response(status)
        hdrs = {"Content-Length": str(len(body))}
        if body and "Content-Type" not in (headers or {}):
            hdrs["Content-Type"] = "application/xml"
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if body and not head_only:
            self.wfile.write(body)
        self.status_sent = status

    def error(self, e):
        self.reply(e.status, xml_error(e.code, e.message, self.path.partition("?")[0]),
                   head_only=self.command == "HEAD")

    # ---- request handling ----

    def do_GET(self):
        self.handle_any()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() and \
                self.headers.get("Content-Length") is None:
            self.close_connection = True
            raise S3Error(411, "MissingContentLength",
                          "You must provide the Content-Length HTTP header.")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum.")
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        self.status_sent = 0
        path, _, query = self.path.partition("?")
        if path.startswith("/_standin/"):
            return self.control(path[len("/_standin/"):], query)
        st = self.server.state
        parts = path.lstrip("/").split("/", 1)
        bname, key = unquote(parts[0]), unquote(parts[1]) if len(parts) > 1 else ""
        body = b""
        try:
            if self.command in ("PUT", "POST") or self.headers.get("Content-Length") or \
                    self.headers.get("Transfer-Encoding"):
                body = self.read_body()
            self.verify(path, query, body)
            with st.lock:
                bucket = st.buckets.get(bname)
                fault = bucket.fault if bucket else None
                if fault and fault["count"] != 0 and self.command in fault["methods"] and \
                        query.startswith(fault["query"]):
                    if fault["count"] > 0:
                        fault["count"] -= 1
                else:
                    fault = None
            if fault:
                if fault.get("hang"):
                    time.sleep(fault["hang"])
                if fault["status"] == 0:
                    fault = None  # only slow: then served as usual
            if fault:
                raise S3Error(fault.get("status", 503), "ServiceUnavailable" if
                              fault.get("status", 503) == 503 else "InternalError",
                              "Injected fault.")
            if bucket is None:
                raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist.")
            if not key:
                raise S3Error(400, "InvalidRequest", "Bucket operations are not supported here.")
            self.operate(bucket, key, query, body)
        except S3Error as e:
            self.error(e)
        except (ConnectionError, OSError):
            self.close_connection = True
            return
        finally:
            with st.lock:
                b = st.buckets.get(bname)
                if b is not None:
                    b.requests.append({"method": self.command, "path": path, "query": query,
                                       "status": self.status_sent, "length": len(body),
                                       "peer": self.client_address[1]})

    def verify(self, path, query, body):
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        m = AUTH_RE.match(auth)
        if not m:
            raise S3Error(403, "AccessDenied", "Missing or malformed Authorization.")
        akey, date, region, signed, sig = m.groups()
        if akey != st.access_key:
            raise S3Error(403, "InvalidAccessKeyId", "The access key you provided does not exist.")
        if region != st.region:
            raise S3Error(400, "AuthorizationHeaderMalformed", "Wrong region %s." % region)
        amz_date = self.headers.get("x-amz-date", "")
        if not amz_date.startswith(date):
            raise S3Error(403, "AccessDenied", "x-amz-date does not match the credential.")
        try:
            when = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise S3Error(403, "AccessDenied", "Bad x-amz-date.")
        if abs(when - time.time()) > 900:
            raise S3Error(403, "RequestTimeTooSkewed", "The request time is too skewed.")
        content_sha = self.headers.get("x-amz-content-sha256")
        names = signed.split(";")
        if content_sha is None:
            raise S3Error(400, "InvalidRequest",
                          "Missing required header for this request: x-amz-content-sha256")
        if "host" not in names or "x-amz-content-sha256" not in names or names != sorted(names):
            raise S3Error(403, "AccessDenied", "Host and x-amz-* headers must be signed.")
        lines = []
        for n in names:
            vals = self.headers.get_all(n)
            if vals is None:
                raise S3Error(403, "AccessDenied", "Signed header %s is missing." % n)
            lines.append("%s:%s\n" % (n, ",".join(" ".join(v.split()) for v in vals)))
        creq = "\n".join([self.command, canonical_path(path), canonical_query(query),
                          "".join(lines), signed, content_sha])
        scope = "%s/%s/s3/aws4_request" % (date, region)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        want = hmac.new(signing_key(st.secret_key, date, region), sts.encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated "
                          "does not match the signature you provided.")
        if content_sha != "UNSIGNED-PAYLOAD" and content_sha != hashlib.sha256(body).hexdigest():
            raise S3Error(400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was "
                          "computed.")

    def operate(self, bucket, key, query, body):
        q = {}
        for item in query.split("&") if query else []:
            k, _, v = item.partition("=")
            q[unquote(k)] = unquote(v)
        st = self.server.state
        cmd = self.command
        if cmd == "POST" and "uploads" in q:
            uid = uuid.uuid4().hex
            with st.lock:
                bucket.uploads[uid] = {"key": key, "parts": {}}
            return self.reply(200, ('<?xml version="1.0" encoding="UTF-8"?>\n'
                                    '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>%s</Key>'
                                    '<UploadId>%s</UploadId></InitiateMultipartUploadResult>'
                                    % (key, uid)).encode())
        if "uploadId" in q:
            return self.multipart(bucket, key, q, body)
        if cmd == "PUT":
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            with st.lock:
                bucket.objects[key] = (body, etag)
            return self.reply(200, headers={"ETag": etag})
        if cmd == "DELETE":
            with st.lock:
                bucket.objects.pop(key, None)
            return self.reply(204)
        if cmd in ("GET", "HEAD"):
            with st.lock:
                obj = bucket.objects.get(key)
            if obj is None:
                raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
            data, etag = obj
            rng = self.headers.get("Range")
            hdrs = {"ETag": etag, "Accept-Ranges": "bytes",
                    "Content-Type": "application/octet-stream"}
            if rng:
                m = re.match(r"^bytes=(\d+)-(\d*)$", rng)
                if not m or int(m.group(1)) >= len(data):
                    raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
                a = int(m.group(1))
                b = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
                hdrs["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(data))
                return self.reply(206, data[a:b + 1], hdrs, head_only=cmd == "HEAD")
            return self.reply(200, data, hdrs, head_only=cmd == "HEAD")
        raise S3Error(405, "MethodNotAllowed", "The method is not allowed.")

    def multipart(self, bucket, key, q, body):
        st = self.server.state
        uid = q["uploadId"]
        with st.lock:
            up = bucket.uploads.get(uid)
        if up is None or up["key"] != key:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist.")
        cmd = self.command
        if cmd == "PUT":
            try:
                n = int(q.get("partNumber", ""))
            except ValueError:
                n = 0
            if not 1 <= n <= 10000:
                raise S3Error(400, "InvalidArgument", "Part number must be 1 to 10000.")
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            with st.lock:
                up["parts"][n] = (body, etag)
            return self.reply(200, headers={"ETag": etag})
        if cmd == "DELETE":
            with st.lock:
                bucket.uploads.pop(uid, None)
            return self.reply(204)
        if cmd == "GET":
            items = "".join("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag><Size>%d</Size></Part>"
                            % (n, p[1], len(p[0])) for n, p in sorted(up["parts"].items()))
            return self.reply(200, ('<?xml version="1.0" encoding="UTF-8"?>\n<ListPartsResult>'
                                    '<Key>%s</Key><UploadId>%s</UploadId>%s</ListPartsResult>'
                                    % (key, uid, items)).encode())
        if cmd == "POST":
            try:
                root = ET.fromstring(body)
            except ET.ParseError:
                raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed.")
            tag = root.tag.split("}")[-1]
            listed = []
            for part in root:
                if part.tag.split("}")[-1] != "Part":
                    continue
                fields = {c.tag.split("}")[-1]: (c.text or "") for c in part}
                listed.append((int(fields.get("PartNumber", "0")), fields.get("ETag", "")))
            if tag != "CompleteMultipartUpload" or not listed:
                raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed.")
            if [n for n, _ in listed] != sorted(set(n for n, _ in listed)):
                raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
            data = []
            with st.lock:
                for i, (n, etag) in enumerate(listed):
                    p = up["parts"].get(n)
                    if p is None or p[1].strip('"') != etag.strip('"'):
                        raise S3Error(400, "InvalidPart", "One or more of the specified parts "
                                      "could not be found.")
                    if i < len(listed) - 1 and len(p[0]) < MIN_PART:
                        raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller "
                                      "than the minimum allowed object size.")
                    data.append(p[0])
                whole = b"".join(data)
                etag = '"%s-%d"' % (hashlib.md5(whole).hexdigest(), len(listed))
                bucket.objects[key] = (whole, etag)
                bucket.uploads.pop(uid, None)
            return self.reply(200, ('<?xml version="1.0" encoding="UTF-8"?>\n'
                                    '<CompleteMultipartUploadResult><Key>%s</Key><ETag>%s</ETag>'
                                    '</CompleteMultipartUploadResult>'
                                    % (key, etag.replace('"', "&quot;"))).encode())
        raise S3Error(405, "MethodNotAllowed", "The method is not allowed.")

    # ---- control routes (tests only, unsigned) ----

    def control(self, rest, query):
        st = self.server.state
        what, _, arg = rest.partition("/")
        bname, _, key = arg.partition("/")
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with st.lock:
            bucket = st.buckets.get(bname)
            if what == "buckets" and self.command == "POST":
                st.buckets.setdefault(bname, Bucket())
                return self.reply(204)
            if bucket is None:
                return self.reply(404, b"no such bucket", {"Content-Type": "text/plain"})
            if what == "state":
                out = {"objects": {k: len(v[0]) for k, v in bucket.objects.items()},
                       "uploads": [{"key": u["key"], "id": i, "parts": len(u["parts"])}
                                   for i, u in bucket.uploads.items()]}
            elif what == "object":
                obj = bucket.objects.get(key)
                if obj is None:
                    return self.reply(404, b"", {"Content-Type": "text/plain"})
                return self.reply(200, obj[0], {"Content-Type": "application/octet-stream"})
            elif what == "requests":
                out = bucket.requests
            elif what == "fault" and self.command == "POST":
                f = json.loads(body or b"{}")
                bucket.fault = {"status": int(f.get("status", 503)), "count": int(f.get("count", -1)),
                                "methods": f.get("methods") or ["GET", "PUT", "POST", "DELETE",
                                                                "HEAD"],
                                "query": f.get("query", ""), "hang": float(f.get("hang", 0))}
                return self.reply(204)
            elif what == "fault" and self.command == "DELETE":
                bucket.fault = None
                return self.reply(204)
            else:
                return self.reply(404, b"", {"Content-Type": "text/plain"})
        self.reply(200, json.dumps(out).encode(), {"Content-Type": "application/json"})


def _write_port_file(path, port):
    # Write then rename, so a reader never sees a half-written file.
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--access-key", default="parley-test")
    ap.add_argument("--secret-key", default="parley-test-secret")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--bucket", action="append", default=[], help="create bucket B at start")
    args = ap.parse_args()
    state = State(args.access_key, args.secret_key, args.region)
    for b in args.bucket:
        state.buckets[b] = Bucket()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.state = state
    port = server.server_address[1]
    if args.port_file:
        _write_port_file(args.port_file, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                               name="accept")
    serving.start()
    print("ready", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    serving.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
