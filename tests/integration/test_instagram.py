"""Instagram inbox end to end: webhook verification and signatures, every
fixture, deduplication, echoes, batches, live delivery, sending through a fake
Graph API inside and outside the 24-hour window, Graph failures and hangs, and
no event lost across a hard restart."""
import asyncio
import json
import signal
import time

import pytest
import websockets

from fakegraph import FakeGraph
from igutil import (ACCOUNT, CONTACT, VERIFY_TOKEN, connect, fixture, fixture_json,
                    ig_conversations, ig_env, ig_messages, post_webhook, sign, text_event,
                    wait_until)


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


def test_verify_token(ig, start_server):
    ok = ig.request("GET", f"/api/webhook/instagram?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=12345")
    assert ok.status == 200 and ok.body == b"12345"
    assert ok.header("Content-Type").startswith("text/plain")
    bad = ig.request("GET", "/api/webhook/instagram?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1")
    assert bad.status == 403 and bad.json()["error"]["code"] == "forbidden"
    bad_mode = ig.request("GET", f"/api/webhook/instagram?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1")
    assert bad_mode.status == 403
    plain = start_server()  # no secret configured
    assert plain.request("GET", "/api/webhook/instagram?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1").status == 503
    assert post_webhook(plain, fixture("message_text.json")).status == 503


def test_signatures(ig):
    body = fixture("message_text.json")
    good = sign(body)
    assert post_webhook(ig, body).status == 200
    for sig in [None, "sha256=" + "0" * 64, good[len("sha256="):], "sha1=" + good[7:], "sha256=zz"]:
        r = post_webhook(ig, body, signature=sig if sig is not None else False)
        assert r.status == 401, (sig, r)
        assert r.json()["error"]["code"] == "invalid_signature"
    changed = body.replace(b"blue", b"blua")
    r = post_webhook(ig, changed, signature=good)
    assert r.status == 401
    bad_json = b"{not json"
    r = post_webhook(ig, bad_json)
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_json"


def test_text_message_lands_in_owners_inbox_once(ig):
    s = owner(ig)
    tok = s["access_token"]
    body = fixture("message_text.json")
    r = post_webhook(ig, body)
    assert r.status == 200 and r.body == b"EVENT_RECEIVED"
    assert post_webhook(ig, body).status == 200  # Meta retries
    msgs = wait_until(lambda: ig_messages(ig, tok))
    assert len(msgs) == 1
    m = msgs[0]
    assert m["text"] == "Hi! What is the price of the blue mug?"
    assert m["sender_id"] == f"ig:{CONTACT}"
    assert m["source"] == "instagram"
    time.sleep(0.3)
    assert len(ig_messages(ig, tok)) == 1
    convs = ig_conversations(ig, tok)
    assert convs[0]["type"] == "instagram"
    contacts = ig.request("GET", "/api/contacts", token=tok).json()["contacts"]
    assert len(contacts) == 1 and contacts[0]["ig_user_id"] == CONTACT
    assert contacts[0]["last_inbound_at"].endswith("Z")
    one = ig.request("GET", f"/api/contacts/{contacts[0]['id']}", token=tok)
    assert one.status == 200 and one.json()["contact"]["id"] == contacts[0]["id"]
    other = ig.signup()
    assert ig.request("GET", f"/api/contacts/{contacts[0]['id']}", token=other["access_token"]).status == 404


def test_attachment_echo_reaction_seen_dashboard(ig):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, fixture("message_attachment.json")).status == 200
    msgs = wait_until(lambda: ig_messages(ig, tok))
    assert msgs[0]["text"] is None
    assert msgs[0]["attachments"][0]["type"] == "image"
    assert post_webhook(ig, fixture("message_echo.json")).status == 200
    msgs = wait_until(lambda: [m for m in ig_messages(ig, tok) if m["text"] == "The blue mug is 12 EUR."])
    assert msgs[0]["sender_id"] == s["user"]["id"]
    assert post_webhook(ig, fixture("reaction.json")).status == 200
    reacted = wait_until(lambda: [m for m in ig_messages(ig, tok) if m["reactions"]])
    assert reacted[0]["reactions"][0]["emoji"] == "\u2764"
    assert reacted[0]["reactions"][0]["user_ids"] == [f"ig:{CONTACT}"]
    assert post_webhook(ig, fixture("seen.json")).status == 200
    before = len(ig_messages(ig, tok))
    assert post_webhook(ig, fixture("dashboard_test.json")).status == 200
    time.sleep(0.3)
    assert len(ig_messages(ig, tok)) == before


