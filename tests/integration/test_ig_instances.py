"""Instagram with several instances on one store and one Redis (issue 16): a
send in flight on a live instance is never resolved by another instance's
start-up; a send whose instance died (and never comes back) is resolved by a
live instance once the send's lease ran out, failed with unknown_outcome, live
as message.updated and never resent; a due token is refreshed once however
many instances tick.

With SQLite both instances open one file in one data directory; with MongoDB
one database (as test_multi_instance.py)."""
import asyncio
import json
import os
import signal
import time
import uuid

import pytest
import websockets

from conftest import mongo_uri
from fakegraph import FakeGraph
from igutil import ACCOUNT, CONTACT, connect, ig_conversations, ig_env, post_webhook, text_event, wait_until


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


@pytest.fixture
def shared(redis_url, fake, tmp_path):
    """What every instance of one test shares: the store, Redis, the fake Graph."""
    # One key seals the stored tokens for every instance (as deployed; without
    # it each data directory would generate its own).
    env = dict(ig_env(fake), PARLEY_REDIS_URL=redis_url, PARLEY_SECRET_KEY="5e" * 32)
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_igi_{uuid.uuid4().hex[:10]}")
        return env, None
    return env, str(tmp_path)


def instance(start_server, shared, **env):
    base, data = shared
    e = dict(base)
    e.update({k: str(v) for k, v in env.items()})
    return start_server(env=e, data_dir=data)


def inbox(srv):
    s = srv.signup()
    connect(srv, s["access_token"])
    mid = f"mid-{uuid.uuid4().hex[:12]}"
    assert post_webhook(srv, text_event("hello", mid)).status == 200
    conv = wait_until(lambda: next((c for c in ig_conversations(srv, s["access_token"])
                                    if c["last_message"] and c["last_message"].get("external_id") == mid),
                                   None))
    assert conv, "the inbound message did not arrive"
    return s, conv


def message(srv, s, conv, msg_id):
    r = srv.request("GET", f"/api/conversations/{conv['id']}/messages", token=s["access_token"])
    assert r.status == 200, r
    return next(m for m in r.json()["messages"] if m["id"] == msg_id)


def sends_to(fake, text):
    return [q for q in fake.sends() if (q["json"] or {}).get("message", {}).get("text") == text]


async def next_frame(ws, kind, pred=lambda f: True, timeout=20):
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        assert left > 0, f"no {kind} frame"
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        if frame["type"] == kind and pred(frame):
            return frame


def test_a_live_instances_send_survives_another_instances_start(start_server, shared, fake):
    one = instance(start_server, shared, PARLEY_GRAPH_TIMEOUT_MS=8000)
    s, conv = inbox(one)
    fake.delay = 3.0  # Graph answers this send slowly; the instance waits for it
    r = one.request("POST", f"/api/conversations/{conv['id']}/messages", {"text": "slow but fine"},
                    token=s["access_token"])
    assert r.status == 201, r
    mid = r.json()["message"]["id"]
    assert wait_until(lambda: sends_to(fake, "slow but fine"))
    # A second instance starts (and sweeps) while the send is out.
    two = instance(start_server, shared, PARLEY_GRAPH_TIMEOUT_MS=8000)
    assert wait_until(lambda: two.request("GET", "/api/auth/me", token=s["access_token"]).status == 200)
    seen = set()
    deadline = time.time() + 1.5
    while time.time() < deadline:
        seen.add(message(two, s, conv, mid)["status"])
        time.sleep(0.1)
    assert seen == {"pending"}, seen
    m = wait_until(lambda: (lambda x: x if x["status"] != "pending" else None)(message(two, s, conv, mid)))
    assert m["status"] == "sent" and m["error"] is None and m["external_id"].startswith("m_graph_"), m
    assert len(sends_to(fake, "slow but fine")) == 1


