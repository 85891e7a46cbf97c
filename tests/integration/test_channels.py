"""Channels (API.md, Channels): admins post and members read; members join by
invite link or, for a public channel, by id, and leave; admins promote, demote
and remove; unread counts and sync work as in groups; the view carries
member_count, never the member list, which is paged. Runs on the store the
environment picks; the last test needs Redis and runs two instances."""
import asyncio
import os
import uuid

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, api, post_message, run, uid


def create_channel(server, admin, name="News", public=True):
    r = api(server, "POST", "/api/conversations", admin,
            {"type": "channel", "name": name, "public": public})
    assert r.status == 201, r
    return r.json()["conversation"]


def join(server, session, **body):
    return api(server, "POST", "/api/channels/join", session, body)


async def following(server, admin, cid, *clients):
    """Posts probes until every client got one: a session follows its channels
    once the read of its channel list (right after ready) is done, which a loaded
    machine may delay. Returns the texts posted."""
    posted = []
    for i in range(50):
        text = f"probe {i}"
        assert post_message(server, admin, cid, text).status == 201
        posted.append(text)
        try:
            for c in clients:
                while (await c.expect("message.new", timeout=0.3))["message"]["text"] != text:
                    pass
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the clients never followed the channel")
    for c in clients:  # probes that arrived late
        await c.drain(0.2)
        c.backlog = [f for f in c.backlog if not (f.get("type") == "message.new" and
                                                   f["message"]["text"].startswith("probe"))]
    return posted


def messages(server, session, cid):
    r = api(server, "GET", f"/api/conversations/{cid}/messages", session)
    assert r.status == 200, r
    return r.json()["messages"]


def test_channel_view_has_member_count_not_members(server):
    admin = server.signup()
    ch = create_channel(server, admin)
    assert ch["type"] == "channel" and ch["public"] is True
    assert ch["member_count"] == 1 and ch["role"] == "admin" and ch["unread_count"] == 0
    assert "participants" not in ch
    assert ch["invite_token"] is None  # admins see it; none made yet
    got = api(server, "GET", f"/api/conversations/{ch['id']}", admin).json()["conversation"]
    assert got["member_count"] == 1 and "participants" not in got


def test_only_admins_post_rest_and_ws(server):
    admin, reader = server.signup(), server.signup()
    ch = create_channel(server, admin)
    assert join(server, reader, conversation_id=ch["id"]).status == 201
    assert post_message(server, admin, ch["id"], "hello readers").status == 201
    r = post_message(server, reader, ch["id"], "may I?")
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden", r

    async def ws():
        c = await Client.connect(server, reader)
        await c.send({"type": "message.send", "conversation_id": ch["id"], "text": "and here?",
                      "client_id": "r1"})
        err = await c.expect("error")
        assert err["code"] == "forbidden" and err["ref"] == "r1"
        await c.close()
    run(ws())
    texts = [m["text"] for m in messages(server, admin, ch["id"])]
    assert texts == ["hello readers"]  # neither refused message was stored


