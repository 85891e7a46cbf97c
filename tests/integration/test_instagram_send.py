"""One send path for Instagram conversations (issue 16, items 1 and 4): every
route (REST conversation messages, WebSocket message.send, the send-message
call) stores the message pending, sends it through the (fake) Graph API and
stores sent/failed, live as message.updated; retries by client_id send at most
once; a send whose outcome is unknown is never resent, not even across a
crash; the 24-hour window and the HUMAN_AGENT tag; account health (error 190,
reconnect_needed pushed live) and token refresh by the loop's timer."""
import asyncio
import json
import os
import signal
import threading
import time

import pytest

from fakegraph import FakeGraph
from igutil import (ACCOUNT, CONTACT, connect, fixture_json, ig_conversations, ig_env, post_webhook, text_event,
                    wait_until)
from messaging_helpers import Client, run


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def start(start_server, fake, **env):
    e = ig_env(fake)
    e.update({k: str(v) for k, v in env.items()})
    return start_server(env=e)


def inbox(server, contact=CONTACT, text="hello", age_s=0, **connect_args):
    """An owner with a connected account and an Instagram conversation with contact."""
    s = server.signup()
    connect(server, s["access_token"], **connect_args)
    return s, conversation_with(server, s, contact, text, age_s)


def conversation_with(server, s, contact, text="hello", age_s=0):
    ts = int((time.time() - age_s) * 1000)
    mid = f"mid-{contact}-{time.time_ns()}"
    assert post_webhook(server, text_event(text, mid, contact=contact, ts_ms=ts)).status == 200

    def find():
        for c in ig_conversations(server, s["access_token"]):
            if c["last_message"] and c["last_message"].get("external_id") == mid:
                return c
        return None
    conv = wait_until(find)
    assert conv, "the inbound message did not arrive"
    return conv


def post(server, s, conv, text, client_id=None):
    body = {"text": text}
    if client_id:
        body["client_id"] = client_id
    return server.request("POST", f"/api/conversations/{conv['id']}/messages", body,
                          token=s["access_token"])


def message(server, s, conv, msg_id):
    r = server.request("GET", f"/api/conversations/{conv['id']}/messages", token=s["access_token"])
    assert r.status == 200, r
    return next(m for m in r.json()["messages"] if m["id"] == msg_id)


def settled(server, s, conv, msg_id, timeout=15):
    """The message once its delivery status is no longer pending. A server just
    restarted answers 503 `unavailable` until it has loaded its revocations
    (API.md); that is waited out like a pending status."""
    def check():
        r = server.request("GET", f"/api/conversations/{conv['id']}/messages",
                           token=s["access_token"])
        if r.status == 503 and r.json()["error"]["code"] == "unavailable":
            return None
        assert r.status == 200, r
        m = next(m for m in r.json()["messages"] if m["id"] == msg_id)
        return m if m["status"] != "pending" else None
    return wait_until(check, timeout=timeout)


def sends_to(fake, text):
    return [q for q in fake.sends() if (q["json"] or {}).get("message", {}).get("text") == text]


