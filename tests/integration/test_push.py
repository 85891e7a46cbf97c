"""Web Push (API.md, Push) against a local push-service stand-in
(push_standin.py) that checks the VAPID JWT and decrypts each push with the
subscription's private key: a push reaches a user with no live session on any
instance, with what it says; none while they are connected (here or on
another instance), have muted the conversation or chose do-not-disturb; a
subscription the service says is gone (410) is removed; the send queue is
bounded; after a burst in a conversation the last push the service received
for it is the newest message's, and says so when a message of the burst whose
push it replaced mentioned the user. The browser's side (a real push service) cannot be reached here."""
import asyncio
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, api, create_direct, create_group, metric, run, uid
from push_standin import PushStandin


@pytest.fixture
def standin():
    s = PushStandin().start()
    yield s
    s.stop()


@pytest.fixture
def push_server(start_server, standin):
    return start_server(env={"PARLEY_PUSH_ALLOW": standin.allow,
                             "PARLEY_VAPID_SUBJECT": "mailto:ops@parley.test"})


def subscribe(server, session, standin, **extra):
    sub = standin.subscribe()
    r = api(server, "POST", "/api/push/subscriptions", session, {**sub, **extra})
    assert r.status == 201, r
    return sub, r.json()["subscription"]


def send(server, session, conv, text, **extra):
    r = api(server, "POST", f"/api/conversations/{conv['id']}/messages", session,
            {"text": text, **extra})
    assert r.status == 201, r
    return r.json()["message"]


def push_of(standin, sub, message, timeout=10):
    """The push that says message, once it arrived (checked and decrypted)."""
    def found():
        for p in standin.received(sub["endpoint"]):
            assert p["error"] is None, p
            if p["payload"]["message_id"] == message["id"]:
                return p
        return None
    return standin.wait_for(found, timeout)


def assert_no_push(standin, sub, message, witness):
    """No push for message to sub: the witness (another recipient, offline and
    subscribed) got its push, decided in the same step, and none came to sub."""
    push_of(standin, witness, message)
    time.sleep(0.2)  # sub's push would have been sent beside the witness's
    ids = [p["payload"]["message_id"] for p in standin.received(sub["endpoint"])]
    assert message["id"] not in ids, ids


def test_vapid_key_and_subscriptions(push_server, standin):
    s = push_server
    r = s.request("GET", "/api/push/vapid-key")
    assert r.status == 200, r
    key = r.json()["public_key"]
    assert len(key) == 87 and key.startswith("B")  # 65 bytes, uncompressed point
    a, b = s.signup(), s.signup()
    sub, view = subscribe(s, a, standin)
    assert view["endpoint"] == sub["endpoint"] and view["preview"] is True
    assert set(view) == {"id", "endpoint", "preview", "created_at"}
    # The same endpoint again is the same subscription.
    r = api(s, "POST", "/api/push/subscriptions", a, sub)
    assert r.status == 200 and r.json()["subscription"]["id"] == view["id"], r

    good = standin.subscribe()
    bad = [
        ({**good, "endpoint": "http://push.example.com/x"}, "endpoint"),
        ({**good, "endpoint": "ftp://push.example.com/x"}, "endpoint"),
        ({**good, "endpoint": "https://u:p@push.example.com/x"}, "endpoint"),
        ({**good, "endpoint": "https://push.example.com/" + "x" * 1100}, "endpoint"),
        ({**good, "endpoint": 7}, "endpoint"),
        ({**good, "keys": "k"}, "keys"),
        ({**good, "keys": {**good["keys"], "p256dh": good["keys"]["p256dh"][:-2]}}, "keys.p256dh"),
        ({**good, "keys": {**good["keys"], "p256dh": "B" + "A" * 86}}, "keys.p256dh"),
        ({**good, "keys": {**good["keys"], "auth": good["keys"]["auth"] + "AA"}}, "keys.auth"),
        ({**good, "preview": "no"}, "preview"),
    ]
    for body, field in bad:
        r = api(s, "POST", "/api/push/subscriptions", b, body)
        assert r.status == 400 and r.json()["error"]["field"] == field, (body, r)
    assert api(s, "GET", "/api/push/subscriptions", b).json()["subscriptions"] == []
    assert api(s, "POST", "/api/push/subscriptions", None, good).status == 401

    # At most 10 a user.
    for _ in range(9):
        subscribe(s, a, standin)
    r = api(s, "POST", "/api/push/subscriptions", a, standin.subscribe())
    assert r.status == 409 and r.json()["error"]["code"] == "conflict", r
    mine = api(s, "GET", "/api/push/subscriptions", a).json()["subscriptions"]
    assert len(mine) == 10
    # Only the owner removes one.
    assert api(s, "DELETE", f"/api/push/subscriptions/{view['id']}", b).status == 404
    assert api(s, "DELETE", f"/api/push/subscriptions/{view['id']}", a).status == 204
    assert api(s, "DELETE", f"/api/push/subscriptions/{view['id']}", a).status == 404
    assert len(api(s, "GET", "/api/push/subscriptions", a).json()["subscriptions"]) == 9