def test_batches_and_unknown_accounts(ig):
    s = owner(ig)
    tok = s["access_token"]
    a = text_event("first", "mid-batch-1")
    b = text_event("second", "mid-batch-2", contact="1111")
    a["entry"][0]["messaging"].append(text_event("third", "mid-batch-3")["entry"][0]["messaging"][0])
    a["entry"].append(b["entry"][0])
    a["entry"].append(text_event("nobody", "mid-batch-4", account="999")["entry"][0])
    assert post_webhook(ig, a).status == 200

    def texts():
        found = set()
        for c in ig_conversations(ig, tok):
            r = ig.request("GET", f"/api/messages/instagram/{c['id']}", token=tok)
            found |= {m["text"] for m in r.json()["messages"]}
        return found
    # A contact's events are processed in order, one at a time: wait for all three.
    assert wait_until(lambda: texts() == {"first", "second", "third"})
    assert len(ig_conversations(ig, tok)) == 2
    time.sleep(0.3)
    assert texts() == {"first", "second", "third"}  # the unknown account's event added nothing


def test_live_delivery_to_owner(ig):
    s = owner(ig)

    async def run():
        async with websockets.connect(f"{ig.ws_url}?token={s['access_token']}") as ws:
            ready = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert ready["type"] == "ready"
            assert post_webhook(ig, text_event("live one", "mid-live-1")).status == 200
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame["type"] == "message.new":
                    return frame
    frame = asyncio.run(run())
    assert frame["message"]["text"] == "live one"


def test_send_inside_and_outside_window(ig, fake):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("hello", "mid-win-1")).status == 200
    wait_until(lambda: ig_messages(ig, tok))
    r = ig.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "Hi back"}, token=tok)
    assert r.status == 201, r
    assert r.json()["message"]["text"] == "Hi back"
    sends = fake.sends()
    assert len(sends) == 1
    assert sends[0]["path"] == f"/v21.0/{ACCOUNT}/messages"
    assert sends[0]["json"] == {"recipient": {"id": CONTACT}, "message": {"text": "Hi back"}}
    assert sends[0]["headers"]["Authorization"] == f"Bearer IGQ-test-{ACCOUNT}"
    # the echo Meta sends afterwards adds nothing
    echo = fixture_json("message_echo.json")
    echo["entry"][0]["messaging"][0]["message"]["mid"] = r.json()["message"].get("external_id") or "m_graph_1"
    echo["entry"][0]["messaging"][0]["message"]["text"] = "Hi back"
    assert post_webhook(ig, echo).status == 200
    time.sleep(0.3)
    assert [m["text"] for m in ig_messages(ig, tok)].count("Hi back") == 1
    # a contact whose last message is two days old is outside the window
    old = int((time.time() - 2 * 86400) * 1000)
    assert post_webhook(ig, text_event("old", "mid-old-1", contact="2222", ts_ms=old)).status == 200
    wait_until(lambda: len(ig_conversations(ig, tok)) == 2)
    r = ig.request("POST", "/api/instagram/send-message", {"recipient_id": "2222", "text": "late"}, token=tok)
    assert r.status == 422 and r.json()["error"]["code"] == "outside_messaging_window"
    r = ig.request("POST", "/api/instagram/send-message", {"recipient_id": "3333", "text": "who"}, token=tok)
    assert r.status == 422
    assert len(fake.sends()) == 1


def test_graph_failures(ig, fake):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("hello", "mid-fail-1")).status == 200
    wait_until(lambda: ig_messages(ig, tok))
    fake.script = [(500, {"error": {"message": "temporary"}}), (200, None)]
    r = ig.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "retry me"}, token=tok)
    assert r.status == 201, r
    assert len(fake.sends()) == 2
    fake.script = [(400, {"error": {"message": "Invalid OAuth access token", "code": 190}})]
    r = ig.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "nope"}, token=tok)
    assert r.status == 502
    assert r.json()["error"]["code"] == "upstream_error"
    assert "Invalid OAuth access token" in r.json()["error"]["message"]


def test_graph_hanging_does_not_block_others(ig, fake):
    s = owner(ig)
    tok = s["access_token"]
    assert post_webhook(ig, text_event("hello", "mid-hang-1")).status == 200
    wait_until(lambda: ig_messages(ig, tok))
    fake.delay = 2.5
    import threading
    result = {}

    def send():
        result["r"] = ig.request("POST", "/api/instagram/send-message",
                                 {"recipient_id": CONTACT, "text": "slow"}, token=tok, timeout=20)
    t = threading.Thread(target=send)
    t.start()
    time.sleep(0.3)
    started = time.time()
    for _ in range(20):
        assert ig.request("GET", "/healthz").status == 200
    assert time.time() - started < 1.5
    t.join()
    assert result["r"].status == 201


