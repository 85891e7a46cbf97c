"""Instagram media (issue 18, point 6): an incoming attachment is shown at once
with Meta's URL, then fetched into storage in the background through the
address guard (the fake Graph API serves the bytes), typed by its magic bytes,
an image stripped of EXIF and given a thumbnail; its view's url becomes a
signed Parley URL. A fetch that fails is retried with backoff; one too large
or of a refused type keeps Meta's URL (fetch "failed"), as does one that fails
every attempt; pending fetches survive a restart."""
import os
import time

import pytest

from conftest import Server
from fakegraph import FakeGraph
from igutil import (CONTACT, connect, fixture_json, ig_env, post_webhook, text_event,
                    wait_until)

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "images")
PUBLIC_URL = "https://parley.example.com"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"


def image(name):
    with open(os.path.join(IMAGES, name), "rb") as f:
        return f.read()


def media_env(fake, **more):
    env = ig_env(fake)
    env.update({"PARLEY_MEDIA_FETCH_ALLOW": f"127.0.0.1:{fake.port}",
                "PARLEY_MEDIA_FETCH_RETRY_MS": "50", "PARLEY_MEDIA_FETCH_ATTEMPTS": "3",
                "PARLEY_UPLOAD_MAX_BYTES": "200000", "PARLEY_PUBLIC_URL": PUBLIC_URL})
    env.update(more)
    return env


@pytest.fixture(scope="module")
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def ig(fake):
    """One server for the module; each test has an account and contact of its own."""
    s = Server(env=media_env(fake)).start()
    yield s
    report = s.cleanup()
    assert not report, "sanitizer report from parleyd:\n" + report


_n = [0]


def owner(server, account=None):
    _n[0] += 1
    account = account or f"1784140000{_n[0]:07d}"
    s = server.signup()
    connect(server, s["access_token"], ig_user_id=account)
    s["account"] = account
    return s


def media_event(account, mid, attachments, contact=CONTACT):
    ev = fixture_json("message_attachment.json")
    ev["entry"][0]["id"] = account
    item = ev["entry"][0]["messaging"][0]
    item["recipient"]["id"] = account
    item["sender"]["id"] = contact
    item["message"]["mid"] = mid
    item["timestamp"] = int(time.time() * 1000)
    item["message"]["attachments"] = [{"type": t, "payload": {"url": u}} for t, u in attachments]
    return ev


def post(server, ev):
    r = post_webhook(server, ev)
    assert r.status == 200, r


def messages(server, tok):
    r = server.request("GET", "/api/messages/instagram", token=tok)
    convs = r.json()["conversations"]
    if not convs:
        return []
    r = server.request("GET", f"/api/messages/instagram/{convs[0]['id']}", token=tok)
    assert r.status == 200, r
    return r.json()["messages"]


def attachment(server, tok, mid, pred=lambda a: True):
    def find():
        for m in messages(server, tok):
            if m.get("external_id") == mid and pred(m["attachments"][0]):
                return m["attachments"][0]
        return None
    return wait_until(find, timeout=15)


def stored(a):
    return a["url"].startswith("/api/attachments/")


def test_image_shown_with_meta_url_then_stored_without_exif(ig, fake):
    s = owner(ig)
    jpg = image("gps.jpg")
    assert b"ParleyCam" in jpg
    path = "/media/trip.jpg"
    fake.media[path] = jpg
    fake.media_failures[path] = 0
    url = fake.media_url(path) + "?asset_id=1&signature=abc"
    post(ig, media_event(s["account"], "mid-image-1", [("image", url)]))
    first = attachment(ig, s["access_token"], "mid-image-1")
    assert first is not None and len(first["id"]) == 24
    assert first["type"] == "image" and first["source_url"] == url
    if not stored(first):  # shown with Meta's URL until the fetch is done
        assert first["url"] == url and first["fetch"] == "pending"
        assert first["content_type"] is None and first["size"] is None
    done = attachment(ig, s["access_token"], "mid-image-1", stored)
    assert done and done["id"] == first["id"], done
    assert done["content_type"] == "image/jpeg" and "fetch" not in done
    assert (done["width"], done["height"]) == (48, 64) and done["source_url"] == url
    assert "thumbnail_url" in done and "thumbnail_key" not in done
    r = ig.request("GET", done["url"])
    assert r.status == 200 and r.body[:2] == b"\xff\xd8" and b"ParleyCam" not in r.body
    assert done["size"] == len(r.body)
    r = ig.request("GET", done["thumbnail_url"])
    assert r.status == 200 and b"Exif" not in r.body
    assert fake.media_requests(path) == 1


def test_failing_fetch_is_retried_then_stored(ig, fake):
    s = owner(ig)
    path = "/media/doc.pdf"
    fake.media[path] = PDF
    fake.media_failures[path] = 2  # two 503s, then the bytes (3 attempts allowed)
    post(ig, media_event(s["account"], "mid-file-1", [("file", fake.media_url(path))]))
    done = attachment(ig, s["access_token"], "mid-file-1", stored)
    assert done, messages(ig, s["access_token"])
    assert done["type"] == "file" and done["content_type"] == "application/pdf"
    assert done["size"] == len(PDF) and "thumbnail_url" not in done
    assert fake.media_requests(path) == 3
    r = ig.request("GET", done["url"])
    assert r.status == 200 and r.body == PDF


def test_oversize_and_refused_type_keep_meta_url(ig, fake):
    s = owner(ig)
    big, page = "/media/big.pdf", "/media/page.html"
    fake.media[big] = PDF + b"0" * 250000  # over upload_max_bytes (200000)
    fake.media[page] = HTML
    post(ig, media_event(s["account"], "mid-big", [("file", fake.media_url(big))]))
    post(ig, media_event(s["account"], "mid-html", [("share", fake.media_url(page))]))
    for mid, path in (("mid-big", big), ("mid-html", page)):
        a = attachment(ig, s["access_token"], mid, lambda a: a.get("fetch") == "failed")
        assert a, messages(ig, s["access_token"])
        assert a["url"] == fake.media_url(path) and a["content_type"] is None
        assert fake.media_requests(path) == 1  # refused for good: not retried
    assert a["type"] == "share"