def test_offline_user_gets_pushes_that_decrypt(push_server, standin):
    s = push_server
    a, b, w = s.signup(name="Ann Sender"), s.signup(), s.signup()
    conv = create_group(s, a, [b, w], name="Garden club")
    sub, _ = subscribe(s, b, standin)
    witness, _ = subscribe(s, w, standin)
    vapid = s.request("GET", "/api/push/vapid-key").json()["public_key"]

    m1 = send(s, a, conv, "hello there " + "x" * 300, mentions=[uid(b)])
    p = push_of(standin, sub, m1)
    assert p["key"] == vapid
    assert p["claims"]["sub"] == "mailto:ops@parley.test"
    h = p["headers"]
    assert h["topic"] == conv["id"] and h["urgency"] == "high" and h["ttl"] == "86400"
    body = p["payload"]
    assert body["type"] == "message" and body["conversation_id"] == conv["id"]
    assert body["sender_name"] == "Ann Sender" and body["title"] == "Garden club"
    assert body["conversation_type"] == "group"
    assert body["seq"] == m1["seq"] and body["mention"] is True
    assert body["text"] == ("hello there " + "x" * 300)[:120] + "\u2026"

    m2 = send(s, a, conv, "no mention")
    p = push_of(standin, sub, m2)
    assert p["headers"]["urgency"] == "normal" and p["payload"]["mention"] is False
    assert p["payload"]["text"] == "no mention"
    # The sender's own subscription never hears of their message.
    sub_a, _ = subscribe(s, a, standin)
    m3 = send(s, a, conv, "mine")
    push_of(standin, sub, m3)
    time.sleep(0.2)
    assert standin.received(sub_a["endpoint"]) == []

    # Connected: no push (the session stays open until the push was decided).
    async def online():
        c = await Client.connect(s, b)
        m = send(s, a, conv, "while connected")
        await c.expect("message.new")
        assert_no_push(standin, sub, m, witness)
        await c.close()
    run(online())

    # Muted: no push; unmuted: pushes again.
    until = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 3600))
    r = api(s, "PATCH", f"/api/conversations/{conv['id']}/settings", b, {"muted_until": until})
    assert r.status == 200, r
    m5 = send(s, a, conv, "while muted")
    assert_no_push(standin, sub, m5, witness)
    api(s, "PATCH", f"/api/conversations/{conv['id']}/settings", b, {"muted_until": None})

    # Do-not-disturb: no push, mentions included.
    assert api(s, "PATCH", "/api/user/profile", b, {"status": "dnd"}).status == 200
    m6 = send(s, a, conv, "while dnd", mentions=[uid(b)])
    assert_no_push(standin, sub, m6, witness)
    assert api(s, "PATCH", "/api/user/profile", b, {"status": "online"}).status == 200
    push_of(standin, sub, send(s, a, conv, "back"))

    # A subscription without previews gets no text.
    quiet, _ = subscribe(s, b, standin, preview=False)
    m7 = send(s, a, conv, "secret plans")
    p = push_of(standin, quiet, m7)
    assert "text" not in p["payload"] and p["payload"]["sender_name"] == "Ann Sender"