def test_rest_reply_goes_out_and_reports_live(start_server, fake):
    srv = start(start_server, fake)
    s, conv = inbox(srv)

    async def scenario():
        c = await Client.connect(srv, s)
        r = post(srv, s, conv, "Hi from the inbox", client_id="c-rest-1")
        assert r.status == 201, r
        m = r.json()["message"]
        assert m["status"] == "pending" and m["error"] is None and m["client_id"] == "c-rest-1"
        new = await c.expect("message.new", timeout=10)
        assert new["message"]["id"] == m["id"] and new["message"]["status"] == "pending"
        upd = await c.expect("message.updated", timeout=15)
        await c.close()
        return m, upd["message"]
    m, updated = run(scenario())
    assert updated["id"] == m["id"] and updated["status"] == "sent"
    assert updated["external_id"].startswith("m_graph_") and updated["error"] is None
    sent = sends_to(fake, "Hi from the inbox")
    assert len(sent) == 1
    assert sent[0]["path"] == f"/v21.0/{ACCOUNT}/messages"
    assert sent[0]["json"]["recipient"] == {"id": CONTACT}
    assert "tag" not in sent[0]["json"]
    assert sent[0]["headers"]["Authorization"] == f"Bearer IGQ-test-{ACCOUNT}"
    stored = message(srv, s, conv, m["id"])
    assert stored["status"] == "sent" and stored["external_id"] == updated["external_id"]
    # A retry of a sent client_id answers the message and sends nothing.
    again = post(srv, s, conv, "Hi from the inbox", client_id="c-rest-1")
    assert again.status == 200 and again.json()["message"]["id"] == m["id"]
    assert again.json()["message"]["status"] == "sent"
    time.sleep(0.3)
    assert len(sends_to(fake, "Hi from the inbox")) == 1
    # Chat conversations are untouched: no status, no Graph request.
    other = srv.signup()
    r = srv.request("POST", "/api/conversations",
                    {"type": "direct", "participant_id": other["user"]["id"]},
                    token=s["access_token"])
    chat = r.json()["conversation"]
    r = post(srv, s, chat, "plain chat")
    assert r.status == 201 and "status" not in r.json()["message"]
    assert post(srv, s, chat, "plain chat again").status == 201
    assert not sends_to(fake, "plain chat") and not sends_to(fake, "plain chat again")
    # Someone outside the conversation gets 404 and nothing is sent.
    assert post(srv, other, conv, "intruder").status == 404
    assert not sends_to(fake, "intruder")


def test_ws_send_acks_pending_then_updates(start_server, fake):
    srv = start(start_server, fake)
    s, conv = inbox(srv)

    async def scenario():
        a = await Client.connect(srv, s)
        b = await Client.connect(srv, s)  # the sender's other session
        await a.send({"type": "message.send", "conversation_id": conv["id"], "text": "over ws",
                      "client_id": "ws-1"})
        ack = await a.expect("message.ack", timeout=10, client_id="ws-1")
        assert ack["message"]["status"] == "pending"
        seen_b = await b.expect("message.new", timeout=10)
        assert seen_b["message"]["id"] == ack["message"]["id"]
        ua = await a.expect("message.updated", timeout=15)
        ub = await b.expect("message.updated", timeout=15)
        # Outside conversations answer like the chat path.
        await a.send({"type": "message.send", "conversation_id": "f" * 24, "text": "x",
                      "client_id": "ws-2"})
        err = await a.expect("error", timeout=10)
        await a.close()
        await b.close()
        return ack, ua, ub, err
    ack, ua, ub, err = run(scenario())
    assert ua["message"]["status"] == ub["message"]["status"] == "sent"
    assert ua["message"]["id"] == ack["message"]["id"]
    assert err["code"] == "not_found"
    assert len(sends_to(fake, "over ws")) == 1


