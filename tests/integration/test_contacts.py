"""Contacts are people: the Graph profile fetched off the request path on a
contact's first message (cached, a failure or a hang never in the way, retried
by the next message), the conversation named after the contact and embedding
it, hand edits of tags and variables with their bounds, the paged, filtered and
searched list, and ownership."""
import asyncio
import datetime
import json
import os
import sqlite3
import threading
import time

import pytest
import websockets

from fakegraph import FakeGraph
from igutil import ACCOUNT, CONTACT, connect, ig_conversations, ig_env, post_webhook, text_event, wait_until

MIA = {"name": "Mia Rossi", "username": "mia.rossi", "profile_pic": "https://scontent.cdninstagram.com/v/mia.jpg"}


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


@pytest.fixture
def ig(start_server, fake):
    return start_server(env=ig_env(fake))


def owner(server):
    s = server.signup()
    connect(server, s["access_token"])
    return s


def contacts(server, tok, query=""):
    r = server.request("GET", f"/api/contacts{query}", token=tok)
    assert r.status == 200, r
    return r.json()


def only_contact(server, tok):
    cs = contacts(server, tok)["contacts"]
    assert len(cs) == 1
    return cs[0]


def test_profile_fetched_once_names_the_conversation_live(ig, fake):
    fake.profiles[CONTACT] = MIA
    s = owner(ig)
    tok = s["access_token"]

    async def run():
        async with websockets.connect(f"{ig.ws_url}?token={tok}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
            assert post_webhook(ig, text_event("hello", "mid-prof-1")).status == 200
            while True:
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if f["type"] == "conversation.updated" and f["conversation"]["name"] == "Mia Rossi":
                    return f["conversation"]
    conv = asyncio.run(run())
    assert conv["contact"]["username"] == "mia.rossi"
    reqs = fake.profile_requests()  # one fetch (a second attempt only if the first timed out)
    assert 1 <= len(reqs) <= 2
    assert {r["path"] for r in reqs} == {f"/v21.0/{CONTACT}?fields=name,username,profile_pic"}
    assert reqs[0]["headers"]["Authorization"] == f"Bearer IGQ-test-{ACCOUNT}"
    c = only_contact(ig, tok)
    assert (c["name"], c["username"], c["profile_pic"]) == (MIA["name"], MIA["username"], MIA["profile_pic"])
    assert c["profile_fetched_at"].endswith("Z") and "owner_id" not in c
    listed = ig_conversations(ig, tok)[0]
    assert listed["name"] == "Mia Rossi" and listed["contact_id"] == c["id"]
    assert listed["contact"] == c  # exactly the contact, as GET /api/contacts shows it
    one = ig.request("GET", f"/api/conversations/{listed['id']}", token=tok).json()["conversation"]
    assert one["contact"] == c
    # Cached: more messages fetch nothing within a day.
    for i in range(3):
        assert post_webhook(ig, text_event(f"again {i}", f"mid-prof-again-{i}")).status == 200
    wait_until(lambda: ig.request("GET", f"/api/messages/instagram/{listed['id']}", token=tok).json()["messages"].__len__() == 4)
    time.sleep(0.3)
    assert len(fake.profile_requests()) == len(reqs)


def test_failed_fetch_stores_the_message_and_the_next_one_retries(ig, fake):
    fake.profiles[CONTACT] = MIA
    fake.profile_failures = 2  # the first fetch and its one retry
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("first", "mid-fail-prof-1")).status == 200
    conv = wait_until(lambda: [c for c in ig_conversations(ig, tok) if c["last_message"]])
    assert conv[0]["last_message"]["text"] == "first"
    assert wait_until(lambda: len(fake.profile_requests()) >= 2 and fake.profile_failures == 0)
    time.sleep(0.3)
    c = only_contact(ig, tok)
    assert c["name"] is None and c["profile_fetched_at"] is None
    assert ig_conversations(ig, tok)[0]["name"] == CONTACT
    failed_attempts = len(fake.profile_requests())
    assert post_webhook(ig, text_event("second", "mid-fail-prof-2")).status == 200
    assert wait_until(lambda: only_contact(ig, tok)["name"] == "Mia Rossi")
    assert wait_until(lambda: ig_conversations(ig, tok)[0]["name"] == "Mia Rossi")
    assert len(fake.profile_requests()) > failed_attempts  # the second message fetched again


