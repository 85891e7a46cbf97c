"""Conversations over REST (API.md, Conversations): direct and group creation,
listing by activity with unread counts, rename and membership by admins, read
markers, and 404 for every call on a conversation the caller is not in."""
import time

from messaging_helpers import api, create_direct, create_group, post_message, uid


def test_direct_is_created_once_per_pair(server):
    a, b = server.signup(name="Ann"), server.signup(name="Bob")
    r = api(server, "POST", "/api/conversations", a, {"type": "direct", "participant_id": uid(b)})
    assert r.status == 201, r
    conv = r.json()["conversation"]
    assert conv["type"] == "direct"
    assert sorted(p["id"] for p in conv["participants"]) == sorted([uid(a), uid(b)])
    assert {p["name"] for p in conv["participants"]} == {"Ann", "Bob"}
    # Every participant's positions, so receipts survive a reload.
    assert all(p["last_read_seq"] == 0 and p["last_delivered_seq"] == 0 for p in conv["participants"])
    assert conv["last_seq"] == 0 and conv["last_message"] is None and conv["unread_count"] == 0
    for k in ("created_at", "updated_at"):
        assert conv[k].endswith("Z")
    # Again, from either side: 200 with the same conversation.
    r = api(server, "POST", "/api/conversations", b, {"type": "direct", "participant_id": uid(a)})
    assert r.status == 200, r
    assert r.json()["conversation"]["id"] == conv["id"]