def test_join_public_by_id_private_by_link_and_leave(server):
    admin, a, b = server.signup(), server.signup(), server.signup()
    pub = create_channel(server, admin, "Public", public=True)
    priv = create_channel(server, admin, "Private", public=False)
    # A public channel by id; again: 200, nothing changes.
    r = join(server, a, conversation_id=pub["id"])
    assert r.status == 201 and r.json()["conversation"]["role"] == "member"
    assert "invite_token" not in r.json()["conversation"]
    assert join(server, a, conversation_id=pub["id"]).status == 200
    assert api(server, "GET", f"/api/conversations/{pub['id']}", admin).json()[
        "conversation"]["member_count"] == 2
    # A private one is not found by id, nor is an unknown id.
    assert join(server, b, conversation_id=priv["id"]).status == 404
    assert join(server, b, conversation_id="0" * 24).status == 404
    # Its invite link: only admins make one.
    assert api(server, "POST", f"/api/conversations/{priv['id']}/invite", b).status == 404
    r = api(server, "POST", f"/api/conversations/{priv['id']}/invite", admin)
    assert r.status == 200, r
    token = r.json()["conversation"]["invite_token"]
    assert isinstance(token, str) and len(token) == 32
    r = join(server, b, token=token)
    assert r.status == 201 and r.json()["conversation"]["id"] == priv["id"]
    assert api(server, "POST", f"/api/conversations/{priv['id']}/invite", b).status == 403
    # A new link replaces it; revoking ends it.
    new = api(server, "POST", f"/api/conversations/{priv['id']}/invite", admin).json()[
        "conversation"]["invite_token"]
    assert new != token
    assert join(server, a, token=token).status == 404
    assert api(server, "DELETE", f"/api/conversations/{priv['id']}/invite", admin).status == 204
    assert join(server, a, token=new).status == 404
    # Leaving: b goes, and no longer sees it.
    assert api(server, "DELETE", f"/api/conversations/{priv['id']}/members/{uid(b)}", b).status == 204
    assert api(server, "GET", f"/api/conversations/{priv['id']}", b).status == 404
    assert api(server, "GET", f"/api/conversations/{priv['id']}", admin).json()[
        "conversation"]["member_count"] == 1


def test_roles_remove_and_last_admin(server):
    admin, a, b = server.signup(), server.signup(), server.signup()
    ch = create_channel(server, admin)
    for s in (a, b):
        assert join(server, s, conversation_id=ch["id"]).status == 201
    base = f"/api/conversations/{ch['id']}/members"
    # The only admin cannot leave while others remain, nor demote themselves.
    r = api(server, "DELETE", f"{base}/{uid(admin)}", admin)
    assert r.status == 409 and r.json()["error"]["code"] == "conflict"
    assert api(server, "PATCH", f"{base}/{uid(admin)}", admin, {"role": "member"}).status == 409
    # A member can neither promote nor remove.
    assert api(server, "PATCH", f"{base}/{uid(b)}", a, {"role": "admin"}).status == 403
    assert api(server, "DELETE", f"{base}/{uid(b)}", a).status == 403
    # Promoted, a posts; demoted, a cannot.
    r = api(server, "PATCH", f"{base}/{uid(a)}", admin, {"role": "admin"})
    assert r.status == 200 and r.json()["member"] == {"id": uid(a), "name": a["user"]["name"],
                                                      "role": "admin"}
    assert post_message(server, a, ch["id"], "now I post").status == 201
    assert api(server, "PATCH", f"{base}/{uid(a)}", admin, {"role": "member"}).status == 200
    assert post_message(server, a, ch["id"], "not any more").status == 403
    # An admin removes b.
    assert api(server, "DELETE", f"{base}/{uid(b)}", admin).status == 204
    assert api(server, "GET", f"/api/conversations/{ch['id']}", b).status == 404
    assert api(server, "PATCH", f"{base}/{uid(b)}", admin, {"role": "admin"}).status == 404