def age_profile(srv, contact_id, hours):
    """Makes the stored profile `hours` old, in the server's store (stopped)."""
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours)
    uri = srv.env.get("PARLEY_MONGO_URI")
    if uri:
        import pymongo
        client = pymongo.MongoClient(uri)
        try:
            db = client.get_default_database()
            r = db.contacts.update_one({"_id": contact_id}, {"$set": {"profile_fetched_at": at}})
            assert r.matched_count == 1
        finally:
            client.close()
    else:
        db = sqlite3.connect(os.path.join(srv.data_dir, "parley.db"))
        try:
            cur = db.execute("UPDATE contacts SET profile_fetched_at = ? WHERE id = ?",
                             (at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z", contact_id))
            assert cur.rowcount == 1
            db.commit()
        finally:
            db.close()


def restart(start_server, srv, fake):
    srv.stop()
    env = ig_env(fake)
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    return start_server(env=env, data_dir=srv.data_dir)


def test_profile_refetched_once_a_day_old(start_server, fake):
    """A profile younger than a day is not fetched again on the next message; one
    older than a day is, and the new name reaches the conversation."""
    fake.profiles[CONTACT] = MIA
    srv = start_server(env=ig_env(fake))
    s = owner(srv)
    tok = s["access_token"]
    assert post_webhook(srv, text_event("first", "mid-day-1")).status == 200
    def named(name):
        cs = contacts(srv, tok)["contacts"]
        return cs[0] if len(cs) == 1 and cs[0]["name"] == name else None
    c = wait_until(lambda: named("Mia Rossi"))
    assert c
    fetched = len(fake.profile_requests())
    conv = ig_conversations(srv, tok)[0]

    def messages(server):
        return server.request("GET", f"/api/messages/instagram/{conv['id']}", token=tok).json()["messages"]

    # 23 hours old: the next message fetches nothing.
    srv.stop()
    age_profile(srv, c["id"], 23)
    srv = restart(start_server, srv, fake)
    fake.profiles[CONTACT] = dict(MIA, name="Mia R. Bianchi")
    assert post_webhook(srv, text_event("second", "mid-day-2")).status == 200
    assert wait_until(lambda: len(messages(srv)) == 2)
    time.sleep(0.5)
    assert len(fake.profile_requests()) == fetched
    assert only_contact(srv, tok)["name"] == "Mia Rossi"
    # 25 hours old: the next message fetches it again, and the conversation is renamed.
    srv.stop()
    age_profile(srv, c["id"], 25)
    srv = restart(start_server, srv, fake)
    assert post_webhook(srv, text_event("third", "mid-day-3")).status == 200
    assert wait_until(lambda: named("Mia R. Bianchi"))
    assert len(fake.profile_requests()) == fetched + 1
    again = only_contact(srv, tok)["profile_fetched_at"]
    assert again > c["profile_fetched_at"]
    assert wait_until(lambda: ig_conversations(srv, tok)[0]["name"] == "Mia R. Bianchi")
    # The rename and the stored message are separate writes: either may land first (MongoDB).
    assert wait_until(lambda: len(messages(srv)) == 3)


def test_hanging_profile_endpoint_blocks_nothing(ig, fake):
    fake.profiles[CONTACT] = MIA
    fake.profile_gate = threading.Event()  # the profile endpoint hangs until set
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("quick", "mid-hang-prof-1")).status == 200
    assert fake.wait_for(lambda reqs: any(fake.profile_id(r["method"], r["path"]) for r in reqs))
    # The message is stored and the server answers while Graph has not.
    conv = wait_until(lambda: [c for c in ig_conversations(ig, tok) if c["last_message"]], timeout=10)
    for _ in range(10):
        assert ig.request("GET", "/healthz").status == 200
    assert conv[0]["last_message"]["text"] == "quick"
    assert only_contact(ig, tok)["name"] is None
    fake.profile_gate.set()
    assert wait_until(lambda: only_contact(ig, tok)["name"] == "Mia Rossi", timeout=15)


def test_patch_tags_and_variables(ig):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("hi", "mid-patch-1")).status == 200
    c = wait_until(lambda: contacts(ig, tok)["contacts"])[0]
    url = f"/api/contacts/{c['id']}"
    r = ig.request("PATCH", url, {"tags": ["vip", "lead", "vip"], "variables": {"city": "Rome", "size": 42}}, token=tok)
    assert r.status == 200, r
    got = r.json()["contact"]
    assert got["tags"] == ["vip", "lead"] and got["variables"] == {"city": "Rome", "size": 42}
    r = ig.request("PATCH", url, {"tags": ["buyer"], "variables": {"city": None, "plan": "gold", "ok": True}}, token=tok)
    got = r.json()["contact"]
    assert got["tags"] == ["buyer"]  # replaced
    assert got["variables"] == {"size": 42, "plan": "gold", "ok": True}  # merged; null deleted
    again = ig.request("GET", url, token=tok).json()["contact"]  # (the profile may land meanwhile)
    assert (again["tags"], again["variables"]) == (got["tags"], got["variables"])
    assert ig_conversations(ig, tok)[0]["contact"]["tags"] == ["buyer"]
    r = ig.request("PATCH", url, {"variables": {"plan": None}}, token=tok)
    assert r.json()["contact"]["variables"] == {"size": 42, "ok": True}
    assert r.json()["contact"]["tags"] == ["buyer"]  # tags untouched when absent
    assert ig.request("PATCH", url, {"tags": []}, token=tok).json()["contact"]["tags"] == []