def test_gone_subscription_is_removed(push_server, standin):
    s = push_server
    a, b = s.signup(), s.signup()
    conv = create_direct(s, a, b)
    sub, view = subscribe(s, b, standin)
    kept, _ = subscribe(s, b, standin)
    standin.answers[sub["endpoint"].rsplit("/", 1)[-1]] = 410
    m = send(s, a, conv, "are you there")
    push_of(standin, sub, m)
    push_of(standin, kept, m)

    def removed():
        subs = api(s, "GET", "/api/push/subscriptions", b).json()["subscriptions"]
        return [x["endpoint"] for x in subs] == [kept["endpoint"]]
    standin.wait_for(removed)


def test_send_queue_is_bounded(start_server, standin):
    s = start_server(env={"PARLEY_PUSH_ALLOW": standin.allow, "PARLEY_PUSH_QUEUE_MAX": "2",
                          "PARLEY_PUSH_CONCURRENCY": "1"})
    a, b = s.signup(), s.signup()
    # One message in each of eight conversations (pushes of one conversation
    # would replace each other while waiting: the burst test below).
    convs = [create_group(s, a, [b], name=f"g{i}") for i in range(8)]
    sub, _ = subscribe(s, b, standin)
    standin.hold = 0.5  # the first push holds the only slot while the rest arrive
    msgs = [send(s, a, conv, f"m{i}") for i, conv in enumerate(convs)]
    # One in flight and two waiting are sent; the rest were dropped.
    standin.wait_for(lambda: len(standin.received()) >= 3, timeout=15)
    standin.hold = 0
    time.sleep(0.6)  # anything still queued would be sent by now
    got = [p["payload"]["message_id"] for p in standin.received(sub["endpoint"])]
    sent = [m["id"] for m in msgs]
    assert len(got) == 3 and len(set(got)) == 3 and set(got) <= set(sent), (got, sent)
    # SQLite's reads run in order on the store thread, so the first message took the
    # slot; MongoDB's run on libuv's pool, so a push is queued when its reads end.
    # (Across conversations nothing is promised; within one, the burst test.)
    if os.environ.get("PARLEY_TEST_STORE") != "mongo":
        assert got[0] == sent[0], (got, sent)
    assert "dropped" in s.read_log()


@pytest.mark.parametrize("concurrency,jitter", [("1", 0), ("8", 0.05)], ids=["reads", "in_flight"])
def test_a_burst_leaves_the_newest_message_last(start_server, standin, concurrency, jitter):
    """The push service keeps the last push it received per subscription and
    Topic (the conversation), so after a burst in one conversation to an
    offline, subscribed user that must be the newest message's, with no older
    one after it: whatever order the store's reads for each message end in
    (MongoDB's run on libuv's pool: "reads", one push at a time), and however
    long each push takes to arrive when several are in flight ("in_flight":
    the stand-in's jitter). Every message's push is sent, replaced while
    waiting by a newer one's (coalesced) or dropped as older than one already
    queued or sent (stale)."""
    s = start_server(env={"PARLEY_PUSH_ALLOW": standin.allow,
                          "PARLEY_PUSH_CONCURRENCY": concurrency})
    a, b = s.signup(), s.signup()
    conv = create_direct(s, a, b)
    sub, _ = subscribe(s, b, standin)
    standin.jitter = jitter

    def skipped():
        return metric(s, "parley_push_coalesced_total") + metric(s, "parley_push_stale_total")
    before = skipped()
    with ThreadPoolExecutor(4) as pool:
        msgs = list(pool.map(lambda i: send(s, a, conv, f"m{i}"), range(40)))
    newest = max(msgs, key=lambda m: m["seq"])
    push_of(standin, sub, newest)
    # Every message accounted for: its push received, coalesced or stale.
    standin.wait_for(
        lambda: len(standin.received(sub["endpoint"])) + skipped() - before >= len(msgs))
    time.sleep(0.3)  # nothing more may come
    pushes = standin.received(sub["endpoint"])
    assert {p["headers"]["topic"] for p in pushes} == {conv["id"]}
    got = [p["payload"]["seq"] for p in pushes]
    assert got[-1] == newest["seq"] and got == sorted(set(got)), got
    assert len(got) + skipped() - before == len(msgs), (got, skipped() - before)