def test_group_creator_is_admin(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    r = api(server, "POST", "/api/conversations", a,
            {"type": "group", "name": "Launch", "participant_ids": [uid(b), uid(c), uid(b)]})
    assert r.status == 201, r
    conv = r.json()["conversation"]
    assert conv["name"] == "Launch" and conv["type"] == "group"
    roles = {p["id"]: p["role"] for p in conv["participants"]}
    assert roles == {uid(a): "admin", uid(b): "member", uid(c): "member"}


def test_create_validation(server):
    a = server.signup()
    cases = [
        ({"type": "broadcast"}, "type"),
        ({"participant_id": uid(a)}, "type"),
        ({"type": "direct"}, "participant_id"),
        ({"type": "direct", "participant_id": 5}, "participant_id"),
        ({"type": "direct", "participant_id": {"$gt": ""}}, "participant_id"),
        ({"type": "direct", "participant_id": uid(a)}, "participant_id"),
        ({"type": "direct", "participant_id": "000000000000000000000000"}, "participant_id"),
        ({"type": "group", "participant_ids": []}, "name"),
        ({"type": "group", "name": "", "participant_ids": []}, "name"),
        ({"type": "group", "name": "x" * 101, "participant_ids": []}, "name"),
        ({"type": "group", "name": "g", "participant_ids": "abc"}, "participant_ids"),
        ({"type": "group", "name": "g", "participant_ids": [1]}, "participant_ids"),
        ({"type": "group", "name": "g", "participant_ids": ["nobody-like-this"]}, "participant_ids"),
    ]
    for body, field in cases:
        r = api(server, "POST", "/api/conversations", a, body)
        assert r.status == 400, (body, r)
        err = r.json()["error"]
        assert err["code"] == "validation_failed" and err["field"] == field, (body, err)
    r = api(server, "POST", "/api/conversations", a, raw_body=b"{", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_json"
    r = api(server, "POST", "/api/conversations", None, {"type": "direct", "participant_id": uid(a)})
    assert r.status == 401


def test_list_orders_by_activity_and_paginates(server):
    me = server.signup()
    others = [server.signup() for _ in range(5)]
    convs = [create_direct(server, me, o) for o in others]
    # Activity: a message in the first one makes it the most recent. Activity
    # times have millisecond resolution (ties go by id), and on loopback the
    # last creation and the message can share one: let a millisecond pass.
    time.sleep(0.002)
    assert post_message(server, others[0], convs[0]["id"], "ping").status == 201
    r = api(server, "GET", "/api/conversations?limit=2", me)
    assert r.status == 200, r
    page = r.json()
    assert len(page["conversations"]) == 2 and page["next_cursor"]
    first = page["conversations"][0]
    assert first["id"] == convs[0]["id"]
    assert first["unread_count"] == 1 and first["last_message"]["text"] == "ping"
    seen = [c["id"] for c in page["conversations"]]
    cursor = page["next_cursor"]
    while cursor:
        r = api(server, "GET", f"/api/conversations?limit=2&cursor={cursor}", me)
        assert r.status == 200, r
        seen += [c["id"] for c in r.json()["conversations"]]
        cursor = r.json()["next_cursor"]
    assert sorted(seen) == sorted(c["id"] for c in convs)
    assert len(seen) == len(set(seen))
    # The others see only their own conversation.
    r = api(server, "GET", "/api/conversations", others[1])
    assert [c["id"] for c in r.json()["conversations"]] == [convs[1]["id"]]
    for bad in ("limit=0", "limit=201", "limit=abc", "limit=-1", "cursor=garbage"):
        r = api(server, "GET", f"/api/conversations?{bad}", me)
        assert r.status == 400, (bad, r)
        assert r.json()["error"]["field"] == bad.split("=")[0]


def test_get_and_not_found_for_outsiders(server):
    a, b, outsider = server.signup(), server.signup(), server.signup()
    conv = create_direct(server, a, b)
    r = api(server, "GET", f"/api/conversations/{conv['id']}", b)
    assert r.status == 200 and r.json()["conversation"]["id"] == conv["id"]
    cid = conv["id"]
    calls = [
        ("GET", f"/api/conversations/{cid}", None),
        ("PATCH", f"/api/conversations/{cid}", {"name": "x"}),
        ("POST", f"/api/conversations/{cid}/members", {"user_ids": [uid(outsider)]}),
        ("DELETE", f"/api/conversations/{cid}/members/{uid(a)}", None),
        ("POST", f"/api/conversations/{cid}/read", {"seq": 1}),
        ("GET", f"/api/conversations/{cid}/messages", None),
        ("POST", f"/api/conversations/{cid}/messages", {"text": "hi"}),
    ]
    for method, path, body in calls:
        for who in (outsider,):
            r = api(server, method, path, who, body)
            assert r.status == 404, (method, path, r)
            assert r.json()["error"]["code"] == "not_found"
    # Unknown ids look the same as other people's.
    r = api(server, "GET", "/api/conversations/000000000000000000000000", a)
    assert r.status == 404


def test_rename_admins_only(server):
    a, b = server.signup(), server.signup()
    conv = create_group(server, a, [b], name="Old")
    r = api(server, "PATCH", f"/api/conversations/{conv['id']}", b, {"name": "Mine"})
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
    r = api(server, "PATCH", f"/api/conversations/{conv['id']}", a, {"name": "New"})
    assert r.status == 200 and r.json()["conversation"]["name"] == "New"
    assert api(server, "GET", f"/api/conversations/{conv['id']}", b).json()["conversation"]["name"] == "New"
    for body in ({}, {"name": ""}, {"name": 3}, {"name": "y" * 101}):
        r = api(server, "PATCH", f"/api/conversations/{conv['id']}", a, body)
        assert r.status == 400 and r.json()["error"]["field"] == "name", (body, r)
    # A direct conversation has no admins to rename it.
    d = create_direct(server, a, b)
    assert api(server, "PATCH", f"/api/conversations/{d['id']}", a, {"name": "n"}).status == 403


def test_members_add_and_remove(server):
    a, b, c, d = (server.signup() for _ in range(4))
    conv = create_group(server, a, [b])
    cid = conv["id"]
    r = api(server, "POST", f"/api/conversations/{cid}/members", b, {"user_ids": [uid(c)]})
    assert r.status == 403
    r = api(server, "POST", f"/api/conversations/{cid}/members", a, {"user_ids": [uid(c), uid(d)]})
    assert r.status == 200, r
    ids = {p["id"] for p in r.json()["conversation"]["participants"]}
    assert ids == {uid(a), uid(b), uid(c), uid(d)}
    for body in ({}, {"user_ids": []}, {"user_ids": "x"}, {"user_ids": [None]}):
        r = api(server, "POST", f"/api/conversations/{cid}/members", a, body)
        assert r.status == 400 and r.json()["error"]["field"] == "user_ids", (body, r)
    r = api(server, "POST", f"/api/conversations/{cid}/members", a, {"user_ids": ["ghost"]})
    assert r.status == 400 and r.json()["error"]["field"] == "user_ids"
    # A member may not remove another; an admin may; a member may leave.
    assert api(server, "DELETE", f"/api/conversations/{cid}/members/{uid(c)}", b).status == 403
    assert api(server, "DELETE", f"/api/conversations/{cid}/members/{uid(c)}", a).status == 204
    assert api(server, "DELETE", f"/api/conversations/{cid}/members/{uid(b)}", b).status == 204
    # Gone members no longer see it; removing them again is a 404.
    assert api(server, "GET", f"/api/conversations/{cid}", c).status == 404
    assert api(server, "GET", f"/api/conversations/{cid}", b).status == 404
    assert api(server, "DELETE", f"/api/conversations/{cid}/members/{uid(c)}", a).status == 404
    ids = {p["id"] for p in api(server, "GET", f"/api/conversations/{cid}", a).json()["conversation"]["participants"]}
    assert ids == {uid(a), uid(d)}


def test_read_marker_drives_unread_and_never_goes_back(server):
    a, b = server.signup(), server.signup()
    conv = create_direct(server, a, b)
    cid = conv["id"]
    for i in range(5):
        assert post_message(server, a, cid, f"m{i}").status == 201

    def unread(s):
        return api(server, "GET", f"/api/conversations/{cid}", s).json()["conversation"]["unread_count"]

    assert unread(b) == 5 and unread(a) == 0
    assert api(server, "POST", f"/api/conversations/{cid}/read", b, {"seq": 3}).status == 204
    assert unread(b) == 2
    assert api(server, "POST", f"/api/conversations/{cid}/read", b, {"seq": 1}).status == 204
    assert unread(b) == 2
    assert api(server, "POST", f"/api/conversations/{cid}/read", b, {"seq": 99}).status == 204
    assert unread(b) == 0
    for body in ({}, {"seq": "3"}, {"seq": -1}, {"seq": 1.5}, {"seq": True}):
        r = api(server, "POST", f"/api/conversations/{cid}/read", b, body)
        assert r.status == 400 and r.json()["error"]["field"] == "seq", (body, r)