@pytest.mark.parametrize("body", [
    {"tags": ["x" * 65]},
    {"tags": [f"t{i}" for i in range(101)]},
    {"tags": [""]},
    {"tags": "vip"},
    {"tags": [5]},
    {"variables": {f"v{i}": "x" for i in range(101)}},
    {"variables": {"n" * 65: "x"}},
    {"variables": {"big": "x" * 1025}},
    {"variables": {"a.b": "x"}},
    {"variables": {"$where": "x"}},
    {"variables": {"nested": {"a": 1}}},
    {"variables": ["x"]},
    {"tags": ["ok"], "variables": {"big": "x" * 2000}},
    {},
])
def test_bad_contact_edits_change_nothing(ig, body):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("hi", "mid-bad-1")).status == 200
    c = wait_until(lambda: contacts(ig, tok)["contacts"])[0]
    url = f"/api/contacts/{c['id']}"
    assert ig.request("PATCH", url, {"tags": ["keep"], "variables": {"k": "v"}}, token=tok).status == 200
    r = ig.request("PATCH", url, body, token=tok)
    assert r.status == 400, (body, r)
    assert r.json()["error"]["code"] == "validation_failed"
    after = ig.request("GET", url, token=tok).json()["contact"]
    assert after["tags"] == ["keep"] and after["variables"] == {"k": "v"}