def test_failed_send_keeps_graph_error_and_retries_once(start_server, fake):
    srv = start(start_server, fake)
    s, conv = inbox(srv)
    fake.script = [(400, {"error": {"message": "(#100) No matching user found", "code": 100,
                                    "type": "OAuthException"}})]
    r = post(srv, s, conv, "will fail", client_id="c-fail")
    assert r.status == 201 and r.json()["message"]["status"] == "pending"
    mid = r.json()["message"]["id"]
    m = settled(srv, s, conv, mid)
    assert m["status"] == "failed"
    assert m["error"] == {"code": "100", "message": "(#100) No matching user found"}
    assert len(sends_to(fake, "will fail")) == 1  # a 400 is not retried
    # Five retries of the same client_id at once: exactly one goes out.
    results = []

    def retry():
        results.append(post(srv, s, conv, "will fail", client_id="c-fail"))
    threads = [threading.Thread(target=retry) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(x.status == 200 and x.json()["message"]["id"] == mid for x in results), results
    m = settled(srv, s, conv, mid)
    assert m["status"] == "sent" and m["error"] is None
    time.sleep(0.5)
    assert len(sends_to(fake, "will fail")) == 2
    msgs = srv.request("GET", f"/api/conversations/{conv['id']}/messages",
                       token=s["access_token"]).json()["messages"]
    assert [x["id"] for x in msgs].count(mid) == 1 and len([x for x in msgs if x["text"] == "will fail"]) == 1


def test_unknown_outcome_is_never_resent(start_server, fake):
    srv = start(start_server, fake, PARLEY_GRAPH_TIMEOUT_MS=400)
    s, conv = inbox(srv)
    fake.hang = True
    r = post(srv, s, conv, "into the void", client_id="c-void")
    assert r.status == 201
    m = settled(srv, s, conv, r.json()["message"]["id"])
    assert m["status"] == "failed" and m["error"]["code"] == "unknown_outcome"
    time.sleep(1.0)  # a retry would have gone out by now
    assert len(sends_to(fake, "into the void")) == 1
    assert message(srv, s, conv, m["id"])["status"] == "failed"
    # A person decides: the same client_id sends it again, once.
    fake.hang = False
    r = post(srv, s, conv, "into the void", client_id="c-void")
    assert r.status == 200
    assert settled(srv, s, conv, m["id"])["status"] == "sent"
    assert len(sends_to(fake, "into the void")) == 2
    # The send-message call reports the unknown outcome as 504.
    fake.hang = True
    r = srv.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "void 2"},
                    token=s["access_token"])
    assert r.status == 504 and r.json()["error"]["code"] == "unknown_outcome"
    assert len(sends_to(fake, "void 2")) == 1


def test_pending_send_after_a_crash_becomes_unknown_outcome(start_server, fake):
    srv = start(start_server, fake, PARLEY_GRAPH_TIMEOUT_MS=60000)
    s, conv = inbox(srv)
    fake.hang = True
    r = post(srv, s, conv, "in flight at the crash")
    assert r.status == 201
    mid = r.json()["message"]["id"]
    assert fake.wait_for(lambda reqs: any(q["path"].endswith("/messages") for q in reqs))
    assert message(srv, s, conv, mid)["status"] == "pending"
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    srv.stop()
    fake.hang = False
    # Resolved once the send's lease ran out (the longest a send can take with
    # the restarted instance's Graph timeout, plus slack), never resent.
    env = ig_env(fake)
    env["PARLEY_GRAPH_TIMEOUT_MS"] = "500"
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    again = start_server(env=env, data_dir=srv.data_dir)
    m = settled(again, s, conv, mid)
    assert m["status"] == "failed" and m["error"]["code"] == "unknown_outcome"
    time.sleep(0.5)
    assert len(sends_to(fake, "in flight at the crash")) == 1


def echo_event(text, mid):
    ev = fixture_json("message_echo.json")
    item = ev["entry"][0]["messaging"][0]
    item["message"]["mid"] = mid
    item["message"]["text"] = text
    item["timestamp"] = int(time.time() * 1000)
    return ev


