"""Replies, mentions and mute (issue 17, item 3): a message quotes another of the
same conversation with a preview taken when it is sent (which outlives the quoted
message's edit and deletion), mentions participants by id (a per-participant
mention_count, apart from unread_count, that reading resets), on both send paths; bad
quotes and mentions get 400 and store nothing; PATCH .../settings {muted_until}."""
import asyncio
import os
import uuid

from conftest import mongo_uri
from messaging_helpers import Client, api, create_direct, create_group, post_message, run, uid


def send(server, session, conv_id, text, **extra):
    return api(server, "POST", f"/api/conversations/{conv_id}/messages", session, {"text": text, **extra})


def view(server, session, conv_id):
    r = api(server, "GET", f"/api/conversations/{conv_id}", session)
    assert r.status == 200, r
    return r.json()["conversation"]


def history(server, session, conv_id):
    return api(server, "GET", f"/api/conversations/{conv_id}/messages", session).json()["messages"]


def test_reply_keeps_a_preview_through_edit_and_delete(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    long_text = "é" * 150
    q = post_message(server, a, cid, long_text).json()["message"]
    r = send(server, b, cid, "answer", reply_to=q["id"])
    assert r.status == 201, r
    m = r.json()["message"]
    # The preview: sender and the first 100 code points, as sent.
    assert m["reply_to"] == {"id": q["id"], "seq": q["seq"], "sender_id": uid(a), "text": "é" * 100}
    assert "mentions" not in m and "reply_to" not in q
    assert api(server, "PATCH", f"/api/messages/{q['id']}", a, {"text": "edited"}).status == 200
    assert api(server, "DELETE", f"/api/messages/{q['id']}", a).status == 204
    got = [x for x in history(server, a, cid) if x["id"] == m["id"]][0]
    assert got["reply_to"]["text"] == "é" * 100
    # A deleted message cannot be quoted any more.
    r = send(server, b, cid, "late", reply_to=q["id"])
    assert r.status == 400 and r.json()["error"]["field"] == "reply_to"


def test_bad_replies_and_mentions_store_nothing(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    other = create_direct(server, a, c)["id"]
    elsewhere = post_message(server, a, other, "elsewhere").json()["message"]
    post_message(server, a, cid, "first")
    cases = [
        ({"reply_to": elsewhere["id"]}, "reply_to"),          # another conversation
        ({"reply_to": "f" * 24}, "reply_to"),                  # no such message
        ({"reply_to": 5}, "reply_to"),
        ({"mentions": [uid(c)]}, "mentions"),                  # not a participant
        ({"mentions": "x"}, "mentions"),
        ({"mentions": [uid(b), uid(b)]}, "mentions"),
        ({"mentions": [str(i) for i in range(21)]}, "mentions"),  # over the bound
        ({"mentions": [uid(b), 7]}, "mentions"),
    ]
    for extra, field in cases:
        r = send(server, a, cid, "bad", **extra)
        assert r.status == 400, (extra, r)
        assert r.json()["error"]["code"] == "validation_failed"
        assert r.json()["error"]["field"] == field, (extra, r.json())
    assert [m["text"] for m in history(server, a, cid)] == ["first"]
    assert view(server, b, cid)["mention_count"] == 0

    async def main():
        s = await Client.connect(server, a)
        await s.send({"type": "message.send", "conversation_id": cid, "text": "bad",
                      "client_id": "w1", "reply_to": elsewhere["id"]})
        e = await s.expect("error", ref="w1")
        assert (e["code"], e["field"]) == ("validation_failed", "reply_to")
        await s.send({"type": "message.send", "conversation_id": cid, "text": "bad",
                      "client_id": "w2", "mentions": [uid(c)]})
        e = await s.expect("error", ref="w2")
        assert (e["code"], e["field"]) == ("validation_failed", "mentions")
        await s.send({"type": "message.send", "conversation_id": cid, "text": "bad",
                      "client_id": "w3", "mentions": list(range(3))})
        assert (await s.expect("error", ref="w3"))["field"] == "mentions"
        await s.close()
    run(main())
    assert [m["text"] for m in history(server, a, cid)] == ["first"]


def test_mentions_count_apart_from_unread_and_reading_resets(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    g = create_group(server, a, [b, c])["id"]
    assert send(server, a, g, "hi all").status == 201
    m2 = send(server, a, g, "@b look", mentions=[uid(b)]).json()["message"]
    assert m2["mentions"] == [uid(b)]
    send(server, c, g, "@b and me", mentions=[uid(b), uid(c)])
    vb, vc = view(server, b, g), view(server, c, g)
    assert (vb["unread_count"], vb["mention_count"]) == (3, 2)
    assert (vc["mention_count"], vc["unread_count"]) == (0, 0)  # own mention never counts
    # Others never see b's count; the list shows it too.
    assert all("mention_count" not in p and "muted_until" not in p for p in view(server, a, g)["participants"])
    listed = api(server, "GET", "/api/conversations", b).json()["conversations"]
    assert [x["mention_count"] for x in listed if x["id"] == g] == [2]
    # Reading past the first mention leaves one; reading to the end none.
    api(server, "POST", f"/api/conversations/{g}/read", b, {"seq": 2})
    assert view(server, b, g)["mention_count"] == 1
    api(server, "POST", f"/api/conversations/{g}/read", b, {"seq": 3})
    assert view(server, b, g)["mention_count"] == 0
    # Sending reads for the sender: their mentions are read too.
    send(server, a, g, "@c", mentions=[uid(c)])
    assert view(server, c, g)["mention_count"] == 1
    send(server, c, g, "ok")
    assert view(server, c, g)["mention_count"] == 0


def test_websocket_send_with_reply_and_mentions(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    q = post_message(server, b, cid, "question").json()["message"]

    async def main():
        sa, sb = await Client.connect(server, a), await Client.connect(server, b)
        await sa.send({"type": "message.send", "conversation_id": cid, "text": "@b answer",
                       "client_id": "k1", "reply_to": q["id"], "mentions": [uid(b)]})
        ack = (await sa.expect("message.ack"))["message"]
        new = (await sb.expect("message.new"))["message"]
        assert ack == new
        assert new["reply_to"]["id"] == q["id"] and new["reply_to"]["text"] == "question"
        assert new["mentions"] == [uid(b)]
        # The same client_id again: the original, nothing new.
        await sa.send({"type": "message.send", "conversation_id": cid, "text": "@b answer",
                       "client_id": "k1", "reply_to": q["id"], "mentions": [uid(b)]})
        assert (await sa.expect("message.ack"))["message"]["id"] == ack["id"]
        await sa.close()
        await sb.close()
    run(main())
    assert view(server, b, cid)["mention_count"] == 1
    assert len(history(server, a, cid)) == 2


def test_mute_settings(server):
    a, b, stranger = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    assert view(server, a, cid)["muted_until"] is None
    until = "2099-01-31T18:00:00.000Z"

    async def main():
        other_tab = await Client.connect(server, a)
        bs = await Client.connect(server, b)
        r = api(server, "PATCH", f"/api/conversations/{cid}/settings", a, {"muted_until": until})
        assert r.status == 200, r
        assert r.json()["conversation"]["muted_until"] == until
        f = await other_tab.expect("conversation.updated")
        assert f["conversation"]["muted_until"] == until
        await bs.expect_none("conversation.updated")  # nobody else hears of it
        await other_tab.close()
        await bs.close()
    run(main())
    assert view(server, a, cid)["muted_until"] == until
    assert view(server, b, cid)["muted_until"] is None
    listed = api(server, "GET", "/api/conversations", a).json()["conversations"]
    assert [x["muted_until"] for x in listed if x["id"] == cid] == [until]
    # A time past shows as not muted; null unmutes.
    api(server, "PATCH", f"/api/conversations/{cid}/settings", a, {"muted_until": "2001-01-01T00:00:00.000Z"})
    assert view(server, a, cid)["muted_until"] is None
    api(server, "PATCH", f"/api/conversations/{cid}/settings", a, {"muted_until": until})
    r = api(server, "PATCH", f"/api/conversations/{cid}/settings", a, {"muted_until": None})
    assert r.status == 200 and r.json()["conversation"]["muted_until"] is None
    for body in ({}, {"muted_until": "tomorrow"}, {"muted_until": 5}, {"muted_until": "2099-01-31"},
                 {"muted_until": until, "colour": "red"}):
        r = api(server, "PATCH", f"/api/conversations/{cid}/settings", a, body)
        assert r.status == 400, (body, r)
    assert view(server, a, cid)["muted_until"] is None
    r = api(server, "PATCH", f"/api/conversations/{cid}/settings", stranger, {"muted_until": until})
    assert r.status == 404


def test_replies_mentions_and_mute_survive_a_restart(start_server, tmp_path):
    env = {}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_repl_{uuid.uuid4().hex[:10]}")
    s = start_server(env=env, data_dir=str(tmp_path))
    a, b = s.signup(), s.signup()
    cid = create_direct(s, a, b)["id"]
    q = post_message(s, a, cid, "quoted").json()["message"]
    send(s, a, cid, "reply", reply_to=q["id"], mentions=[uid(b)])
    api(s, "PATCH", f"/api/conversations/{cid}/settings", b, {"muted_until": "2099-01-01T00:00:00.000Z"})
    s.stop()
    s2 = start_server(env=env, data_dir=str(tmp_path))
    v = view(s2, b, cid)
    assert (v["mention_count"], v["muted_until"]) == (1, "2099-01-01T00:00:00.000Z")
    last = history(s2, b, cid)[-1]
    assert last["reply_to"]["id"] == q["id"] and last["mentions"] == [uid(b)]


def test_no_quotes_or_mentions_in_instagram_conversations(start_server):
    """Instagram has no Parley quotes or mentions: 400, nothing stored, nothing sent."""
    import time as _time
    from fakegraph import FakeGraph
    from igutil import connect, ig_conversations, ig_env, post_webhook, text_event, wait_until
    fake = FakeGraph().start()
    try:
        srv = start_server(env=ig_env(fake))
        owner = srv.signup()
        connect(srv, owner["access_token"])
        mid = f"mid-{_time.time_ns()}"
        assert post_webhook(srv, text_event("hello", mid)).status == 200
        conv = wait_until(lambda: next((c for c in ig_conversations(srv, owner["access_token"])
                                        if c["last_message"]), None))
        inbound = conv["last_message"]
        for extra, field in (({"reply_to": inbound["id"]}, "reply_to"),
                             ({"mentions": [uid(owner)]}, "mentions")):
            r = send(srv, owner, conv["id"], "quoted reply", **extra)
            assert r.status == 400 and r.json()["error"]["field"] == field, r
        _time.sleep(0.3)
        assert not [q for q in fake.sends() if "quoted reply" in json_text(q)]
        assert [m["text"] for m in history(srv, owner, conv["id"])] == ["hello"]
    finally:
        fake.stop()


def json_text(q):
    return ((q.get("json") or {}).get("message") or {}).get("text") or ""
