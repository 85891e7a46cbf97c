"""Call signalling (API.md, Calls) with two WebSocket clients on two instances
sharing one store and one Redis bus: invite, ringing, accept, offer, answer,
ICE and hang-up cross between them; only a call's users may signal it; busy,
decline and the ring timeout; every ended call leaves one history message;
TURN credentials in coturn's REST convention."""
import asyncio
import base64
import hashlib
import hmac
import os
import time
import uuid

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, api, create_direct, create_group, run, uid

SDP = "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    env = {"PARLEY_REDIS_URL": redis_url, "PARLEY_CALL_RING_TIMEOUT_MS": "2000"}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_calls_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def call_records(server, session, conv_id, n, timeout=10):
    """The conversation's call history messages, once there are n of them."""
    deadline = time.monotonic() + timeout
    while True:
        msgs = api(server, "GET", f"/api/conversations/{conv_id}/messages", session).json()["messages"]
        calls = [m["call"] for m in msgs if "call" in m]
        if len(calls) >= n or time.monotonic() > deadline:
            return calls
        time.sleep(0.1)


async def settle():
    await asyncio.sleep(0.3)  # the bus subscription of a fresh instance


def test_a_call_across_instances(pair):
    s1, s2 = pair
    a, b, c = s1.signup(), s2.signup(), s2.signup()
    conv = create_direct(s1, a, b)

    async def main():
        ca = await Client.connect(s1, a)
        cb = await Client.connect(s2, b)
        cc = await Client.connect(s2, c)
        await settle()
        await ca.send({"type": "call.invite", "conversation_id": conv["id"], "media": "video",
                       "client_id": "inv"})
        created = await ca.expect("call.created", ref="inv")
        cid = created["call_id"]
        inv = await cb.expect("call.invite", call_id=cid)
        assert inv["from"] == uid(a) and inv["media"] == "video"
        assert inv["conversation_id"] == conv["id"]
        await cb.send({"type": "call.ringing", "call_id": cid})
        await ca.expect("call.ringing", call_id=cid, **{"from": uid(b)})
        # Someone else's frames for the call: an error, and nobody hears them.
        for t in ("call.offer", "call.accept", "call.hangup", "call.ice", "call.media"):
            await cc.send({"type": t, "call_id": cid, "sdp": SDP, "candidate": None,
                           "audio": True, "video": True, "client_id": t})
            e = await cc.expect("error", ref=t)
            assert e["code"] == "not_found" and e["field"] == "call_id"
        # The caller cannot answer their own call.
        await ca.send({"type": "call.accept", "call_id": cid, "client_id": "self"})
        assert (await ca.expect("error", ref="self"))["code"] == "forbidden"
        await cb.send({"type": "call.accept", "call_id": cid})
        acc = await ca.expect("call.accept", call_id=cid)
        assert acc["session_id"] == cb.ready["session_id"]
        await ca.send({"type": "call.offer", "call_id": cid, "sdp": SDP})
        assert (await cb.expect("call.offer", call_id=cid))["sdp"] == SDP
        await cb.send({"type": "call.answer", "call_id": cid, "sdp": SDP + "a=answer\r\n"})
        assert (await ca.expect("call.answer", call_id=cid))["sdp"].endswith("a=answer\r\n")
        cand = {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 50000 typ host",
                "sdpMid": "0", "sdpMLineIndex": 0}
        await ca.send({"type": "call.ice", "call_id": cid, "candidate": cand})
        assert (await cb.expect("call.ice", call_id=cid))["candidate"] == cand
        await cb.send({"type": "call.ice", "call_id": cid, "candidate": None})
        assert (await ca.expect("call.ice", call_id=cid))["candidate"] is None
        # Bounded: an SDP too large, a malformed candidate.
        await ca.send({"type": "call.offer", "call_id": cid, "sdp": "x" * 16385, "client_id": "big"})
        assert (await ca.expect("error", ref="big"))["field"] == "sdp"
        await ca.send({"type": "call.ice", "call_id": cid, "candidate": {"candidate": 5},
                       "client_id": "badc"})
        assert (await ca.expect("error", ref="badc"))["field"] == "candidate"
        # The callee's camera goes off: the caller hears of it (and of nothing
        # malformed).
        await cb.send({"type": "call.media", "call_id": cid, "audio": True, "video": False, "seq": 1})
        media = await ca.expect("call.media", call_id=cid)
        assert (media["audio"], media["video"], media["from"], media["seq"]) == (True, False, uid(b), 1)
        await cb.send({"type": "call.media", "call_id": cid, "audio": False, "video": True})
        media = await ca.expect("call.media", call_id=cid)
        assert (media["audio"], media["video"]) == (False, True) and "seq" not in media
        for n, frame, field in (("ma", {"audio": "yes", "video": True}, "audio"),
                                ("mv", {"audio": True}, "video"),
                                ("ms", {"audio": True, "video": True, "seq": -1}, "seq"),
                                ("mt", {"audio": True, "video": True, "seq": 2 ** 53}, "seq"),
                                ("mf", {"audio": True, "video": True, "seq": 1.5}, "seq")):
            await cb.send({"type": "call.media", "call_id": cid, **frame, "client_id": n})
            assert (await cb.expect("error", ref=n))["field"] == field
        await cb.expect_none("call.offer", wait=0.5)
        await ca.expect_none("call.media", wait=0.1)
        await asyncio.sleep(0.2)
        await cb.send({"type": "call.hangup", "call_id": cid})
        await ca.expect("call.hangup", call_id=cid)
        await cb.expect("call.hangup", call_id=cid)
        # Over: nothing more is relayed.
        await ca.send({"type": "call.offer", "call_id": cid, "sdp": SDP, "client_id": "late"})
        assert (await ca.expect("error", ref="late"))["code"] == "conflict"
        # c never heard a thing of it.
        assert not [f for f in cc.seen if f.get("type", "").startswith("call.")]
        for x in (ca, cb, cc):
            await x.close()
        return cid

    cid = run(main())
    (rec,) = call_records(s2, b, conv["id"], 1)
    assert rec["id"] == cid and rec["status"] == "ended" and rec["media"] == "video"
    assert rec["duration_ms"] >= 200


