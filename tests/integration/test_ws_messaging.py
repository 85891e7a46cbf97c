"""The messaging frames of the WebSocket protocol (API.md, WebSocket): sends
answered by message.ack once stored and delivered as message.new to every other
session, typing, read receipts, sync, conversation.updated, message.updated,
presence, and error frames for bad frames and other people's conversations."""
import asyncio

from messaging_helpers import Client, api, create_direct, create_group, metric, post_message, run, uid


def test_send_acks_the_sender_and_delivers_to_every_other_session(server):
    a, b, outsider = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]

    async def main():
        a1, a2 = await Client.connect(server, a), await Client.connect(server, a)
        b1, o1 = await Client.connect(server, b), await Client.connect(server, outsider)
        await a1.send({"type": "message.send", "conversation_id": cid, "text": "hi", "client_id": "x1"})
        ack = await a1.expect("message.ack")
        assert ack["client_id"] == "x1"
        m = ack["message"]
        assert (m["seq"], m["text"], m["sender_id"], m["client_id"]) == (1, "hi", uid(a), "x1")
        for c in (a2, b1):
            new = await c.expect("message.new")
            assert new["message"] == m
        await a1.expect_none("message.new")
        await o1.expect_none("message.new", wait=0.2)
        # Stored before it was acknowledged.
        r = api(server, "GET", f"/api/conversations/{cid}/messages", b)
        assert [x["id"] for x in r.json()["messages"]] == [m["id"]]
        # A retry with the same client_id: the original, and nothing new for anyone.
        await a1.send({"type": "message.send", "conversation_id": cid, "text": "hi again", "client_id": "x1"})
        again = await a1.expect("message.ack")
        assert again["message"]["id"] == m["id"] and again["message"]["text"] == "hi"
        await b1.expect_none("message.new")
        await a2.expect_none("message.new", wait=0.1)
        # A REST send reaches every session, the sender's included.
        rest = post_message(server, b, cid, "over rest").json()["message"]
        for c in (a1, a2, b1):
            assert (await c.expect("message.new"))["message"]["id"] == rest["id"]
        for c in (a1, a2, b1, o1):
            await c.close()

    run(main())
    # Two stored (the retry is not); frames with a message: 3 for the first send
    # (ack included), 3 for the REST one.
    assert metric(server, "parley_messages_stored_total") == 2
    assert metric(server, "parley_messages_delivered_total") == 6


def test_bad_frames_get_errors_and_the_connection_stays(server):
    a, b, outsider = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]

    async def main():
        c = await Client.connect(server, a)
        o = await Client.connect(server, outsider)
        bad = [
            ({"type": "message.send", "text": "no conv", "client_id": "r1"}, "validation_failed", "r1"),
            ({"type": "message.send", "conversation_id": cid, "text": "", "client_id": "r2"}, "validation_failed", "r2"),
            ({"type": "message.send", "conversation_id": cid, "text": 12, "client_id": "r3"}, "validation_failed", "r3"),
            ({"type": "message.send", "conversation_id": cid, "text": "x" * 4001, "client_id": "r4"}, "validation_failed", "r4"),
            ({"type": "message.send", "conversation_id": 5, "text": "x", "client_id": "r5"}, "validation_failed", "r5"),
            ({"type": "message.send", "conversation_id": "000000000000000000000000", "text": "x", "client_id": "r6"}, "not_found", "r6"),
            ({"type": "typing", "conversation_id": cid, "state": "maybe"}, "validation_failed", None),
            ({"type": "read", "conversation_id": cid, "seq": "1"}, "validation_failed", None),
            ({"type": "read", "conversation_id": cid}, "validation_failed", None),
            ({"type": "sync", "conversation_id": cid}, "validation_failed", None),
            ({"type": "sync", "conversation_id": cid, "after_seq": -1}, "validation_failed", None),
            ({"type": "sync", "conversation_id": cid, "after_seq": 0, "limit": 201}, "validation_failed", None),
            ({"type": "no.such.thing", "client_id": "r7"}, None, "r7"),
        ]
        for frame, code, ref in bad:
            await c.send(frame)
            err = await c.expect("error")
            if code:
                assert err["code"] == code, (frame, err)
            assert err.get("ref") == ref, (frame, err)
        await c.send("{not json")
        assert (await c.expect("error"))["code"] == "invalid_json"
        # Every frame about someone else's conversation: not_found, nothing leaks.
        for frame in (
            {"type": "message.send", "conversation_id": cid, "text": "intrude", "client_id": "o1"},
            {"type": "typing", "conversation_id": cid, "state": "start"},
            {"type": "read", "conversation_id": cid, "seq": 1},
            {"type": "sync", "conversation_id": cid, "after_seq": 0},
        ):
            await o.send(frame)
            err = await o.expect("error")
            assert err["code"] == "not_found", (frame, err)
        await o.expect_none("sync.result", wait=0.1)
        await c.send({"type": "ping"})
        await c.expect("pong")
        await c.close()
        await o.close()

    run(main())
    msgs = api(server, "GET", f"/api/conversations/{cid}/messages", a).json()["messages"]
    assert msgs == []


