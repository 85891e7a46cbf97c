"""Avatars (issue 18, item 5): a user's avatar is an image they uploaded
(PUT /api/user/avatar); every logged-in user sees its avatar_url, a signed URL of
its thumbnail with a longer life, which downloads without a token; an avatar is
never swept as an unsent upload."""
import asyncio
import os
import re
import struct
import time
import uuid
import zlib

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, api, create_group, run


def png(width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    raw = (b"\x00" + b"\x40\x80\xc0" * width) * height
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def upload(server, session, data, name):
    r = api(server, "POST", f"/api/uploads?name={name}", session, raw_body=data,
            headers={"Content-Type": "application/octet-stream"})
    assert r.status == 201, r
    return r.json()["attachment"]


def set_avatar(server, session, attachment_id):
    return api(server, "PUT", "/api/user/avatar", session, {"attachment_id": attachment_id})


def test_avatar_is_an_own_image_seen_by_everyone(start_server):
    # An unsent upload lives 5 s here: more than the steps to its being made the avatar
    # take under ASan on a busy machine.
    server = start_server(env={"PARLEY_UPLOAD_UNSENT_TTL_S": "5"})
    a, b = server.signup(), server.signup()
    uid = a["user"]["id"]
    img = upload(server, a, png(600, 400), "me.png")
    r = set_avatar(server, a, img["id"])
    assert r.status == 200, r
    url = r.json()["user"]["avatar_url"]
    assert re.fullmatch(rf"/api/attachments/{img['id']}/thumbnail\?a={uid}&exp=\d+&sig=[0-9a-f]{{32}}",
                        url), url
    # A longer life than a message's URLs: a day at least.
    exp = int(re.search(r"exp=(\d+)", url).group(1))
    assert exp - time.time() > 86000
    # Anyone logged in sees it, and the URL downloads without a token.
    for path in (f"/api/users/{uid}", "/api/auth/me"):
        who = b if "users" in path else a
        got = api(server, "GET", path, who).json()["user"]["avatar_url"]
        assert got == url, (path, got)
    r = server.request("GET", url)
    assert r.status == 200 and r.body[:3] == b"\xff\xd8\xff", r
    assert r.header("Content-Type") == "image/jpeg"
    # Altered, it is nothing.
    assert server.request("GET", url.replace(f"a={uid}", f"a={b['user']['id']}")).status == 404
    # Not swept as an unsent upload (the sweep runs every 1.25 s here, and the upload is
    # past its life).
    time.sleep(6.5)
    assert server.request("GET", url).status == 200
    # null removes it.
    r = set_avatar(server, a, None)
    assert r.status == 200 and r.json()["user"]["avatar_url"] is None, r
    assert api(server, "GET", f"/api/users/{uid}", b).json()["user"]["avatar_url"] is None


def test_avatar_must_be_an_image_of_ones_own(server):
    a, b = server.signup(), server.signup()
    theirs = upload(server, b, png(10, 10), "b.png")
    doc = upload(server, a, PDF, "doc.pdf")
    for att in (theirs["id"], doc["id"], "0" * 24):
        r = set_avatar(server, a, att)
        assert r.status == 404 and r.json()["error"]["field"] == "attachment_id", (att, r)
    for bad in ("nope", 12, ["x"], {}):
        r = set_avatar(server, a, bad)
        assert r.status == 400 and r.json()["error"]["field"] == "attachment_id", (bad, r)
    r = api(server, "PUT", "/api/user/avatar", a, {})
    assert r.status == 400
    assert api(server, "GET", "/api/auth/me", a).json()["user"]["avatar_url"] is None


def test_group_avatar_set_by_an_admin_seen_by_members(server):
    from messaging_helpers import create_group, create_direct
    a, b, c = server.signup(), server.signup(), server.signup()
    group = create_group(server, a, [b])
    gid = group["id"]
    img = upload(server, a, png(300, 300), "team.png")
    r = api(server, "PUT", f"/api/conversations/{gid}/avatar", a, {"attachment_id": img["id"]})
    assert r.status == 200, r
    url = r.json()["conversation"]["avatar_url"]
    assert re.fullmatch(rf"/api/attachments/{img['id']}/thumbnail\?a={gid}&exp=\d+&sig=[0-9a-f]{{32}}",
                        url), url
    assert "avatar_id" not in r.json()["conversation"]
    # Members see it in the conversation and in their list; it downloads.
    got = api(server, "GET", f"/api/conversations/{gid}", b).json()["conversation"]
    assert got["avatar_url"] == url
    listed = api(server, "GET", "/api/conversations", b).json()["conversations"]
    assert [x.get("avatar_url") for x in listed if x["id"] == gid] == [url]
    assert server.request("GET", url).status == 200
    # A member who is not an admin may not; an outsider finds nothing; not a group: 403.
    own = upload(server, b, png(20, 20), "b.png")
    r = api(server, "PUT", f"/api/conversations/{gid}/avatar", b, {"attachment_id": own["id"]})
    assert r.status == 403, r
    r = api(server, "PUT", f"/api/conversations/{gid}/avatar", c, {"attachment_id": None})
    assert r.status == 404, r
    direct = create_direct(server, a, b)["id"]
    r = api(server, "PUT", f"/api/conversations/{direct}/avatar", a, {"attachment_id": img["id"]})
    assert r.status == 403, r
    # Someone else's image, or a file that is not an image: 404 naming the field.
    doc = upload(server, a, PDF, "x.pdf")
    for att in (own["id"], doc["id"]):
        r = api(server, "PUT", f"/api/conversations/{gid}/avatar", a, {"attachment_id": att})
        assert r.status == 404 and r.json()["error"]["field"] == "attachment_id", r
    r = api(server, "PUT", f"/api/conversations/{gid}/avatar", a, {"attachment_id": 5})
    assert r.status == 400, r
    r = api(server, "PUT", f"/api/conversations/{gid}/avatar", a, {"attachment_id": None})
    assert r.status == 200 and r.json()["conversation"]["avatar_url"] is None, r
    # Without an avatar, every view says null: the list's text writer, a get,
    # a direct conversation.
    listed = api(server, "GET", "/api/conversations", b).json()["conversations"]
    assert {x["id"]: x["avatar_url"] for x in listed} == {gid: None, direct: None}
    for cid in (gid, direct):
        got = api(server, "GET", f"/api/conversations/{cid}", a).json()["conversation"]
        assert got["avatar_url"] is None and "avatar_id" not in got, got


def _avatars(entries):
    return {e["id"]: e["avatar_url"] for e in entries}


def test_members_carry_their_avatars_in_every_list(server):
    """Participants in conversation views (get and the list) and members' pages
    carry each user's avatar_url, so a client draws them without a fetch per
    member; user search too."""
    from messaging_helpers import create_group
    a, b, c = server.signup(), server.signup(), server.signup()
    ua, ub, uc = (x["user"]["id"] for x in (a, b, c))
    gid = create_group(server, a, [b, c])["id"]
    url_a = set_avatar(server, a, upload(server, a, png(64, 64), "a.png")["id"]).json()["user"]["avatar_url"]
    url_b = set_avatar(server, b, upload(server, b, png(64, 64), "b.png")["id"]).json()["user"]["avatar_url"]
    want = {ua: url_a, ub: url_b, uc: None}
    got = api(server, "GET", f"/api/conversations/{gid}", c).json()["conversation"]
    assert _avatars(got["participants"]) == want
    assert all("avatar_id" not in p for p in got["participants"])
    listed = api(server, "GET", "/api/conversations", c).json()["conversations"]
    assert _avatars([x for x in listed if x["id"] == gid][0]["participants"]) == want
    r = api(server, "GET", f"/api/conversations/{gid}/members?limit=2", c)
    assert r.status == 200, r
    page = r.json()
    r = api(server, "GET", f"/api/conversations/{gid}/members?cursor={page['next_cursor']}", c)
    members = page["members"] + r.json()["members"]
    assert _avatars(members) == want and all("avatar_id" not in m for m in members)
    # The URLs download without a token.
    assert server.request("GET", got["participants"][0]["avatar_url"] or url_a).status == 200
    from urllib.parse import quote
    found = api(server, "GET", f"/api/users/search?q={quote(a['user']['name'])}", b).json()["users"]
    assert _avatars(found)[ua] == url_a
    # A channel's members' pages too (they live apart from participants).
    ch = api(server, "POST", "/api/conversations", a, {"type": "channel", "name": "Pics", "public": True})
    assert ch.status == 201, ch
    cid = ch.json()["conversation"]["id"]
    assert ch.json()["conversation"]["avatar_url"] is None
    assert api(server, "POST", "/api/channels/join", b, {"conversation_id": cid}).status == 201
    r = api(server, "GET", f"/api/conversations/{cid}/members", a)
    assert r.status == 200, r
    assert _avatars(r.json()["members"]) == {ua: url_a, ub: url_b}
    # Removed, every list says null again.
    set_avatar(server, a, None)
    got = api(server, "GET", f"/api/conversations/{gid}", c).json()["conversation"]
    assert _avatars(got["participants"])[ua] is None


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    """Two instances on one store and one Redis."""
    env = {"PARLEY_REDIS_URL": redis_url}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_avatars_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_avatar_and_name_changes_reach_other_sessions_on_any_instance(pair):
    """user.updated reaches the user's other sessions and the users who share a
    conversation with them, on either instance; a stranger hears nothing."""
    s1, s2 = pair
    a, b, stranger = s1.signup(), s1.signup(), s1.signup()
    ua = a["user"]["id"]
    create_group(s1, a, [b])
    img = upload(s1, a, png(32, 32), "a.png")

    async def main():
        b2 = await Client.connect(s2, b)
        a2 = await Client.connect(s2, a)
        x1 = await Client.connect(s1, stranger)
        await asyncio.sleep(0.3)  # the fresh instance's bus subscription (as test_presence)
        r = set_avatar(s1, a, img["id"])
        url = r.json()["user"]["avatar_url"]
        for who in (b2, a2):
            f = await who.expect("user.updated")
            assert f["user"] == {"id": ua, "name": a["user"]["name"], "avatar_url": url}, f
        r = api(s1, "PATCH", "/api/user/profile", a, {"name": "Renamed"})
        assert r.status == 200, r
        f = await b2.expect("user.updated")
        assert f["user"]["name"] == "Renamed" and f["user"]["avatar_url"] == url
        set_avatar(s1, a, None)
        f = await b2.expect("user.updated")
        assert f["user"]["avatar_url"] is None
        await a2.expect("user.updated")
        await a2.expect("user.updated")
        # The stranger shares no conversation: the others' frames have come, its own none.
        with pytest.raises(AssertionError):
            await x1.expect("user.updated", timeout=0.5)
        for cl in (b2, a2, x1):
            await cl.close()

    run(main())