def test_members_paged(server):
    admin = server.signup()
    ch = create_channel(server, admin)
    users = [server.signup() for _ in range(7)]
    r = api(server, "POST", f"/api/conversations/{ch['id']}/members", admin,
            {"user_ids": [uid(u) for u in users]})
    assert r.status == 200 and r.json()["conversation"]["member_count"] == 8, r
    seen, cursor, pages = [], None, 0
    while True:
        q = f"/api/conversations/{ch['id']}/members?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api(server, "GET", q, users[0]).json()
        assert len(page["members"]) <= 3
        seen += page["members"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    ids = [m["id"] for m in seen]
    assert ids == sorted(ids) and set(ids) == {uid(admin)} | {uid(u) for u in users}
    roles = {m["id"]: m["role"] for m in seen}
    assert roles[uid(admin)] == "admin" and roles[uid(users[3])] == "member"
    names = {m["id"]: m["name"] for m in seen}
    assert names[uid(users[3])] == users[3]["user"]["name"]
    # Groups page the same way.
    r = api(server, "POST", "/api/conversations", admin,
            {"type": "group", "name": "g", "participant_ids": [uid(u) for u in users[:2]]})
    gid = r.json()["conversation"]["id"]
    page = api(server, "GET", f"/api/conversations/{gid}/members?limit=2", admin).json()
    assert len(page["members"]) == 2 and page["next_cursor"]
    rest = api(server, "GET", f"/api/conversations/{gid}/members?cursor={page['next_cursor']}",
               admin).json()
    assert len(rest["members"]) == 1 and rest["next_cursor"] is None
    # Not a member: 404.
    outsider = server.signup()
    assert api(server, "GET", f"/api/conversations/{ch['id']}/members", outsider).status == 404


def test_unread_sync_and_live_delivery(server):
    admin, reader, outsider = server.signup(), server.signup(), server.signup()
    ch = create_channel(server, admin)
    assert join(server, reader, conversation_id=ch["id"]).status == 201

    async def main():
        r = await Client.connect(server, reader)
        o = await Client.connect(server, outsider)
        probes = await following(server, admin, ch["id"], r)
        assert post_message(server, reader, ch["id"], "x").status == 403
        await r.send({"type": "read", "conversation_id": ch["id"], "seq": len(probes)})
        await asyncio.sleep(0.3)
        for i in range(3):
            assert post_message(server, admin, ch["id"], f"post {i}").status == 201
            assert (await r.expect("message.new"))["message"]["text"] == f"post {i}"
        await o.expect_none("message.new")
        # Unread as in groups: the list and the view.
        conv = [c for c in api(server, "GET", "/api/conversations", reader).json()["conversations"]
                if c["id"] == ch["id"]][0]
        assert conv["unread_count"] == 3 and conv["role"] == "member" and conv["member_count"] == 2
        base = len(probes)
        assert api(server, "GET", "/api/conversations", admin).json()["conversations"][0][
            "unread_count"] == 0  # the admin read what it wrote
        await r.send({"type": "read", "conversation_id": ch["id"], "seq": base + 2})
        await asyncio.sleep(0.3)
        got = api(server, "GET", f"/api/conversations/{ch['id']}", reader).json()["conversation"]
        assert got["unread_count"] == 1
        # Delivery acknowledgements are accepted and kept nowhere.
        assert api(server, "POST", f"/api/conversations/{ch['id']}/delivered", reader,
                   {"seq": base + 3}).status == 204
        # Members search a channel's posts; outsiders do not find them.
        def found(session):
            r = api(server, "GET", "/api/search/messages?q=post", session)
            assert r.status == 200, r
            return [x["conversation_id"] for x in r.json()["results"]]
        deadline = asyncio.get_event_loop().time() + 5
        while ch["id"] not in found(reader) and asyncio.get_event_loop().time() < deadline:
            await asyncio.sleep(0.1)
        assert found(reader).count(ch["id"]) == 3
        assert ch["id"] not in found(outsider)
        # sync as in groups.
        await r.send({"type": "sync", "conversation_id": ch["id"], "after_seq": base + 1})
        res = await r.expect("sync.result")
        assert [m["seq"] for m in res["messages"]] == [base + 2, base + 3]
        # A late joiner gets live delivery from its join on.
        late = server.signup()
        lc = await Client.connect(server, late)
        assert join(server, late, conversation_id=ch["id"]).status == 201
        upd = await lc.expect("conversation.updated")
        assert upd["conversation"]["id"] == ch["id"] and upd["conversation"]["role"] == "member"
        await following(server, admin, ch["id"], lc, r)
        assert post_message(server, admin, ch["id"], "welcome").status == 201
        assert (await lc.expect("message.new"))["message"]["text"] == "welcome"
        assert (await r.expect("message.new"))["message"]["text"] == "welcome"
        # Promoted, the member hears of its new role.
        r2 = api(server, "PATCH", f"/api/conversations/{ch['id']}/members/{uid(late)}", admin,
                 {"role": "admin"})
        assert r2.status == 200
        assert (await lc.expect("conversation.updated"))["conversation"]["role"] == "admin"
        # Left: nothing more.
        assert api(server, "DELETE", f"/api/conversations/{ch['id']}/members/{uid(late)}",
                   late).status == 204
        gone = await lc.expect("conversation.updated")
        assert gone["conversation"]["id"] == ch["id"] and gone["conversation"]["role"] is None
        assert post_message(server, admin, ch["id"], "gone").status == 201
        assert (await r.expect("message.new"))["message"]["text"] == "gone"
        await lc.expect_none("message.new")
        for c in (r, o, lc):
            await c.close()
    run(main())


def test_public_directory(server):
    admin, user = server.signup(), server.signup()
    tag = uuid.uuid4().hex[:6]
    made = [create_channel(server, admin, f"dir {tag} {i}", public=True)["id"] for i in range(3)]
    hidden = create_channel(server, admin, f"hidden {tag}", public=False)["id"]
    seen, cursor = [], None
    while True:
        q = "/api/channels?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api(server, "GET", q, user).json()
        seen += page["channels"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    ids = [c["id"] for c in seen]
    assert set(made) <= set(ids) and hidden not in ids
    assert all("role" not in c and c["public"] for c in seen if c["id"] in made)
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))  # by id, newest first
    mine = [c for c in api(server, "GET", "/api/channels", admin).json()["channels"]
            if c["id"] in made]
    assert all(c["role"] == "admin" and "invite_token" in c for c in mine)