def test_the_merged_variables_are_bounded_too(ig):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("hi", "mid-bound-1")).status == 200
    c = wait_until(lambda: contacts(ig, tok)["contacts"])[0]
    url = f"/api/contacts/{c['id']}"
    assert ig.request("PATCH", url, {"variables": {f"a{i}": i for i in range(60)}}, token=tok).status == 200
    r = ig.request("PATCH", url, {"variables": {f"b{i}": i for i in range(60)}}, token=tok)
    assert r.status == 400 and r.json()["error"]["code"] == "validation_failed"
    assert len(ig.request("GET", url, token=tok).json()["contact"]["variables"]) == 60
    # Deleting makes room in the same edit.
    r = ig.request("PATCH", url, {"variables": dict({f"a{i}": None for i in range(30)}, **{f"b{i}": i for i in range(70)})}, token=tok)
    assert r.status == 200 and len(r.json()["contact"]["variables"]) == 100


def test_list_pages_filters_and_searches(ig, fake):
    s = owner(ig)
    tok = s["access_token"]
    ids = [f"90000000000000{i:02d}" for i in range(7)]
    for i, igsid in enumerate(ids):
        fake.profiles[igsid] = {"name": f"Person {i}", "username": f"Shopper_{i}" if i % 2 else f"fan{i}",
                                "profile_pic": f"https://x/{i}.jpg"}
        assert post_webhook(ig, text_event(f"hi {i}", f"mid-list-{i}", contact=igsid)).status == 200
    assert wait_until(lambda: len([c for c in contacts(ig, tok, "?limit=200")["contacts"] if c["username"]]) == 7, timeout=15)
    seen, cursor, pages = [], None, 0
    while True:
        page = contacts(ig, tok, "?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        pages += 1
        assert len(page["contacts"]) <= 3
        seen += [c["ig_user_id"] for c in page["contacts"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and sorted(seen) == sorted(ids) and len(set(seen)) == 7
    found = contacts(ig, tok, "?q=shopper")["contacts"]
    assert sorted(c["username"] for c in found) == ["Shopper_1", "Shopper_3", "Shopper_5"]
    assert [c["username"] for c in contacts(ig, tok, "?q=FAN4")["contacts"]] == ["fan4"]
    assert contacts(ig, tok, "?q=.%2A")["contacts"] == []  # not a pattern
    c3 = [c for c in contacts(ig, tok)["contacts"] if c["username"] == "Shopper_3"][0]
    c4 = [c for c in contacts(ig, tok)["contacts"] if c["username"] == "fan4"][0]
    for c in (c3, c4):
        assert ig.request("PATCH", f"/api/contacts/{c['id']}", {"tags": ["vip"]}, token=tok).status == 200
    vip = contacts(ig, tok, "?tag=vip")
    assert sorted(c["id"] for c in vip["contacts"]) == sorted([c3["id"], c4["id"]])
    both = contacts(ig, tok, "?tag=vip&q=shopper&limit=1")
    assert [c["id"] for c in both["contacts"]] == [c3["id"]] and both["next_cursor"] is None
    assert contacts(ig, tok, "?tag=nobody")["contacts"] == []
    for bad in ["?limit=0", "?limit=201", "?limit=x", "?cursor=zzz", "?cursor=" + "0" * 25,
                "?tag=" + "t" * 65, "?q=" + "q" * 65, "?tag="]:
        r = ig.request("GET", f"/api/contacts{bad}", token=tok)
        assert r.status == 400 and r.json()["error"]["code"] == "validation_failed", bad


def test_only_the_owner_sees_or_edits_contacts(ig):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("hi", "mid-own-1")).status == 200
    c = wait_until(lambda: contacts(ig, tok)["contacts"])[0]
    other = ig.signup()["access_token"]
    assert contacts(ig, other)["contacts"] == []
    assert ig.request("GET", f"/api/contacts/{c['id']}", token=other).status == 404
    r = ig.request("PATCH", f"/api/contacts/{c['id']}", {"tags": ["mine"]}, token=other)
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    assert ig.request("GET", f"/api/contacts/{c['id']}", token=tok).json()["contact"]["tags"] == []
    assert ig.request("PATCH", "/api/contacts/000000000000000000000000", {"tags": ["x"]}, token=tok).status == 404
    assert ig.request("GET", "/api/contacts").status == 401
