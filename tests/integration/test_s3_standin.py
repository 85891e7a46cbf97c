"""The S3 stand-in (tests/s3_server) refuses what S3 refuses, so the S3 backend's
tests mean something: requests signed by Debian's curl 7.88 (the same libcurl
parleyd links) pass only when built the way files_s3.c builds them, and every
pitfall of 7.88 the backend works around is refused here, as S3 refuses it
(SignatureDoesNotMatch), as are a wrong key, a body that does not match its
hash and a chunked PUT (411 MissingContentLength). Needs no parleyd."""
import hashlib
import os
import re
import shutil
import subprocess

import pytest

from storage_helpers import ACCESS_KEY, SECRET_KEY, control, s3_url

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
EMPTY = hashlib.sha256(b"").hexdigest()


@pytest.fixture
def bucket():
    name = "standin-" + os.urandom(6).hex()
    control("POST", "buckets/" + name)
    return name


def s3(bucket, method, path, body=None, sha=None, headers=(), secret=SECRET_KEY, tmp=None):
    """curl --aws-sigv4 as libcurl signs for parleyd; returns (status, body)."""
    verb = ["-I"] if method == "HEAD" else ["-X", method]
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *verb,
            "--aws-sigv4", "aws:amz:us-east-1:s3", "-u", f"{ACCESS_KEY}:{secret}"]
    if body is not None:
        src = os.path.join(tmp, "body")
        with open(src, "wb") as f:
            f.write(body)
        args += ["-T", src] if method == "PUT" else ["--data-binary", "@" + src]
    sha = sha or hashlib.sha256(body or b"").hexdigest()
    args += ["-H", f"x-amz-content-sha256: {sha}"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [f"{s3_url()}/{bucket}/{path}"], capture_output=True,
                         timeout=30).stdout
    text, _, code = out.rpartition(b"\n")
    return int(code), text


def code(body):
    m = re.search(rb"<Code>([^<]+)</Code>", body)
    return m.group(1).decode() if m else None


def test_signed_requests_pass_and_each_curl_788_pitfall_is_refused(bucket, tmp_path):
    t = str(tmp_path)
    assert s3(bucket, "PUT", "k1", b"hello", tmp=t)[0] == 200
    status, body = s3(bucket, "GET", "k1", headers=["Range: bytes=1-3"], sha=EMPTY)
    assert (status, body) == (206, b"ell")
    assert s3(bucket, "HEAD", "k1", sha=EMPTY)[0] == 200
    # "?uploads" as curl 7.88 signs it is not S3's canonical "uploads=".
    status, body = s3(bucket, "POST", "k2?uploads", b"", tmp=t)
    assert (status, code(body)) == (403, "SignatureDoesNotMatch")
    status, body = s3(bucket, "POST", "k2?uploads=", b"", tmp=t)
    assert status == 200
    upload_id = re.search(rb"<UploadId>([^<]+)</UploadId>", body).group(1).decode()
    # Query parameters out of order: curl signs them as written.
    status, body = s3(bucket, "PUT", f"k2?uploadId={upload_id}&partNumber=1", b"x", tmp=t)
    assert (status, code(body)) == (403, "SignatureDoesNotMatch")
    assert s3(bucket, "PUT", f"k2?partNumber=1&uploadId={upload_id}", b"x", tmp=t)[0] == 200
    # A header blanked with "Name:" is signed by 7.88 and then not sent.
    status, body = s3(bucket, "PUT", "k3", b"abc", headers=["Expect:"], tmp=t)
    assert status == 403
    # Without x-amz-content-sha256's help curl hashes no body of a read callback.
    status, body = s3(bucket, "PUT", "k3", b"abc", sha=EMPTY, tmp=t)
    assert (status, code(body)) == (400, "XAmzContentSHA256Mismatch")
    # A wrong secret, and a chunked PUT (no Content-Length), as S3 answers them.
    status, body = s3(bucket, "PUT", "k4", b"abc", secret="wrong", tmp=t)
    assert (status, code(body)) == (403, "SignatureDoesNotMatch")
    status, body = s3(bucket, "PUT", "k4", b"abc", sha="UNSIGNED-PAYLOAD",
                      headers=["Transfer-Encoding: chunked"], tmp=t)
    assert (status, code(body)) == (411, "MissingContentLength")
    # Parts of a multipart upload: listed, completed only at 5 MiB but the last, aborted.
    status, body = s3(bucket, "GET", f"k2?uploadId={upload_id}", sha=EMPTY)
    assert status == 200 and b"<PartNumber>1</PartNumber>" in body
    assert s3(bucket, "DELETE", f"k2?uploadId={upload_id}", sha=EMPTY)[0] == 204
    status, body = s3(bucket, "POST", "k5?uploads=", b"", tmp=t)
    uid = re.search(rb"<UploadId>([^<]+)</UploadId>", body).group(1).decode()
    etags = []
    for n in (1, 2):
        out = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", "-T",
                              _write(t, b"p" * 1000), "--aws-sigv4", "aws:amz:us-east-1:s3",
                              "-u", f"{ACCESS_KEY}:{SECRET_KEY}", "-H",
                              f"x-amz-content-sha256: {hashlib.sha256(b'p' * 1000).hexdigest()}",
                              f"{s3_url()}/{bucket}/k5?partNumber={n}&uploadId={uid}"],
                             capture_output=True, timeout=30).stdout.decode()
        etags.append(re.search(r"(?i)etag: (\S+)", out).group(1))
    xml = ("<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        for n, e in zip((1, 2), etags)) + "</CompleteMultipartUpload>").encode()
    status, body = s3(bucket, "POST", f"k5?uploadId={uid}", xml, tmp=t)
    assert (status, code(body)) == (400, "EntityTooSmall")
    assert s3(bucket, "DELETE", "k1", sha=EMPTY)[0] == 204
    assert s3(bucket, "GET", "k1", sha=EMPTY)[0] == 404
    state = control("GET", "state/" + bucket)
    assert state["objects"] == {} and [u["key"] for u in state["uploads"]] == ["k5"]


def _write(tmp, data):
    path = os.path.join(tmp, "part")
    with open(path, "wb") as f:
        f.write(data)
    return path
