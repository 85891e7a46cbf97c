"""Messages over REST (API.md, Messages): sends with gap-free seq, idempotent
client_id, history pages, edit, delete, reactions, and 404 for outsiders."""
import threading

from messaging_helpers import api, create_direct, create_group, post_message, uid


def test_send_assigns_seq_and_shape(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    r = post_message(server, a, cid, "héllo ✓")
    assert r.status == 201, r
    m = r.json()["message"]
    assert m["seq"] == 1 and m["text"] == "héllo ✓" and m["sender_id"] == uid(a)
    assert m["conversation_id"] == cid and m["client_id"] is None and m["source"] == "web"
    assert m["deleted"] is False and m["edited_at"] is None
    assert m["reactions"] == [] and m["attachments"] == []
    assert post_message(server, b, cid, "two").json()["message"]["seq"] == 2
    conv = api(server, "GET", f"/api/conversations/{cid}", b).json()["conversation"]
    assert conv["last_seq"] == 2 and conv["last_message"]["text"] == "two"
    # The sender has read what they wrote.
    assert conv["unread_count"] == 0


def test_client_id_is_idempotent(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    first = post_message(server, a, cid, "once", client_id="c-1")
    assert first.status == 201
    again = post_message(server, a, cid, "once (retry)", client_id="c-1")
    assert again.status == 200
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert again.json()["message"]["text"] == "once"
    # Another sender may use the same client_id.
    assert post_message(server, b, cid, "mine", client_id="c-1").status == 201
    msgs = api(server, "GET", f"/api/conversations/{cid}/messages", a).json()["messages"]
    assert [m["seq"] for m in msgs] == [1, 2]


def test_send_validation(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    cases = [
        ({}, "text"), ({"text": ""}, "text"), ({"text": 5}, "text"), ({"text": None}, "text"),
        ({"text": "x" * 4001}, "text"), ({"text": ["a"]}, "text"),
        ({"text": "ok", "client_id": 7}, "client_id"), ({"text": "ok", "client_id": "x" * 65}, "client_id"),
        ({"text": "ok", "client_id": {"$ne": 1}}, "client_id"),
    ]
    for body, field in cases:
        r = api(server, "POST", f"/api/conversations/{cid}/messages", a, body)
        assert r.status == 400, (body, r)
        err = r.json()["error"]
        assert (err["code"], err.get("field")) == ("validation_failed", field), (body, err)
    # A NUL inside text never reaches the store (refused as JSON or as a field).
    r = api(server, "POST", f"/api/conversations/{cid}/messages", a, {"text": "a\u0000b"})
    assert r.status == 400
    # 4000 characters (not bytes) is the limit.
    assert post_message(server, a, cid, "é" * 4000).status == 201
    r = api(server, "POST", f"/api/conversations/{cid}/messages", a, raw_body=b'{"text": "a"}',
            headers={"Content-Type": "text/plain"})
    assert r.status == 415


def test_history_pages(server):
    a, b = server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    for i in range(1, 13):
        assert post_message(server, a if i % 2 else b, cid, f"m{i}").status == 201

    def page(q):
        r = api(server, "GET", f"/api/conversations/{cid}/messages{q}", b)
        assert r.status == 200, r
        return [m["seq"] for m in r.json()["messages"]], r.json()["has_more"]

    assert page("") == (list(range(1, 13)), False)
    assert page("?limit=5") == ([8, 9, 10, 11, 12], True)
    assert page("?limit=5&before_seq=8") == ([3, 4, 5, 6, 7], True)
    assert page("?limit=5&before_seq=3") == ([1, 2], False)
    assert page("?limit=5&after_seq=0") == ([1, 2, 3, 4, 5], True)
    assert page("?limit=5&after_seq=9") == ([10, 11, 12], False)
    assert page("?after_seq=12") == ([], False)
    for bad in ("limit=0", "limit=201", "limit=x", "before_seq=-1", "after_seq=abc",
                "before_seq=5&after_seq=1", "limit=1.5"):
        r = api(server, "GET", f"/api/conversations/{cid}/messages?{bad}", b)
        assert r.status == 400, (bad, r)
        assert r.json()["error"]["code"] == "validation_failed"
    assert api(server, "GET", f"/api/conversations/{cid}/messages?limit=200", b).status == 200


def test_edit_sender_only(server):
    a, b, outsider = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    mid = post_message(server, a, cid, "draft").json()["message"]["id"]
    r = api(server, "PATCH", f"/api/messages/{mid}", b, {"text": "hijack"})
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
    assert api(server, "PATCH", f"/api/messages/{mid}", outsider, {"text": "x"}).status == 404
    r = api(server, "PATCH", f"/api/messages/{mid}", a, {"text": "final"})
    assert r.status == 200, r
    m = r.json()["message"]
    assert m["text"] == "final" and m["edited_at"] and m["seq"] == 1
    for body in ({}, {"text": ""}, {"text": 1}, {"text": "x" * 4001}):
        r = api(server, "PATCH", f"/api/messages/{mid}", a, body)
        assert r.status == 400 and r.json()["error"]["field"] == "text", (body, r)
    assert api(server, "PATCH", "/api/messages/000000000000000000000000", a, {"text": "x"}).status == 404


def test_delete_sender_or_group_admin(server):
    admin, member, other = server.signup(), server.signup(), server.signup()
    cid = create_group(server, admin, [member, other])["id"]
    m1 = post_message(server, member, cid, "one").json()["message"]["id"]
    m2 = post_message(server, member, cid, "two").json()["message"]["id"]
    outsider = server.signup()
    assert api(server, "DELETE", f"/api/messages/{m1}", outsider).status == 404
    assert api(server, "DELETE", f"/api/messages/{m1}", other).status == 403
    assert api(server, "DELETE", f"/api/messages/{m1}", member).status == 204
    assert api(server, "DELETE", f"/api/messages/{m2}", admin).status == 204
    msgs = api(server, "GET", f"/api/conversations/{cid}/messages", other).json()["messages"]
    assert [(m["seq"], m["deleted"], m["text"]) for m in msgs] == [(1, True, None), (2, True, None)]
    # A deleted message cannot be edited back to life.
    assert api(server, "PATCH", f"/api/messages/{m1}", member, {"text": "back"}).status == 403


def test_reactions(server):
    a, b, outsider = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    mid = post_message(server, a, cid, "react to me").json()["message"]["id"]
    r = api(server, "POST", f"/api/messages/{mid}/reactions", b, {"emoji": "👍"})
    assert r.status == 200, r
    assert r.json()["message"]["reactions"] == [{"emoji": "👍", "user_ids": [uid(b)]}]
    r = api(server, "POST", f"/api/messages/{mid}/reactions", a, {"emoji": "👍"})
    assert sorted(r.json()["message"]["reactions"][0]["user_ids"]) == sorted([uid(a), uid(b)])
    # Twice from the same user counts once.
    r = api(server, "POST", f"/api/messages/{mid}/reactions", a, {"emoji": "👍"})
    assert len(r.json()["message"]["reactions"][0]["user_ids"]) == 2
    assert api(server, "POST", f"/api/messages/{mid}/reactions", outsider, {"emoji": "👍"}).status == 404
    for body in ({}, {"emoji": ""}, {"emoji": 1}, {"emoji": "x" * 33}):
        r = api(server, "POST", f"/api/messages/{mid}/reactions", a, body)
        assert r.status == 400 and r.json()["error"]["field"] == "emoji", (body, r)
    assert api(server, "DELETE", f"/api/messages/{mid}/reactions/%F0%9F%91%8D", b).status == 204
    assert api(server, "DELETE", f"/api/messages/{mid}/reactions/%F0%9F%91%8D", outsider).status == 404
    msgs = api(server, "GET", f"/api/conversations/{cid}/messages", a).json()["messages"]
    assert msgs[0]["reactions"] == [{"emoji": "👍", "user_ids": [uid(a)]}]


def test_messages_of_others_are_not_found(server):
    a, b, outsider = server.signup(), server.signup(), server.signup()
    cid = create_direct(server, a, b)["id"]
    mid = post_message(server, a, cid, "secret").json()["message"]["id"]
    for method, path, body in [
        ("GET", f"/api/conversations/{cid}/messages", None),
        ("POST", f"/api/conversations/{cid}/messages", {"text": "x"}),
        ("PATCH", f"/api/messages/{mid}", {"text": "x"}),
        ("DELETE", f"/api/messages/{mid}", None),
        ("POST", f"/api/messages/{mid}/reactions", {"emoji": "x"}),
        ("DELETE", f"/api/messages/{mid}/reactions/x", None),
    ]:
        r = api(server, method, path, outsider, body)
        assert r.status == 404, (method, path, r)
    # Nothing the outsider tried changed the conversation.
    msgs = api(server, "GET", f"/api/conversations/{cid}/messages", a).json()["messages"]
    assert [(m["seq"], m["text"], m["reactions"]) for m in msgs] == [(1, "secret", [])]


def test_concurrent_sends_get_gap_free_seq(server):
    people = [server.signup() for _ in range(6)]
    cid = create_group(server, people[0], people[1:])["id"]
    seqs, errors = [], []
    lock = threading.Lock()

    def sender(s, n):
        for i in range(n):
            r = post_message(server, s, cid, f"{uid(s)}-{i}", client_id=f"k{i}")
            with lock:
                if r.status != 201:
                    errors.append(r)
                else:
                    seqs.append(r.json()["message"]["seq"])

    threads = [threading.Thread(target=sender, args=(p, 15)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(seqs) == list(range(1, 91))
    r = api(server, "GET", f"/api/conversations/{cid}/messages?limit=200", people[3])
    assert [m["seq"] for m in r.json()["messages"]] == list(range(1, 91))