def test_echo_before_graphs_answer_is_not_stored_twice(start_server, fake):
    srv = start(start_server, fake)
    s, conv = inbox(srv)
    tok = s["access_token"]

    async def scenario():
        cl = await Client.connect(srv, s)
        fake.delay = 4.0  # Graph's answer to the send comes late
        r = post(srv, s, conv, "echo first", client_id="c-echo")
        assert r.status == 201
        msg_id = r.json()["message"]["id"]
        assert await asyncio.to_thread(wait_until, lambda: sends_to(fake, "echo first"))
        out = time.time()
        mid = f"m_graph_{sends_to(fake, 'echo first')[0]['n']}"
        # Meta's echo of the send arrives before Graph answered it.
        assert post_webhook(srv, echo_event("echo first", mid)).status == 200
        f = await cl.expect("message.updated", timeout=3)
        assert time.time() - out < fake.delay, "Graph answered first: the echo was not first"
        assert f["message"]["id"] == msg_id, f
        assert f["message"]["status"] == "sent" and f["message"]["external_id"] == mid, f
        await asyncio.sleep(fake.delay + 0.5)  # Graph's late answer changes nothing
        await cl.drain(0.3)
        news = [x for x in cl.seen if x["type"] == "message.new" and x["message"]["text"] == "echo first"]
        assert len(news) <= 1 and all(x["message"]["id"] == msg_id for x in news), news
        await cl.close()
        return msg_id, mid
    msg_id, mid = run(scenario())
    fake.delay = 0.0
    msgs = srv.request("GET", f"/api/conversations/{conv['id']}/messages", token=tok).json()["messages"]
    same = [m for m in msgs if m["text"] == "echo first"]
    assert [(m["id"], m["status"], m["external_id"]) for m in same] == [(msg_id, "sent", mid)], same
    # Meta retries the echo: still one message.
    assert post_webhook(srv, echo_event("echo first", mid)).status == 200
    # An echo of a message sent from elsewhere (the Instagram app) is stored.
    assert post_webhook(srv, echo_event("echo first", "mid-from-the-app")).status == 200
    def stored():
        ms = srv.request("GET", f"/api/conversations/{conv['id']}/messages", token=tok).json()["messages"]
        return ms if any(m.get("external_id") == "mid-from-the-app" for m in ms) else None
    msgs = wait_until(stored)
    assert msgs
    assert [m.get("external_id") for m in msgs if m["text"] == "echo first"] == [mid, "mid-from-the-app"]


def test_window_on_every_path_and_human_agent_tag(start_server, fake):
    srv = start(start_server, fake)
    s, conv = inbox(srv, age_s=2 * 86400)
    r = post(srv, s, conv, "too late")
    assert r.status == 422 and r.json()["error"]["code"] == "outside_messaging_window"

    async def ws_late():
        c = await Client.connect(srv, s)
        await c.send({"type": "message.send", "conversation_id": conv["id"], "text": "too late ws",
                      "client_id": "late"})
        err = await c.expect("error", timeout=10)
        await c.close()
        return err
    err = run(ws_late())
    assert err["code"] == "outside_messaging_window" and err["ref"] == "late"
    r = srv.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "late"},
                    token=s["access_token"])
    assert r.status == 422 and r.json()["error"]["code"] == "outside_messaging_window"
    assert not fake.sends()
    msgs = srv.request("GET", f"/api/conversations/{conv['id']}/messages",
                       token=s["access_token"]).json()["messages"]
    assert [m["text"] for m in msgs] == ["hello"]  # nothing stored
    # Clients read the windows the server enforces, connected or not (an agent).
    for who in (s, srv.signup()):
        st = srv.request("GET", "/api/instagram/status", token=who["access_token"]).json()
        assert st["reply_window"] == {"hours": 24, "agent_hours": 24}, st

    tagged = start(start_server, fake, PARLEY_IG_HUMAN_AGENT_TAG="on")
    for who in (tagged.signup(),):
        st = tagged.request("GET", "/api/instagram/status", token=who["access_token"]).json()
        assert st == {"connected": False, "reply_window": {"hours": 24, "agent_hours": 168}}, st
    s2, recent = inbox(tagged, contact="5550001", age_s=2 * 86400)
    r = post(tagged, s2, recent, "agent reply on day 2")
    assert r.status == 201, r
    assert settled(tagged, s2, recent, r.json()["message"]["id"])["status"] == "sent"
    out = sends_to(fake, "agent reply on day 2")
    assert out[0]["json"]["tag"] == "HUMAN_AGENT" and out[0]["json"]["messaging_type"] == "MESSAGE_TAG"
    fresh = conversation_with(tagged, s2, "5550002")
    r = post(tagged, s2, fresh, "inside 24h")
    assert r.status == 201
    assert settled(tagged, s2, fresh, r.json()["message"]["id"])["status"] == "sent"
    assert "tag" not in sends_to(fake, "inside 24h")[0]["json"]
    old = conversation_with(tagged, s2, "5550003", age_s=8 * 86400)
    r = post(tagged, s2, old, "day 8")
    assert r.status == 422 and r.json()["error"]["code"] == "outside_messaging_window"