def test_typing_is_relayed_and_never_stored(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    cid = create_group(server, a, [b, c])["id"]

    async def main():
        a1, a2, b1, c1 = [await Client.connect(server, s) for s in (a, a, b, c)]
        await a1.send({"type": "typing", "conversation_id": cid, "state": "start"})
        for cl in (b1, c1):
            f = await cl.expect("typing")
            assert f == {"type": "typing", "conversation_id": cid, "user_id": uid(a), "state": "start"}
        await a2.expect_none("typing", wait=0.3)
        await a1.expect_none("typing", wait=0.1)
        await a1.send({"type": "typing", "conversation_id": cid, "state": "stop"})
        assert (await b1.expect("typing"))["state"] == "stop"
        for cl in (a1, a2, b1, c1):
            await cl.close()

    run(main())
    conv = api(server, "GET", f"/api/conversations/{cid}", a).json()["conversation"]
    assert conv["last_seq"] == 0
    assert api(server, "GET", f"/api/conversations/{cid}/messages", a).json()["messages"] == []


def test_read_frame_moves_marker_and_tells_the_others(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    for i in range(4):
        post_message(server, a, cid, f"m{i}")

    async def main():
        a1, b1, b2 = [await Client.connect(server, s) for s in (a, b, b)]
        await b1.send({"type": "read", "conversation_id": cid, "seq": 3})
        f = await a1.expect("read")
        assert f == {"type": "read", "conversation_id": cid, "user_id": uid(b), "seq": 3}
        await b1.expect_none("read", wait=0.3)
        # Backwards: nothing moves, nobody is told.
        await b1.send({"type": "read", "conversation_id": cid, "seq": 1})
        await a1.expect_none("read")
        # The REST call tells the others too.
        assert api(server, "POST", f"/api/conversations/{cid}/read", b, {"seq": 4}).status == 204
        assert (await a1.expect("read"))["seq"] == 4
        for cl in (a1, b1, b2):
            await cl.close()

    run(main())
    conv = api(server, "GET", f"/api/conversations/{cid}", b).json()["conversation"]
    assert conv["unread_count"] == 0


def test_sync_returns_what_was_missed(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    for i in range(1, 8):
        post_message(server, a, cid, f"m{i}")

    async def main():
        c = await Client.connect(server, b)
        await c.send({"type": "sync", "conversation_id": cid, "after_seq": 2, "limit": 3})
        r = await c.expect("sync.result")
        assert r["conversation_id"] == cid and r["has_more"] is True
        assert [m["seq"] for m in r["messages"]] == [3, 4, 5]
        await c.send({"type": "sync", "conversation_id": cid, "after_seq": 5})
        r = await c.expect("sync.result")
        assert [m["text"] for m in r["messages"]] == ["m6", "m7"] and r["has_more"] is False
        await c.close()

    run(main())


def test_conversation_updated_on_create_rename_and_members(server):
    a, b, c = server.signup(), server.signup(), server.signup()

    async def main():
        a1, b1, c1 = [await Client.connect(server, s) for s in (a, b, c)]
        conv = create_group(server, a, [b], name="First")
        cid = conv["id"]
        for cl in (a1, b1):
            f = await cl.expect("conversation.updated")
            assert f["conversation"]["id"] == cid and f["conversation"]["name"] == "First"
            assert all(p["last_read_seq"] == 0 for p in f["conversation"]["participants"])
        await c1.expect_none("conversation.updated", wait=0.3)
        api(server, "PATCH", f"/api/conversations/{cid}", a, {"name": "Second"})
        for cl in (a1, b1):
            assert (await cl.expect("conversation.updated"))["conversation"]["name"] == "Second"
        api(server, "POST", f"/api/conversations/{cid}/members", a, {"user_ids": [uid(c)]})
        for cl in (a1, b1, c1):
            f = await cl.expect("conversation.updated")
            assert uid(c) in {p["id"] for p in f["conversation"]["participants"]}
        assert api(server, "DELETE", f"/api/conversations/{cid}/members/{uid(b)}", a).status == 204
        for cl in (a1, b1, c1):
            f = await cl.expect("conversation.updated")
            assert uid(b) not in {p["id"] for p in f["conversation"]["participants"]}
        # A direct conversation that already existed is not news.
        create_direct(server, a, c)
        await c1.expect("conversation.updated")
        create_direct(server, c, a)
        await c1.expect_none("conversation.updated")
        for cl in (a1, b1, c1):
            await cl.close()

    run(main())


def test_message_updated_on_edit_delete_and_reactions(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    mid = post_message(server, a, cid, "v1").json()["message"]["id"]

    async def main():
        a1, b1 = await Client.connect(server, a), await Client.connect(server, b)
        api(server, "PATCH", f"/api/messages/{mid}", a, {"text": "v2"})
        for cl in (a1, b1):
            m = (await cl.expect("message.updated"))["message"]
            assert m["id"] == mid and m["text"] == "v2" and m["edited_at"]
        api(server, "POST", f"/api/messages/{mid}/reactions", b, {"emoji": "🎉"})
        for cl in (a1, b1):
            m = (await cl.expect("message.updated"))["message"]
            assert m["reactions"] == [{"emoji": "🎉", "user_ids": [uid(b)]}]
        api(server, "DELETE", f"/api/messages/{mid}/reactions/%F0%9F%8E%89", b)
        for cl in (a1, b1):
            assert (await cl.expect("message.updated"))["message"]["reactions"] == []
        api(server, "DELETE", f"/api/messages/{mid}", a)
        for cl in (a1, b1):
            m = (await cl.expect("message.updated"))["message"]
            assert m["deleted"] is True and m["text"] is None
        await a1.close()
        await b1.close()

    run(main())


def test_presence_first_and_last_session(server):
    a, b, stranger = server.signup(), server.signup(), server.signup()
    create_direct(server, a, b)

    async def main():
        b1 = await Client.connect(server, b)
        s1 = await Client.connect(server, stranger)
        a1 = await Client.connect(server, a)
        f = await b1.expect("presence", user_id=uid(a))
        assert f["status"] == "online"
        a2 = await Client.connect(server, a)
        await b1.expect_none("presence", user_id=uid(a))
        await a1.close()
        await b1.expect_none("presence", user_id=uid(a))
        await a2.close()
        f = await b1.expect("presence", user_id=uid(a))
        assert f["status"] == "offline"
        await s1.expect_none("presence", wait=0.2)
        await b1.close()
        await s1.close()

    run(main())


def test_many_senders_one_group_same_order_everywhere(server):
    people = [server.signup() for _ in range(8)]
    cid = create_group(server, people[0], people[1:])["id"]
    per_sender = 12

    async def main():
        clients = [await Client.connect(server, p) for p in people]

        async def blast(i, c):
            for k in range(per_sender):
                await c.send({"type": "message.send", "conversation_id": cid,
                              "text": f"{i}-{k}", "client_id": f"{i}-{k}"})

        await asyncio.gather(*(blast(i, c) for i, c in enumerate(clients)))
        total = per_sender * len(people)
        orders = []
        for c in clients:
            got = []
            while len(got) < total:
                f = await c.expect_any(("message.new", "message.ack"))
                got.append(f["message"]["seq"])
            orders.append(got)
        for o in orders:
            assert o == list(range(1, total + 1))
        for c in clients:
            await c.close()

    run(main())