def test_accounts(ig):
    s = ig.signup()
    tok = s["access_token"]
    assert ig.request("GET", "/api/instagram/status", token=tok).json() == {"connected": False, "reply_window": {"hours": 24, "agent_hours": 24}}
    acc = connect(ig, tok)
    assert "access_token" not in acc and "token_cipher" not in acc
    st = ig.request("GET", "/api/instagram/account", token=tok).json()
    assert st["connected"] is True and st["account"]["ig_user_id"] == ACCOUNT
    assert "IGQ" not in json.dumps(st)
    # A second user, even holding a valid token of the account, is refused
    # without being told who holds it.
    other = ig.signup()
    r = ig.request("POST", "/api/instagram/connect",
                   {"ig_user_id": ACCOUNT, "access_token": f"IGQ-test-{ACCOUNT}"},
                   token=other["access_token"])
    assert r.status == 409 and s["user"]["id"] not in r.body.decode()
    assert r.json()["error"]["code"] == "conflict"
    for bad in [{"ig_user_id": 5, "access_token": "x"}, {"ig_user_id": "abc", "access_token": "x"},
                {"ig_user_id": "1"}, {"ig_user_id": {"$gt": ""}, "access_token": "x"}]:
        assert ig.request("POST", "/api/instagram/connect", bad, token=tok).status == 400, bad
    assert ig.request("POST", "/api/instagram/disconnect", token=tok).status == 204
    assert ig.request("GET", "/api/instagram/status", token=tok).json() == {"connected": False, "reply_window": {"hours": 24, "agent_hours": 24}}
    assert ig.request("GET", "/api/instagram/status").status == 401


def test_nothing_lost_across_a_hard_restart(start_server, fake):
    srv = start_server(env=ig_env(fake))
    s = owner(srv)
    tok = s["access_token"]
    acked = 0
    for i in range(40):
        if post_webhook(srv, text_event(f"burst {i}", f"mid-burst-{i}")).status == 200:
            acked += 1
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    srv.stop()
    env = ig_env(fake)
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]  # the same database
    again = start_server(env=env, data_dir=srv.data_dir)
    msgs = wait_until(lambda: len(ig_messages(again, tok)) >= acked and ig_messages(again, tok), timeout=15)
    assert len(msgs) == acked == 40


def test_an_event_stored_while_pending_events_are_read_is_processed(ig):
    # The second of each pair is stored while the first one's kick is reading
    # the pending events (on MongoDB the two run beside each other, and the
    # read may miss it): it is processed all the same, with no later webhook.
    s = owner(ig)
    tok = s["access_token"]
    for i in range(20):
        for k in range(2):
            assert post_webhook(ig, text_event(f"pair {i}.{k}", f"mid-pair-{i}-{k}")).status == 200
        msgs = wait_until(lambda: len(ig_messages(ig, tok)) == 2 * (i + 1), timeout=5)
        assert msgs, f"pair {i}: {[m['text'] for m in ig_messages(ig, tok)]}"


def test_connect_verifies_the_token_with_graph(ig, fake):
    s = ig.signup()
    tok = s["access_token"]
    # A junk token is refused by Graph (error 190): nothing is connected.
    r = ig.request("POST", "/api/instagram/connect",
                   {"ig_user_id": ACCOUNT, "access_token": "junk"}, token=tok)
    assert r.status == 400 and r.json()["error"]["field"] == "access_token", r.json()
    assert ig.request("GET", "/api/instagram/status", token=tok).json() == {"connected": False, "reply_window": {"hours": 24, "agent_hours": 24}}
    me = [q for q in fake.requests if q["path"].startswith("/v21.0/me")]
    assert me and me[-1]["path"] == "/v21.0/me?fields=user_id,username"
    assert me[-1]["headers"]["Authorization"] == "Bearer junk"
    # A valid token of another account than the one claimed.
    fake.tokens["tok-b"] = ("17841400000000099", "other_shop")
    r = ig.request("POST", "/api/instagram/connect",
                   {"ig_user_id": ACCOUNT, "access_token": "tok-b"}, token=tok)
    assert r.status == 400 and r.json()["error"]["field"] == "ig_user_id"
    assert ig.request("GET", "/api/instagram/status", token=tok).json() == {"connected": False, "reply_window": {"hours": 24, "agent_hours": 24}}
    # Graph down: 502, nothing connected.
    fake.script = [(500, {"error": {"message": "boom", "code": 2}})] * 4
    r = ig.request("POST", "/api/instagram/connect", {"access_token": "tok-b"}, token=tok)
    assert r.status == 502 and r.json()["error"]["code"] == "upstream_error"
    fake.script = []
    assert ig.request("GET", "/api/instagram/status", token=tok).json() == {"connected": False, "reply_window": {"hours": 24, "agent_hours": 24}}
    # Without ig_user_id the account is Meta's user_id (not the app-scoped id),
    # and the username is Meta's too.
    r = ig.request("POST", "/api/instagram/connect", {"access_token": "tok-b"}, token=tok)
    assert r.status == 200, r.json()
    acc = r.json()["account"]
    assert acc["ig_user_id"] == "17841400000000099" and acc["username"] == "other_shop"