def test_error_190_needs_reconnect_live(start_server, fake):
    srv = start(start_server, fake)
    s, conv = inbox(srv)
    tok = s["access_token"]

    async def scenario():
        c = await Client.connect(srv, s)
        fake.revoked.add(f"IGQ-test-{ACCOUNT}")
        r = post(srv, s, conv, "token gone")
        assert r.status == 201
        frame = await c.expect("instagram.status", timeout=15)
        upd = await c.expect("message.updated", timeout=15)
        await c.close()
        return frame, upd
    frame, upd = run(scenario())
    assert frame["connected"] is False and frame["status"] == "reconnect_needed"
    assert frame["account"]["status_error"]["code"] == "190"
    assert "token_cipher" not in frame["account"]
    assert upd["message"]["status"] == "failed" and upd["message"]["error"]["code"] == "190"
    st = srv.request("GET", "/api/instagram/status", token=tok).json()
    assert st["connected"] is False and st["status"] == "reconnect_needed"
    assert st["account"]["ig_user_id"] == ACCOUNT
    before = len(fake.sends())
    # Every send path answers a clear error and asks Graph nothing.
    r = post(srv, s, conv, "after 190")
    assert r.status == 409 and r.json()["error"]["code"] == "reconnect_needed"
    r = srv.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "x"},
                    token=tok)
    assert r.status == 409 and r.json()["error"]["code"] == "reconnect_needed"
    assert len(fake.sends()) == before
    # A flow's send ends its run with reconnect_needed.
    flow = {"name": "greet", "status": "active",
            "trigger": {"type": "keyword", "keywords": ["price"], "match": "contains"},
            "start": "m1", "nodes": [{"id": "m1", "type": "message", "data": {"text": "hi"}}],
            "edges": []}
    r = srv.request("POST", "/api/flows", flow, token=tok)
    assert r.status == 201, r
    fid = r.json()["flow"]["id"]
    # The replies above paused automation for this contact (human takeover): resume it,
    # so the keyword starts the flow.
    contact_id = conv["contact_id"]
    r = srv.request("POST", f"/api/contacts/{contact_id}/automation", {"paused": False},
                    token=tok)
    assert r.status == 200, r
    assert post_webhook(srv, text_event("what price?", "mid-190-flow")).status == 200

    def failed_run():
        runs = srv.request("GET", f"/api/flows/{fid}/runs", token=tok).json().get("runs", [])
        return [x for x in runs if x["status"] == "failed"]
    runs = wait_until(failed_run)
    assert runs and runs[0]["error"] == "reconnect_needed", runs
    assert len(fake.sends()) == before
    # Reconnecting with a good token makes it healthy again, live.
    fake.revoked.clear()

    async def reconnect():
        c = await Client.connect(srv, s)
        connect(srv, tok)
        frame = await c.expect("instagram.status", timeout=10)
        await c.close()
        return frame
    frame = run(reconnect())
    assert frame["connected"] is True and frame["status"] == "connected"
    assert frame["account"]["status_error"] is None
    r = post(srv, s, conv, "healthy again")
    assert r.status == 201
    assert settled(srv, s, conv, r.json()["message"]["id"])["status"] == "sent"