def test_bad_input(server):
    admin, user = server.signup(), server.signup()
    ch = create_channel(server, admin)
    bad = [
        ("POST", "/api/conversations", {"type": "channel"}, 400, "name"),
        ("POST", "/api/conversations", {"type": "channel", "name": "x", "public": "yes"}, 400, "public"),
        ("POST", "/api/conversations", {"type": "channel", "name": ""}, 400, "name"),
        ("POST", "/api/channels/join", {}, 400, "token"),
        ("POST", "/api/channels/join", {"token": 5}, 400, "token"),
        ("POST", "/api/channels/join", {"token": "a", "conversation_id": ch["id"]}, 400,
         "conversation_id"),
        ("POST", "/api/channels/join", {"token": "x" * 65}, 400, "token"),
        ("POST", "/api/channels/join", {"token": "nope"}, 404, None),
        ("GET", "/api/channels?limit=0", None, 400, "limit"),
        ("GET", f"/api/conversations/{ch['id']}/members?limit=500", None, 400, "limit"),
        ("GET", f"/api/conversations/{ch['id']}/members?cursor=", None, 400, "cursor"),
        ("PATCH", f"/api/conversations/{ch['id']}/members/{uid(admin)}", {"role": "owner"}, 400,
         "role"),
    ]
    for method, path, body, status, field in bad:
        r = api(server, method, path, admin, body)
        assert r.status == status, (method, path, body, r)
        err = r.json()["error"]
        if field:
            assert err["code"] == "validation_failed" and err["field"] == field, (path, err)
    # Not a channel: invite and roles are a 400.
    g = api(server, "POST", "/api/conversations", admin,
            {"type": "group", "name": "g", "participant_ids": [uid(user)]}).json()["conversation"]
    r = api(server, "POST", f"/api/conversations/{g['id']}/invite", admin)
    assert r.status == 400 and r.json()["error"]["field"] == "id"
    # Nothing changed: still one member, no token.
    got = api(server, "GET", f"/api/conversations/{ch['id']}", admin).json()["conversation"]
    assert got["member_count"] == 1 and got["invite_token"] is None and got["role"] == "admin"


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    env = {"PARLEY_REDIS_URL": redis_url}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_ch_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_channel_across_instances(pair):
    """Members connected to either instance get the admin's posts; a join made
    on one instance reaches the joiner's session on the other; a leave stops
    delivery there."""
    s1, s2 = pair
    admin, early, late = s1.signup(), s1.signup(), s1.signup()
    ch = create_channel(s1, admin)
    assert join(s1, early, conversation_id=ch["id"]).status == 201

    async def main():
        e2 = await Client.connect(s2, early)
        l2 = await Client.connect(s2, late)
        a1 = await Client.connect(s1, admin)
        probes = await following(s1, admin, ch["id"], e2, a1)
        await a1.send({"type": "message.send", "conversation_id": ch["id"], "text": "one",
                       "client_id": "c1"})
        assert (await a1.expect("message.ack"))["message"]["seq"] == len(probes) + 1
        assert (await e2.expect("message.new"))["message"]["text"] == "one"
        await l2.expect_none("message.new")
        # Joined on instance 1, followed on instance 2.
        assert join(s1, late, conversation_id=ch["id"]).status == 201
        await l2.expect("conversation.updated")
        probes += await following(s1, admin, ch["id"], l2, e2, a1)
        assert post_message(s1, admin, ch["id"], "two").status == 201
        assert (await l2.expect("message.new"))["message"]["text"] == "two"
        assert (await e2.expect("message.new"))["message"]["text"] == "two"
        # Edits reach members on the other instance too.
        mid = (await a1.expect("message.new"))["message"]["id"]
        assert api(s1, "PATCH", f"/api/messages/{mid}", admin, {"text": "two!"}).status == 200
        assert (await e2.expect("message.updated"))["message"]["text"] == "two!"
        # Left on instance 1: instance 2 stops delivering.
        assert api(s1, "DELETE", f"/api/conversations/{ch['id']}/members/{uid(early)}",
                   early).status == 204
        await e2.expect("conversation.updated")
        assert post_message(s2, admin, ch["id"], "three").status == 201
        assert (await l2.expect("message.new"))["message"]["text"] == "three"
        await e2.expect_none("message.new")
        # A non-admin on instance 2 is refused, and nothing is stored.
        await l2.send({"type": "message.send", "conversation_id": ch["id"], "text": "x",
                       "client_id": "n"})
        assert (await l2.expect("error"))["code"] == "forbidden"
        texts = [m["text"] for m in messages(s2, admin, ch["id"]) if m["text"] not in probes]
        assert texts == ["one", "two!", "three"]
        for c in (e2, l2, a1):
            await c.close()
    run(main())