def test_a_mention_in_a_burst_is_not_lost(start_server, standin):
    """While a push is on its way, a message that mentions the user and a newer
    one that does not arrive: the newer one's push goes in place of the
    mention's (coalesced, or the mention's made stale if its reads ended
    last), and it says the user was mentioned, in its payload and Urgency.
    The next push, after the burst, is the plain message's own."""
    s = start_server(env={"PARLEY_PUSH_ALLOW": standin.allow, "PARLEY_PUSH_CONCURRENCY": "1"})
    a, b, c = s.signup(name="Ann"), s.signup(), s.signup()
    conv = create_group(s, a, [b, c], name="Crew")
    sub, _ = subscribe(s, b, standin)
    standin.hold = 1.0  # the first push holds the only slot while the others come
    push_of(standin, sub, send(s, a, conv, "first"))
    mention = send(s, a, conv, "look at this", mentions=[uid(b)])
    plain = send(s, a, conv, "plain")
    standin.hold = 0
    p = push_of(standin, sub, plain)
    assert p["payload"]["mention"] is True and p["headers"]["urgency"] == "high", p
    assert p["payload"]["text"] == "plain"
    time.sleep(0.2)
    ids = [x["payload"]["message_id"] for x in standin.received(sub["endpoint"])]
    assert mention["id"] not in ids, ids
    after = send(s, a, conv, "after")
    p = push_of(standin, sub, after)
    assert p["payload"]["mention"] is False and p["headers"]["urgency"] == "normal", p


@pytest.fixture
def pair(start_server, standin, redis_url, tmp_path):
    """Two instances on one store and one Redis."""
    env = {"PARLEY_REDIS_URL": redis_url, "PARLEY_PUSH_ALLOW": standin.allow}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_push_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_no_push_while_connected_on_another_instance(pair, standin):
    s1, s2 = pair
    a, b, w = s1.signup(), s1.signup(), s1.signup()
    conv = create_group(s1, a, [b, w])
    sub, _ = subscribe(s1, b, standin)
    witness, _ = subscribe(s1, w, standin)

    async def main():
        c = await Client.connect(s2, b)
        # s1 holds none of b's sessions: it must learn of b's from the bus.
        deadline = time.time() + 5
        while time.time() < deadline:
            r = api(s1, "GET", f"/api/presence?user_ids={uid(b)}", a).json()
            if r["users"] and r["users"][0]["status"] != "offline":
                break
            await asyncio.sleep(0.05)
        m = send(s1, a, conv, "while on s2")
        await c.expect("message.new")
        assert_no_push(standin, sub, m, witness)
        await c.close()
    run(main())


def test_a_subscription_made_on_one_instance_gets_the_others_pushes(pair, standin):
    """An instance holds the users a message found without a subscription; a
    subscription stored on another instance must reach it through the bus, or
    its messages would not push to it."""
    s1, s2 = pair
    a, b, w = s1.signup(), s1.signup(), s1.signup()
    conv = create_group(s1, a, [b, w])
    heard = metric(s2, "parley_push_subscribed_heard_total")
    witness, _ = subscribe(s1, w, standin)
    standin.wait_for(lambda: metric(s2, "parley_push_subscribed_heard_total") > heard, 5)
    # s2 stores a message: b has no subscription, which s2 now holds; the
    # witness's push shows that it decided.
    push_of(standin, witness, send(s2, a, conv, "before"))
    heard = metric(s2, "parley_push_subscribed_heard_total")
    sub, _ = subscribe(s1, b, standin)
    standin.wait_for(lambda: metric(s2, "parley_push_subscribed_heard_total") > heard, 5)
    push_of(standin, sub, send(s2, a, conv, "after"))
    push_of(standin, sub, send(s1, a, conv, "and here"))