def test_token_refresh_by_the_timer_is_persisted(start_server, fake):
    srv = start(start_server, fake, PARLEY_IG_TOKEN_REFRESH_INTERVAL_MS=200)
    s = srv.signup()
    tok = s["access_token"]
    r = srv.request("POST", "/api/instagram/connect",
                    {"access_token": f"IGQ-test-{ACCOUNT}", "expires_in": 3600}, token=tok)
    assert r.status == 200, r
    assert r.json()["account"]["status"] == "connected"
    assert wait_until(lambda: fake.refreshed, timeout=15)
    old, new = fake.refreshed[0]
    assert old == f"IGQ-test-{ACCOUNT}"
    refresh = [q for q in fake.requests if "refresh_access_token" in q["path"]][0]
    assert "grant_type=ig_refresh_token" in refresh["path"]

    def expiry():
        st = srv.request("GET", "/api/instagram/status", token=tok).json()
        at = st["account"]["token_expires_at"]
        return st if at and at > time.strftime("%Y-%m-%dT", time.gmtime(time.time() + 30 * 86400)) else None
    st = wait_until(expiry)
    assert st and st["connected"] is True
    time.sleep(1.0)
    assert len(fake.refreshed) == 1  # not due again for weeks
    # Sends use the refreshed token, also after a restart.
    conv = conversation_with(srv, s, CONTACT)
    r = post(srv, s, conv, "with the new token")
    assert settled(srv, s, conv, r.json()["message"]["id"])["status"] == "sent"
    assert sends_to(fake, "with the new token")[0]["headers"]["Authorization"] == f"Bearer {new}"
    srv.stop()
    env = ig_env(fake)
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    else:  # stored sealed, never in clear
        with open(os.path.join(srv.data_dir, "parley.db"), "rb") as f:
            assert new.encode() not in f.read()
    again = start_server(env=env, data_dir=srv.data_dir)
    r = post(again, s, conv, "after restart")
    assert settled(again, s, conv, r.json()["message"]["id"])["status"] == "sent"
    assert sends_to(fake, "after restart")[0]["headers"]["Authorization"] == f"Bearer {new}"


def test_refused_or_expired_token_needs_reconnect(start_server, fake):
    srv = start(start_server, fake, PARLEY_IG_TOKEN_REFRESH_INTERVAL_MS=200)
    # A refresh Graph refuses with 190.
    s = srv.signup()
    fake.refresh_script = [(400, {"error": {"message": "Session has expired", "code": 190}})]
    r = srv.request("POST", "/api/instagram/connect",
                    {"access_token": f"IGQ-test-{ACCOUNT}", "expires_in": 3600},
                    token=s["access_token"])
    assert r.status == 200
    st = wait_until(lambda: (lambda x: x if x.get("status") == "reconnect_needed" else None)(
        srv.request("GET", "/api/instagram/status", token=s["access_token"]).json()))
    assert st and st["account"]["status_error"]["code"] == "190"
    # A token that expires while refreshes fail (Graph down) is expired.
    s2 = srv.signup()
    fake.refresh_script = [(500, {"error": {"message": "down", "code": 2}})] * 400
    r = srv.request("POST", "/api/instagram/connect",
                    {"access_token": "IGQ-test-17841400000000002", "expires_in": 2},
                    token=s2["access_token"])
    assert r.status == 200
    assert r.json()["account"]["token_expires_at"]
    st = wait_until(lambda: (lambda x: x if x.get("status") == "reconnect_needed" else None)(
        srv.request("GET", "/api/instagram/status", token=s2["access_token"]).json()), timeout=20)
    assert st and st["account"]["status_error"]["code"] == "token_expired", st
    # expires_in is validated.
    for bad in [0, -5, "3600", 10 ** 9, 1.5]:
        r = srv.request("POST", "/api/instagram/connect",
                        {"access_token": f"IGQ-test-{ACCOUNT}", "expires_in": bad},
                        token=s["access_token"])
        assert r.status == 400 and r.json()["error"]["field"] == "expires_in", bad