def test_mute_a_channel(server):
    """A member mutes a channel as any conversation (PATCH .../settings); the view
    shows it to that member only."""
    admin, reader = server.signup(), server.signup()
    ch = create_channel(server, admin)
    assert join(server, reader, conversation_id=ch["id"]).status == 201
    r = api(server, "PATCH", f"/api/conversations/{ch['id']}/settings", reader,
            {"muted_until": "2999-01-01T00:00:00.000Z"})
    assert r.status == 200, r
    assert r.json()["conversation"]["muted_until"] == "2999-01-01T00:00:00.000Z"
    got = api(server, "GET", f"/api/conversations/{ch['id']}", reader).json()["conversation"]
    assert got["muted_until"] == "2999-01-01T00:00:00.000Z" and got["role"] == "member"
    listed = [c for c in api(server, "GET", "/api/conversations", reader).json()["conversations"]
              if c["id"] == ch["id"]][0]
    assert listed["muted_until"] == "2999-01-01T00:00:00.000Z"
    assert api(server, "GET", f"/api/conversations/{ch['id']}", admin).json()[
        "conversation"]["muted_until"] is None
    r = api(server, "PATCH", f"/api/conversations/{ch['id']}/settings", reader, {"muted_until": None})
    assert r.status == 200 and r.json()["conversation"]["muted_until"] is None
    outsider = server.signup()
    assert api(server, "PATCH", f"/api/conversations/{ch['id']}/settings", outsider,
               {"muted_until": None}).status == 404