def test_busy_declined_and_missed(pair):
    s1, s2 = pair
    a, b, c = s1.signup(), s2.signup(), s1.signup()
    ab, cb_conv = create_direct(s1, a, b), create_direct(s1, c, b)

    async def main():
        ca = await Client.connect(s1, a)
        cb = await Client.connect(s2, b)
        cc = await Client.connect(s1, c)
        await settle()
        await ca.send({"type": "call.invite", "conversation_id": ab["id"], "client_id": "1"})
        cid = (await ca.expect("call.created", ref="1"))["call_id"]
        await cb.expect("call.invite", call_id=cid)
        # b is in a call (ringing counts): c gets busy, b hears nothing.
        await cc.send({"type": "call.invite", "conversation_id": cb_conv["id"], "client_id": "2"})
        assert (await cc.expect("call.busy", ref="2"))["conversation_id"] == cb_conv["id"]
        # a is busy too, on the caller's side.
        await cc.send({"type": "call.invite",
                       "conversation_id": create_direct(s1, c, a)["id"], "client_id": "3"})
        await cc.expect("call.busy", ref="3")
        await cb.send({"type": "call.reject", "call_id": cid})
        assert (await ca.expect("call.reject", call_id=cid))["from"] == uid(b)
        # Free again: c's call rings, and nobody answers it.
        await cc.send({"type": "call.invite", "conversation_id": cb_conv["id"], "client_id": "4"})
        cid2 = (await cc.expect("call.created", ref="4"))["call_id"]
        await cb.expect("call.invite", call_id=cid2)
        h = await cb.expect("call.hangup", call_id=cid2, timeout=8)
        assert h["reason"] == "timeout"
        assert (await cc.expect("call.hangup", call_id=cid2))["reason"] == "timeout"
        for x in (ca, cb, cc):
            await x.close()

    run(main())
    assert [r["status"] for r in call_records(s1, a, ab["id"], 1)] == ["declined"]
    assert sorted(r["status"] for r in call_records(s2, b, cb_conv["id"], 2)) == ["busy", "missed"]


def test_a_closed_session_ends_its_call(pair):
    """The session that took a call closes mid-call, then the one that placed
    another closes while it rings: each call ends at once for the other side
    (reason disconnected), nobody stays busy, and each leaves its history."""
    s1, s2 = pair
    a, b = s1.signup(), s2.signup()
    conv = create_direct(s1, a, b)

    async def main():
        ca = await Client.connect(s1, a)
        cb = await Client.connect(s2, b)
        await settle()
        await ca.send({"type": "call.invite", "conversation_id": conv["id"], "client_id": "1"})
        cid = (await ca.expect("call.created", ref="1"))["call_id"]
        await cb.expect("call.invite", call_id=cid)
        await cb.send({"type": "call.accept", "call_id": cid})
        await ca.expect("call.accept", call_id=cid)
        await asyncio.sleep(0.2)
        await cb.close()  # b's tab closes mid-call
        h = await ca.expect("call.hangup", call_id=cid)
        assert h["reason"] == "disconnected" and h["from"] == uid(b)
        # Nobody is busy: b, back on another session, is called again and
        # the caller's session closes while it rings.
        cb2 = await Client.connect(s2, b)
        await settle()
        await ca.send({"type": "call.invite", "conversation_id": conv["id"], "client_id": "2"})
        cid2 = (await ca.expect("call.created", ref="2"))["call_id"]
        await cb2.expect("call.invite", call_id=cid2)
        await ca.close()
        h = await cb2.expect("call.hangup", call_id=cid2)
        assert h["reason"] == "disconnected" and h["from"] == uid(a)
        await cb2.close()
        return cid, cid2

    cid, cid2 = run(main())
    recs = {r["id"]: r for r in call_records(s1, a, conv["id"], 2)}
    assert recs[cid]["status"] == "ended" and recs[cid]["duration_ms"] >= 200
    assert recs[cid2]["status"] == "missed"


