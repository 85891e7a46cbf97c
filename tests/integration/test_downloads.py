"""Downloads (issue 18, item 3): an attachment's view carries a short-lived
signed url (and thumbnail_url when it has a thumbnail); GET on it streams the
file from storage with Range, ETag and the headers that keep an uploaded file
from running in Parley's origin. Altered, expired, or another file's URL: 404."""
import os
import re
import socket
import time
from urllib.parse import urlsplit, parse_qs, urlencode

from messaging_helpers import Client, api, create_direct, create_group, run
from test_uploads import PDF, png_bytes, read_reply, upload


def get(server, url, headers=None, method="GET"):
    return server.request(method, url, headers=headers)


def send(server, session, cid, ids, text=None):
    body = {"attachment_ids": ids}
    if text:
        body["text"] = text
    r = api(server, "POST", f"/api/conversations/{cid}/messages", session, body)
    assert r.status == 201, r
    return r.json()["message"]


def with_query(url, **changes):
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    q.update(changes)
    q = {k: v for k, v in q.items() if v is not None}
    return parts.path + "?" + urlencode(q)


def test_uploader_and_participants_download_through_signed_urls(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    img = png_bytes(extra=5000)
    att = upload(server, a, img, name="cat%20photo.png").json()["attachment"]
    # The uploader gets a URL at once, for themselves (before sending).
    assert re.fullmatch(r"/api/attachments/[0-9a-f]{24}\?u=[0-9a-f]{24}&exp=\d+&sig=[0-9a-f]{32}",
                        att["url"]), att
    # An image has its thumbnail (test_images.py), a JPEG served inline.
    assert att["thumbnail_url"].startswith(f"/api/attachments/{att['id']}/thumbnail?u="), att
    r = get(server, att["thumbnail_url"])
    assert r.status == 200 and r.body[:3] == b"\xff\xd8\xff", r
    assert r.header("Content-Type") == "image/jpeg"
    assert r.header("Content-Length") == str(len(r.body))
    assert r.header("Content-Disposition").startswith("inline")
    r = get(server, att["url"])
    assert r.status == 200 and r.body == img
    assert r.header("Content-Type") == "image/png"
    assert r.header("Content-Length") == str(len(img))
    assert r.header("Content-Disposition").startswith("inline;")
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert "default-src 'none'" in r.header("Content-Security-Policy")
    assert r.header("Cache-Control").startswith("private, max-age=")
    assert r.header("Accept-Ranges") == "bytes"
    etag = r.header("ETag")
    assert etag == f'"{att["id"]}"'

    doc = upload(server, a, PDF, name="r%22%C3%A9.pdf").json()["attachment"]
    m = send(server, a, cid, [att["id"], doc["id"]], "files")
    # In a message the URLs are signed for the conversation: both participants
    # (and their frames) see the same ones.
    urls = [x["url"] for x in m["attachments"]]
    assert all(f"c={cid}" in u for u in urls), urls
    hist = api(server, "GET", f"/api/conversations/{cid}/messages", b).json()["messages"]
    assert [x["url"] for x in hist[0]["attachments"]] == urls
    assert all("user_id" not in x for x in hist[0]["attachments"])
    # The conversation's last message carries them too (one conversation, and the list).
    conv = api(server, "GET", f"/api/conversations/{cid}", b).json()["conversation"]
    assert [x["url"] for x in conv["last_message"]["attachments"]] == urls
    convs = api(server, "GET", "/api/conversations", b).json()["conversations"]
    assert [x["url"] for x in convs[0]["last_message"]["attachments"]] == urls
    r = get(server, urls[1])
    assert r.status == 200 and r.body == PDF
    assert r.header("Content-Type") == "application/pdf"
    cd = r.header("Content-Disposition")
    assert cd.startswith("attachment;") and "filename*=UTF-8''r%22%C3%A9.pdf" in cd, cd
    assert r.header("X-Content-Type-Options") == "nosniff"
    # HEAD: the headers of the GET, no body.
    r = get(server, urls[1], method="HEAD")
    assert r.status == 200 and r.header("Content-Length") == str(len(PDF)) and r.body == b""
    # Someone outside the conversation never got a URL; the history says so.
    r = api(server, "GET", f"/api/conversations/{cid}/messages", c)
    assert r.status == 404


def test_etag_and_ranges(server):
    a = server.signup()
    data = b"%PDF-1.4\n" + bytes(range(256)) * 400
    att = upload(server, a, data, name="d.pdf").json()["attachment"]
    url = att["url"]
    etag = f'"{att["id"]}"'
    r = get(server, url, {"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and r.header("ETag") == etag
    r = get(server, url, {"If-None-Match": '"other"'})
    assert r.status == 200 and r.body == data
    n = len(data)
    for rng, lo, hi in (("bytes=0-9", 0, 9), ("bytes=100-", 100, n - 1), ("bytes=-50", n - 50, n - 1),
                        (f"bytes=10-{n + 100}", 10, n - 1), ("bytes=-999999", 0, n - 1)):
        r = get(server, url, {"Range": rng})
        assert r.status == 206, (rng, r)
        assert r.body == data[lo:hi + 1], rng
        assert r.header("Content-Range") == f"bytes {lo}-{hi}/{n}", rng
        assert r.header("Content-Length") == str(hi - lo + 1)
    for rng in (f"bytes={n}-", f"bytes={n + 5}-{n + 9}", "bytes=-0"):
        r = get(server, url, {"Range": rng})
        assert r.status == 416, (rng, r)
        assert r.header("Content-Range") == f"bytes */{n}"
    # Several ranges, or one we do not read: the whole file.
    for rng in ("bytes=0-1,5-6", "items=0-1", "bytes=5-2"):
        r = get(server, url, {"Range": rng})
        assert r.status == 200 and r.body == data, rng
    # If-Range with another validator: the whole file.
    r = get(server, url, {"Range": "bytes=0-9", "If-Range": '"old"'})
    assert r.status == 200 and r.body == data


def test_altered_expired_and_foreign_urls_are_404(start_server):
    server = start_server(env={"PARLEY_ATTACHMENT_URL_TTL_S": "10"})
    a, b, c = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    att = upload(server, a, PDF, name="x.pdf").json()["attachment"]
    other = upload(server, c, PDF, name="y.pdf").json()["attachment"]
    url = att["url"]
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    flip = q["sig"][:-1] + ("0" if q["sig"][-1] != "0" else "1")
    bad = [
        with_query(url, sig=flip),
        with_query(url, sig=None),
        with_query(url, exp=str(int(q["exp"]) + 1)),
        with_query(url, exp=str(int(time.time()) - 1)),
        with_query(url, u=c["user"]["id"]),
        with_query(url, u=None, c=cid),
        url.replace(att["id"], other["id"]),
        url.replace(att["id"], "0" * 24),
        url.replace(att["id"], att["id"] + "/thumbnail"),  # no thumbnail, and not signed for one
        f"/api/attachments/{att['id']}",
        with_query(url, sig="zz" * 16),
    ]
    for u in bad:
        r = get(server, u)
        assert r.status == 404 and r.json()["error"]["code"] == "not_found", (u, r)
    # The signature of c's own upload does not open a's file.
    r = get(server, other["url"].replace(other["id"], att["id"]))
    assert r.status == 404
    # A URL lives between ttl and twice ttl (10 s here): still good now, gone after.
    assert get(server, url).status == 200
    exp = int(q["exp"])
    assert time.time() + 10 <= exp + 1 and exp <= time.time() + 21
    time.sleep(max(0, exp - time.time()) + 1.1)
    r = get(server, url)
    assert r.status == 404, r


def test_message_new_frames_carry_urls_that_work(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    conv = create_group(server, a, [b, c])
    img = png_bytes()
    att = upload(server, a, img, name="p.png").json()["attachment"]

    async def main():
        bc = await Client.connect(server, b)
        cc = await Client.connect(server, c)
        ac = await Client.connect(server, a)
        await ac.send({"type": "message.send", "conversation_id": conv["id"],
                       "attachment_ids": [att["id"]], "client_id": "k1"})
        ack = await ac.expect("message.ack", client_id="k1")
        nb = await bc.expect("message.new")
        nc = await cc.expect("message.new")
        return ack["message"], nb["message"], nc["message"]
    ack, nb, nc = run(main())
    urls = {m["attachments"][0]["url"] for m in (ack, nb, nc)}
    assert len(urls) == 1, urls  # one frame for all, signed for the conversation
    assert get(server, urls.pop()).body == img


def test_large_download_streams_at_a_slow_pace(start_server):
    # A 6 MiB file read slowly: the connection is not cut while the client
    # reads, because each piece it takes restarts the clock.
    server = start_server(env={"PARLEY_REQUEST_TIMEOUT_MS": "1500"})
    a = server.signup()
    data = b"%PDF-1.4\n" + os.urandom(6 * 1024 * 1024)
    att = upload(server, a, data, name="big.pdf").json()["attachment"]
    s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(f"GET {att['url']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = b""
    start = time.time()
    while True:
        chunk = s.recv(32 * 1024)
        if not chunk:
            break
        got += chunk
        # About 2 MB/s: 3 s in all, twice the timeout.
        ahead = len(got) / (2 * 1024 * 1024) - (time.time() - start)
        if ahead > 0:
            time.sleep(ahead)
        if b"\r\n\r\n" in got and len(got.partition(b"\r\n\r\n")[2]) >= len(data):
            break
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    assert body == data
    assert time.time() - start > 2.5
    # A client that stops reading is dropped after the timeout.
    s2 = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    s2.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    s2.sendall(f"GET {att['url']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(4)
    total = 0
    try:
        while True:
            chunk = s2.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
    except ConnectionResetError:
        pass
    assert total < len(data)
    s.close()
    s2.close()