def test_fetch_failing_every_attempt_keeps_meta_url(ig, fake):
    s = owner(ig)
    path = "/media/gone.mp4"
    fake.media[path] = b"never served"
    fake.media_failures[path] = 100
    post(ig, media_event(s["account"], "mid-gone", [("video", fake.media_url(path))]))
    a = attachment(ig, s["access_token"], "mid-gone", lambda a: a.get("fetch") == "failed")
    assert a and a["url"] == fake.media_url(path)
    assert fake.media_requests(path) == 3  # media_fetch_attempts


def test_private_address_refused_without_allow(start_server, fake):
    srv = start_server(env=media_env(fake, PARLEY_MEDIA_FETCH_ALLOW="",
                                     PARLEY_MEDIA_FETCH_ATTEMPTS="1"))
    s = owner(srv)
    path = "/media/ssrf.pdf"
    fake.media[path] = PDF
    post(srv, media_event(s["account"], "mid-ssrf", [("file", fake.media_url(path))]))
    a = attachment(srv, s["access_token"], "mid-ssrf", lambda a: a.get("fetch") == "failed")
    assert a and a["url"] == fake.media_url(path)
    assert fake.media_requests(path) == 0  # the guard refused 127.0.0.1


def test_pending_fetch_resumes_after_restart(start_server, fake):
    srv = start_server(env=media_env(fake, PARLEY_MEDIA_FETCH_ATTEMPTS="20"))
    s = owner(srv)
    path = "/media/later.pdf"
    fake.media[path] = PDF
    fake.media_failures[path] = 1000
    post(srv, media_event(s["account"], "mid-later", [("file", fake.media_url(path))]))
    assert wait_until(lambda: fake.media_requests(path) >= 1)
    srv.stop()
    fake.media_failures[path] = 0
    env = dict(media_env(fake, PARLEY_MEDIA_FETCH_ATTEMPTS="20"))
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    again = start_server(env=env, data_dir=srv.data_dir)
    done = attachment(again, s["access_token"], "mid-later", stored)
    assert done and done["content_type"] == "application/pdf"


def test_unsent_message_takes_its_stored_media_with_it(ig, fake):
    s = owner(ig)
    path = "/media/unsent.pdf"
    fake.media[path] = PDF
    post(ig, media_event(s["account"], "mid-unsent", [("file", fake.media_url(path))]))
    done = attachment(ig, s["access_token"], "mid-unsent", stored)
    assert done and ig.request("GET", done["url"]).status == 200
    unsend = fixture_json("message_unsend.json")
    unsend["entry"][0]["id"] = s["account"]
    item = unsend["entry"][0]["messaging"][0]
    item["recipient"]["id"] = s["account"]
    item["sender"]["id"] = CONTACT
    item["message"]["mid"] = "mid-unsent"
    post(ig, unsend)

    def deleted():
        return [m for m in messages(ig, s["access_token"])
                if m.get("external_id") == "mid-unsent" and m["deleted"]]
    m = wait_until(deleted)
    assert m and m[0]["attachments"] == []
    assert wait_until(lambda: ig.request("GET", done["url"]).status == 404)


def test_agent_sends_an_image_by_a_url_meta_can_fetch(ig, fake):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, text_event("hello", "mid-hello-send", account=s["account"]))
    conv = wait_until(lambda: ig.request("GET", "/api/messages/instagram", token=tok)
                      .json()["conversations"])[0]["id"]
    data = image("gps.jpg")
    up = ig.request("POST", "/api/uploads?name=photo", token=tok, raw_body=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert up.status == 201, up
    att = up.json()["attachment"]
    doc = ig.request("POST", "/api/uploads?name=doc.pdf", token=tok, raw_body=PDF,
                     headers={"Content-Type": "application/octet-stream"}).json()["attachment"]
    path = f"/api/conversations/{conv}/messages"
    # Text with a file, two files, a PDF: Instagram takes one image, video or audio file.
    for body in ({"text": "hi", "attachment_ids": [att["id"]]},
                 {"attachment_ids": [att["id"], doc["id"]]}, {"attachment_ids": [doc["id"]]}):
        r = ig.request("POST", path, body, token=tok)
        assert r.status == 400 and r.json()["error"]["field"] == "attachment_ids", (body, r)
    before = len(fake.sends())
    r = ig.request("POST", path, {"attachment_ids": [att["id"]], "client_id": "pic-1"}, token=tok)
    assert r.status == 201, r
    m = r.json()["message"]
    assert [a["id"] for a in m["attachments"]] == [att["id"]] and m["text"] is None
    assert wait_until(lambda: len(fake.sends()) > before)
    sent = fake.sends()[-1]["json"]
    meta = sent["message"]["attachment"]
    assert meta["type"] == "image" and sent["recipient"]["id"] == CONTACT
    url = meta["payload"]["url"]
    prefix = f"{PUBLIC_URL}/api/attachments/{att['id']}?c={conv}&exp="
    assert url.startswith(prefix), url
    r = ig.request("GET", url[len(PUBLIC_URL):])  # what Meta fetches
    assert r.status == 200 and r.body[:2] in (b"\x89P", b"\xff\xd8")

    def delivered():
        for x in ig.request("GET", path, token=tok).json()["messages"]:
            if x["id"] == m["id"] and x.get("status") == "sent":
                return x
    assert wait_until(delivered)