def test_a_dead_instances_send_is_resolved_by_a_live_one(start_server, shared, fake):
    # The live instance's lease: 4 attempts of 500 ms, the backoffs and the
    # slack (about 6 s); the dying one would wait a minute for Graph.
    two = instance(start_server, shared, PARLEY_GRAPH_TIMEOUT_MS=500)
    one = instance(start_server, shared, PARLEY_GRAPH_TIMEOUT_MS=60000)
    s, conv = inbox(one)
    fake.hang = True

    async def run():
        ws = await websockets.connect(f"{two.ws_url}?token={s['access_token']}")
        try:
            await next_frame(ws, "ready")
            await asyncio.sleep(0.3)  # the fresh subscription settles
            started = time.time()
            r = one.request("POST", f"/api/conversations/{conv['id']}/messages", {"text": "lost in flight"},
                            token=s["access_token"])
            assert r.status == 201, r
            mid = r.json()["message"]["id"]
            assert wait_until(lambda: sends_to(fake, "lost in flight"))
            one.proc.send_signal(signal.SIGKILL)  # and it never comes back
            one.proc.wait()
            assert message(two, s, conv, mid)["status"] == "pending"
            # The live instance's session hears the resolution.
            f = await next_frame(ws, "message.updated", lambda f: f["message"]["id"] == mid, timeout=30)
            assert f["message"]["status"] == "failed", f
            assert f["message"]["error"]["code"] == "unknown_outcome", f
            assert time.time() - started >= 5, "resolved before the lease ran out"
            return mid
        finally:
            await ws.close()
    mid = asyncio.run(run())
    m = message(two, s, conv, mid)
    assert m["status"] == "failed" and m["error"]["code"] == "unknown_outcome"
    time.sleep(1.0)
    assert len(sends_to(fake, "lost in flight")) == 1  # never resent by itself
    # A person decides: the same message, sent again by hand, goes out once.
    fake.hang = False
    fake.released.set()
    r = two.request("POST", f"/api/conversations/{conv['id']}/messages", {"text": "lost in flight"},
                    token=s["access_token"])
    assert r.status == 201
    again = r.json()["message"]["id"]
    assert wait_until(lambda: message(two, s, conv, again)["status"] == "sent")
    one.stop()


def refreshes(fake):
    return [q for q in fake.requests if "refresh_access_token" in q["path"]]


def test_one_refresh_per_account_across_instances(start_server, shared, fake):
    env = {"PARLEY_IG_TOKEN_REFRESH_INTERVAL_MS": 100}
    one = instance(start_server, shared, **env)
    two = instance(start_server, shared, **env)
    s = one.signup()
    tok = s["access_token"]
    # Graph answers slowly, so both instances tick many times while the
    # refresh is out, and both see the account due.
    fake.delay = 1.0
    r = one.request("POST", "/api/instagram/connect",
                    {"access_token": f"IGQ-test-{ACCOUNT}", "expires_in": 3600}, token=tok)
    assert r.status == 200, r
    assert wait_until(lambda: fake.refreshed, timeout=15)

    def refreshed_expiry():
        st = two.request("GET", "/api/instagram/status", token=tok).json()
        at = st["account"]["token_expires_at"]
        return st if at and at > time.strftime("%Y-%m-%dT", time.gmtime(time.time() + 30 * 86400)) else None
    st = wait_until(refreshed_expiry)
    assert st and st["connected"] is True
    time.sleep(2.0)
    assert len(refreshes(fake)) == 1, [q["path"] for q in refreshes(fake)]
    assert len(fake.refreshed) == 1
    # Both instances send with the one new token.
    fake.delay = 0.0
    old, new = fake.refreshed[0]
    assert old == f"IGQ-test-{ACCOUNT}"
    mid = f"mid-{uuid.uuid4().hex[:12]}"
    assert post_webhook(one, text_event("hi", mid)).status == 200
    conv = wait_until(lambda: next(iter(ig_conversations(two, tok)), None))
    assert conv
    for srv, text in ((one, "from one"), (two, "from two")):
        r = srv.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": text}, token=tok)
        assert r.status == 201, r
        assert [q["headers"]["Authorization"] for q in sends_to(fake, text)] == [f"Bearer {new}"]