def test_invite_rules(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    group = create_group(server, a, [b, c])
    secret = api(server, "POST", "/api/conversations", a,
                 {"type": "secret", "participant_id": uid(b)}).json()["conversation"]
    foreign = create_direct(server, b, c)

    async def main():
        ca = await Client.connect(server, a)
        for n, frame, field in [
                ("g", {"conversation_id": group["id"]}, "conversation_id"),
                ("s", {"conversation_id": secret["id"]}, "conversation_id"),
                ("f", {"conversation_id": foreign["id"]}, "conversation_id"),
                ("m", {"conversation_id": group["id"], "media": "smell"}, "media"),
                ("x", {"conversation_id": 7}, "conversation_id"),
                ("y", {"call_id": "nope", "type": "call.accept"}, "call_id")]:
            await ca.send({"type": "call.invite", **frame, "client_id": n})
            e = await ca.expect("error", ref=n)
            assert e["field"] == field, e
        await ca.close()

    run(main())


def test_turn_credentials(start_server):
    plain = start_server()
    a = plain.signup()
    r = api(plain, "GET", "/api/calls/turn", a)
    assert r.status == 503 and r.json()["error"]["code"] == "unavailable"
    srv = start_server(env={"PARLEY_TURN_SECRET": "north-wind",
                            "PARLEY_TURN_URIS": "turn:turn.example.com:3478?transport=udp, "
                                                "turns:turn.example.com:5349",
                            "PARLEY_TURN_TTL_S": "600"})
    a = srv.signup()
    assert api(srv, "GET", "/api/calls/turn").status == 401
    before = int(time.time())
    t = api(srv, "GET", "/api/calls/turn", a).json()
    expiry, user = t["username"].split(":", 1)
    assert user == uid(a) and before + 600 <= int(expiry) <= int(time.time()) + 600
    want = base64.b64encode(hmac.new(b"north-wind", t["username"].encode(), hashlib.sha1).digest())
    assert t["credential"] == want.decode() and t["ttl"] == 600
    assert t["uris"] == ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"]


def test_a_call_of_a_dead_instance_ends(pair):
    """The instance that started a call dies mid-call: once the lease it no longer
    renews runs out, the other instance ends the call, tells the user it reaches,
    records it, and the users are free for new calls."""
    import signal
    s1, s2 = pair
    a, b, c = s1.signup(), s2.signup(), s2.signup()
    conv = create_direct(s1, a, b)

    async def main():
        ca = await Client.connect(s1, a)
        cb = await Client.connect(s2, b)
        cc = await Client.connect(s2, c)
        await settle()
        await ca.send({"type": "call.invite", "conversation_id": conv["id"], "client_id": "1"})
        cid = (await ca.expect("call.created", ref="1"))["call_id"]
        await cb.expect("call.invite", call_id=cid)
        await cb.send({"type": "call.accept", "call_id": cid})
        await ca.expect("call.accept", call_id=cid)
        s1.stop(sig=signal.SIGKILL)
        # Busy while the lease lasts...
        await cc.send({"type": "call.invite", "conversation_id": create_direct(s2, c, b)["id"],
                       "client_id": "2"})
        await cc.expect("call.busy", ref="2")
        # ...then ended by s2's sweep (lease 30 s, swept every 10 s).
        h = await cb.expect("call.hangup", call_id=cid, timeout=60)
        assert h["reason"] == "lost"
        await cc.send({"type": "call.invite", "conversation_id": create_direct(s2, c, b)["id"],
                       "client_id": "3"})
        await cc.expect("call.created", ref="3")
        await cb.close()
        await cc.close()
        return cid

    cid = run(main(), timeout=90)
    (rec,) = call_records(s2, b, conv["id"], 1)
    assert rec["id"] == cid and rec["status"] == "ended" and rec["duration_ms"] >= 0
