"""Receipts (issue 17, item 2): every participant's read and delivered
positions in the conversation view, so ticks survive a reload; the delivered
frame and POST .../delivered, monotonic, persisted and fanned out like read
positions (also between two instances on Redis); and the list of who has read
one message, worked out from those positions."""
import asyncio
import os
import uuid

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, api, create_direct, create_group, post_message, run, uid


def positions(server, session, conv_id):
    r = api(server, "GET", f"/api/conversations/{conv_id}", session)
    assert r.status == 200, r
    return {p["id"]: (p["last_read_seq"], p["last_delivered_seq"])
            for p in r.json()["conversation"]["participants"]}


def test_view_carries_every_participants_positions(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    for i in range(3):
        assert post_message(server, a, cid, f"m{i}").status == 201
    assert positions(server, a, cid) == {uid(a): (3, 3), uid(b): (0, 0)}
    r = api(server, "POST", f"/api/conversations/{cid}/delivered", b, {"seq": 2})
    assert r.status == 204, r
    # The sender sees it after a reload (a new GET), and in the list too.
    assert positions(server, a, cid)[uid(b)] == (0, 2)
    listed = api(server, "GET", "/api/conversations", a).json()["conversations"]
    mine = [c for c in listed if c["id"] == cid][0]
    assert {p["id"]: p["last_delivered_seq"] for p in mine["participants"]}[uid(b)] == 2
    # Reading moves delivery along; delivered never moves backwards or past last_seq.
    assert api(server, "POST", f"/api/conversations/{cid}/read", b, {"seq": 3}).status == 204
    assert positions(server, a, cid)[uid(b)] == (3, 3)
    assert api(server, "POST", f"/api/conversations/{cid}/delivered", b, {"seq": 1}).status == 204
    assert api(server, "POST", f"/api/conversations/{cid}/delivered", b, {"seq": 99}).status == 204
    assert positions(server, b, cid)[uid(b)] == (3, 3)


def test_delivered_bad_input_changes_nothing(server):
    a, b, stranger = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    post_message(server, a, cid, "hi")
    for body in ({}, {"seq": -1}, {"seq": "1"}, {"seq": 1.5}):
        r = api(server, "POST", f"/api/conversations/{cid}/delivered", b, body)
        assert r.status == 400 and r.json()["error"]["field"] == "seq", (body, r)
    r = api(server, "POST", f"/api/conversations/{cid}/delivered", stranger, {"seq": 1})
    assert r.status == 404
    assert positions(server, a, cid)[uid(b)] == (0, 0)

    async def main():
        bs = await Client.connect(server, b)
        await bs.send({"type": "delivered", "conversation_id": cid, "client_id": "r1"})
        e = await bs.expect("error", ref="r1")
        assert e["code"] == "validation_failed"
        ss = await Client.connect(server, stranger)
        await ss.send({"type": "delivered", "conversation_id": cid, "seq": 1, "client_id": "r2"})
        assert (await ss.expect("error", ref="r2"))["code"] == "not_found"
        await bs.close()
        await ss.close()
    run(main())
    assert positions(server, a, cid)[uid(b)] == (0, 0)


def test_delivered_frame_reaches_the_sender_once(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]

    async def main():
        sa = await Client.connect(server, a)
        sb = await Client.connect(server, b)
        await sa.send({"type": "message.send", "conversation_id": cid, "text": "ping", "client_id": "c1"})
        m = (await sa.expect("message.ack"))["message"]
        await sb.expect("message.new")
        await sb.send({"type": "delivered", "conversation_id": cid, "seq": m["seq"]})
        f = await sa.expect("delivered", conversation_id=cid)
        assert f == {"type": "delivered", "conversation_id": cid, "user_id": uid(b), "seq": m["seq"]}
        # The same position again moves nothing and says nothing.
        await sb.send({"type": "delivered", "conversation_id": cid, "seq": m["seq"]})
        await sa.expect_none("delivered")
        await sb.expect_none("delivered")  # never to the one who acknowledged
        await sb.send({"type": "read", "conversation_id": cid, "seq": m["seq"]})
        await sa.expect("read", user_id=uid(b), seq=m["seq"])
        await sa.close()
        await sb.close()
    run(main())
    assert positions(server, a, cid)[uid(b)] == (1, 1)


def test_reads_of_a_message_in_a_group(server):
    a, b, c, d = (server.signup() for _ in range(4))
    g = create_group(server, a, [b, c, d])["id"]
    m1 = post_message(server, a, g, "one").json()["message"]
    m2 = post_message(server, a, g, "two").json()["message"]
    api(server, "POST", f"/api/conversations/{g}/read", b, {"seq": 2})
    api(server, "POST", f"/api/conversations/{g}/read", c, {"seq": 1})
    api(server, "POST", f"/api/conversations/{g}/delivered", c, {"seq": 2})
    r = api(server, "GET", f"/api/conversations/{g}/messages/{m2['id']}/reads", a)
    assert r.status == 200, r
    body = r.json()
    assert body["message_id"] == m2["id"] and body["seq"] == 2
    assert [(x["user_id"], x["seq"]) for x in body["read_by"]] == [(uid(b), 2)]
    assert [(x["user_id"], x["seq"]) for x in body["delivered_to"]] == [(uid(c), 2)]
    assert body["read_by"][0]["name"] == b["user"]["name"]
    r = api(server, "GET", f"/api/conversations/{g}/messages/{m1['id']}/reads", d).json()
    assert sorted(x["user_id"] for x in r["read_by"]) == sorted([uid(b), uid(c)])
    assert r["delivered_to"] == []
    # The sender never lists themselves; b's message lists a (who read it by sending).
    m3 = post_message(server, b, g, "three").json()["message"]
    r = api(server, "GET", f"/api/conversations/{g}/messages/{m3['id']}/reads", a).json()
    assert [x["user_id"] for x in r["read_by"]] == []
    post_message(server, a, g, "four")
    r = api(server, "GET", f"/api/conversations/{g}/messages/{m3['id']}/reads", b).json()
    assert [x["user_id"] for x in r["read_by"]] == [uid(a)]


def test_reads_refuses_strangers_and_other_conversations(server):
    a, b, stranger = server.signup(), server.signup(), server.signup()
    g = create_group(server, a, [b])["id"]
    other = create_direct(server, a, stranger)["id"]
    m = post_message(server, a, g, "one").json()["message"]
    elsewhere = post_message(server, a, other, "two").json()["message"]
    assert api(server, "GET", f"/api/conversations/{g}/messages/{m['id']}/reads", stranger).status == 404
    r = api(server, "GET", f"/api/conversations/{g}/messages/{elsewhere['id']}/reads", b)
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    r = api(server, "GET", f"/api/conversations/{g}/messages/{'f' * 24}/reads", a)
    assert r.status == 404


def test_positions_survive_a_restart(start_server, tmp_path):
    env = {}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_rcpt_{uuid.uuid4().hex[:10]}")
    s = start_server(env=env, data_dir=str(tmp_path))
    a, b = s.signup(), s.signup()
    cid = create_direct(s, a, b)["id"]
    for i in range(4):
        post_message(s, a, cid, f"m{i}")
    api(s, "POST", f"/api/conversations/{cid}/delivered", b, {"seq": 4})
    api(s, "POST", f"/api/conversations/{cid}/read", b, {"seq": 2})
    s.stop()
    s2 = start_server(env=env, data_dir=str(tmp_path))
    assert positions(s2, a, cid)[uid(b)] == (2, 4)


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    env = {"PARLEY_REDIS_URL": redis_url}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_rpair_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_delivered_crosses_instances(pair):
    s1, s2 = pair
    a, b, c = s1.signup(), s1.signup(), s1.signup()
    g = create_group(s1, a, [b, c])["id"]

    async def main():
        a1 = await Client.connect(s1, a)
        b2 = await Client.connect(s2, b)
        c1 = await Client.connect(s1, c)
        await asyncio.sleep(0.3)  # the fresh instances' bus subscriptions
        await a1.send({"type": "message.send", "conversation_id": g, "text": "hello", "client_id": "x"})
        m = (await a1.expect("message.ack"))["message"]
        await b2.expect("message.new")
        await b2.send({"type": "delivered", "conversation_id": g, "seq": m["seq"]})
        for s in (a1, c1):  # every other participant, on the other instance
            f = await s.expect("delivered", conversation_id=g)
            assert (f["user_id"], f["seq"]) == (uid(b), m["seq"])
        await b2.expect_none("delivered")
        for s in (a1, b2, c1):
            await s.close()
    run(main())
    assert positions(s2, c, g)[uid(b)] == (0, 1)
