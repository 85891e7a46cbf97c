"""Uploads as multipart/form-data (issue 18, item 1): the body is parsed as it
streams (the boundary may fall anywhere in a piece), one part named "file" is
the file, its filename the name; a truncated or malformed body is a 400 and,
like every refusal, leaves nothing in storage."""
import json
import os
import socket

from messaging_helpers import api
from storage_helpers import stored, stored_bytes
from test_uploads import PDF, png_bytes, raw_request, read_reply, wait_for

B = "----ParleyBoundary7MA4YWxkTrZu0gW"
CT = f"multipart/form-data; boundary={B}"


def form(file_bytes, filename="photo.png", ctype="image/png", fields=(), name="file", close=True):
    out = b"preamble\r\n"
    for k, v in fields:
        out += (f"--{B}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n").encode() + v + b"\r\n"
    out += (f"--{B}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {ctype}\r\n\r\n").encode() + file_bytes
    if close:
        out += f"\r\n--{B}--\r\n".encode()
    return out


def post(server, session, body, query="", ctype=CT):
    return api(server, "POST", "/api/uploads" + query, session, raw_body=body,
               headers={"Content-Type": ctype})


def nothing_left(server):
    return wait_for(lambda: stored(server) == ([], []))


def test_a_form_upload_is_stored_with_its_filename(server):
    a = server.signup()
    img = png_bytes(extra=70000)  # several pieces on the wire
    r = post(server, a, form(img, fields=[("caption", b"hi\r\n--not-the-boundary")]))
    assert r.status == 201, r
    att = r.json()["attachment"]
    assert att["name"] == "photo.png" and att["size"] == len(img)
    assert att["content_type"] == "image/png" and att["type"] == "image"
    assert stored_bytes(server, att["id"]) == img
    # The declared type does not count; ?name= overrides the filename.
    r = post(server, a, form(PDF, filename="x.png", ctype="image/png"), query="?name=report.pdf")
    assert r.status == 201, r
    assert r.json()["attachment"]["content_type"] == "application/pdf"
    assert r.json()["attachment"]["name"] == "report.pdf"
    # What a browser's FormData sends downloads back the same.
    got = server.request("GET", att["url"])
    assert got.status == 200 and got.body == img


def test_a_chunked_form_split_at_odd_points(server):
    a = server.signup()
    data = b"%PDF-1.4\n" + os.urandom(300000)
    body = form(data, filename="big.pdf", ctype="application/pdf")
    head = (f"POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a['access_token']}\r\n"
            f"Content-Type: {CT}\r\nTransfer-Encoding: chunked\r\n\r\n")
    s = raw_request(server, head)
    # Pieces that cut the closing boundary and the part's headers in two.
    cuts = [0, 5, len(b"preamble\r\n--") + 3, 200, 70001, len(body) - 7, len(body) - 3, len(body)]
    for lo, hi in zip(cuts, cuts[1:]):
        piece = body[lo:hi]
        s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    status, _, reply = read_reply(s)
    s.close()
    assert status == 201, reply
    att = json.loads(reply)["attachment"]
    assert att["name"] == "big.pdf" and att["size"] == len(data)
    assert stored_bytes(server, att["id"]) == data


def test_truncated_and_malformed_forms_are_400_and_leave_nothing(server):
    a = server.signup()
    img = png_bytes(extra=200000)
    cases = [
        (form(img, close=False), "invalid_multipart"),                     # no closing boundary
        (form(img)[:-len(f"\r\n--{B}--\r\n") - 10], "invalid_multipart"),  # cut inside the file
        (form(img, name="upload"), "validation_failed"),                   # no part named file
        (form(img, filename=""), "validation_failed"),                     # no name anywhere
        (b"--" + B.encode() + b"\r\nno colon\r\n\r\nx\r\n--" + B.encode() + b"--", "invalid_multipart"),
        (form(img, close=False) + b"\r\n" + form(PDF, filename="two.pdf")[len(b"preamble\r\n"):],
         "validation_failed"),                                             # two files
    ]
    for body, code in cases:
        r = post(server, a, body)
        assert r.status == 400 and r.json()["error"]["code"] == code, (code, r)
    r = post(server, a, form(img), ctype="multipart/form-data")  # no boundary
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_multipart"
    r = post(server, a, form(img), query="?name=x.png", ctype=f"multipart/mixed; boundary={B}")
    assert r.status == 415
    # Refused types are refused in a form too.
    r = post(server, a, form(b"<!DOCTYPE html><html><script>x()</script></html>\n" * 3,
                             filename="x.html", ctype="image/png"))
    assert r.status == 415, r
    assert nothing_left(server), stored(server)
    # A client that leaves halfway through a form.
    body = form(img)
    head = (f"POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a['access_token']}\r\n"
            f"Content-Type: {CT}\r\nContent-Length: {len(body)}\r\n\r\n")
    s = raw_request(server, head, body[:150000])
    s.close()
    assert nothing_left(server), stored(server)


def test_form_size_limits(start_server):
    server = start_server(env={"PARLEY_UPLOAD_MAX_BYTES": "100000"})
    a = server.signup()
    # Declared far beyond the limit: 413 before the body.
    head = (f"POST /api/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a['access_token']}\r\n"
            f"Content-Type: {CT}\r\nContent-Length: {100000 + 70000}\r\n\r\n")
    s = raw_request(server, head)
    status, hdrs, body = read_reply(s)
    s.close()
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    # A file over the limit inside a form of a plausible length: 413 once it passes.
    r = post(server, a, form(b"%PDF-1.4\n" + b"x" * 100001, filename="big.pdf"))
    assert r.status == 413, r
    # Exactly the limit in a form is fine.
    r = post(server, a, form(b"%PDF-1.4\n" + b"x" * (100000 - 9), filename="max.pdf"))
    assert r.status == 201, r
    assert wait_for(lambda: len(stored(server)[0]) == 1 and stored(server)[1] == [])
