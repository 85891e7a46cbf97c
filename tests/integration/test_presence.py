"""Presence as a client sees it (API.md, Presence): the presence.snapshot right
after ready, GET /api/presence for the rest, the statuses a user chooses with
PATCH /api/user/profile (invisible shows as offline), last_seen stored when the
last session closes, user views that tell a connected user from an absent one,
and all of it across two instances on Redis, including one killed with SIGKILL
whose users go offline within the documented bound."""
import asyncio
import os
import signal
import time
import uuid

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, api, create_direct, create_group, run, uid

# API.md: an instance that dies sends its users offline within 12 seconds.
DEAD_INSTANCE_BOUND_S = 12


def assert_error(r, status, code, field=None):
    assert r.status == status, r
    err = r.json()["error"]
    assert err["code"] == code, err
    if field is not None:
        assert err.get("field") == field, err


def set_status(server, session, status):
    r = api(server, "PATCH", "/api/user/profile", session, {"status": status})
    assert r.status == 200, r
    assert r.json()["user"]["status"] == status
    return r.json()["user"]


def presence_of(server, viewer, *users):
    ids = ",".join(uid(u) for u in users)
    r = api(server, "GET", f"/api/presence?user_ids={ids}", viewer)
    assert r.status == 200, r
    return {e["user_id"]: e for e in r.json()["users"]}


def user_view(server, viewer, user):
    r = api(server, "GET", f"/api/users/{uid(user)}", viewer)
    assert r.status == 200, r
    return r.json()["user"]


async def wait_for(check, timeout=5.0):
    """Polls check() until it returns a true value; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


def test_snapshot_after_ready_then_rest_for_the_rest(server):
    a, b, c, d = (server.signup() for _ in range(4))
    create_direct(server, a, b)
    create_group(server, a, [c, d])
    stranger = server.signup()
    set_status(server, b, "away")
    set_status(server, d, "invisible")

    async def main():
        b1 = await Client.connect(server, b)
        d1 = await Client.connect(server, d)
        a1 = await Client.connect(server, a)
        snap = await a1.expect("presence.snapshot")
        got = {e["user_id"]: e for e in snap["users"]}
        assert set(got) == {uid(b), uid(c), uid(d)}  # never the stranger, never a itself
        assert got[uid(b)]["status"] == "away"
        assert got[uid(c)]["status"] == "offline"  # never connected
        assert got[uid(d)]["status"] == "offline"  # invisible
        assert all(set(e) == {"user_id", "status", "last_seen"} for e in snap["users"])
        assert got[uid(c)]["last_seen"] is None

        # The same through REST, for any user, strangers included.
        rest = presence_of(server, a, b, c, d, stranger)
        assert {k: v["status"] for k, v in rest.items()} == {
            uid(b): "away", uid(c): "offline", uid(d): "offline", uid(stranger): "offline"}
        # User views: connected right now is not offline; the owner sees the choice.
        assert user_view(server, a, b)["status"] == "away"
        assert user_view(server, a, d)["status"] == "offline"
        assert user_view(server, d, d)["status"] == "invisible"
        assert user_view(server, a, c)["status"] == "offline"

        before = time.time()
        await b1.close()
        f = await a1.expect("presence", user_id=uid(b), status="offline")
        assert f["last_seen"]
        # last_seen is stored: REST and the user view show it.
        entry = await wait_for(lambda: presence_of(server, a, b)[uid(b)]["last_seen"] and
                               presence_of(server, a, b)[uid(b)])
        assert entry["status"] == "offline"
        assert entry["last_seen"] == f["last_seen"]
        seen = time.mktime(time.strptime(entry["last_seen"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert before - 2 <= seen <= time.time() + 2
        view = user_view(server, a, b)
        assert (view["status"], view["last_seen"]) == ("offline", f["last_seen"])
        await d1.close()
        await a1.close()

    run(main())


def test_status_changes_reach_contacts(server):
    a, b = server.signup(), server.signup()
    create_direct(server, a, b)

    async def main():
        a1 = await Client.connect(server, a)
        b1 = await Client.connect(server, b)
        assert (await a1.expect("presence", user_id=uid(b)))["status"] == "online"
        for status, shown in (("dnd", "dnd"), ("away", "away"), ("invisible", "offline"),
                              ("online", "online")):
            set_status(server, b, status)
            assert (await a1.expect("presence", user_id=uid(b)))["status"] == shown
            assert presence_of(server, a, b)[uid(b)]["status"] == shown
            assert user_view(server, a, b)["status"] == shown
        # A status not among the four settable ones is refused and changes nothing.
        for bad in ("offline", "busy", "", "ONLINE", 5, None, ["away"]):
            r = api(server, "PATCH", "/api/user/profile", b, {"status": bad})
            assert_error(r, 400, "validation_failed", "status")
        await a1.expect_none("presence", user_id=uid(b))
        assert user_view(server, b, b)["status"] == "online"
        # Invisible from the first session: nobody hears it come online.
        await b1.close()
        left = await a1.expect("presence", user_id=uid(b), status="offline")
        set_status(server, b, "invisible")
        b2 = await Client.connect(server, b)
        await a1.expect_none("presence", user_id=uid(b))
        assert presence_of(server, a, b)[uid(b)]["status"] == "offline"
        # The invisible user's own snapshot works as anyone's.
        snap = await b2.expect("presence.snapshot")
        assert [e["status"] for e in snap["users"] if e["user_id"] == uid(a)] == ["online"]
        # Leaving while invisible tells nobody anything: last_seen stays as it was.
        await b2.close()
        await a1.expect_none("presence", user_id=uid(b), wait=1.0)
        assert presence_of(server, a, b)[uid(b)] == {
            "user_id": uid(b), "status": "offline", "last_seen": left["last_seen"]}
        await a1.close()

    run(main())


def test_bad_presence_queries_get_400(server):
    a = server.signup()
    ok_id = uid(a)

    def get(query):
        return api(server, "GET", f"/api/presence{query}", a)

    assert_error(get(""), 400, "validation_failed", "user_ids")
    for bad in ("", ",", f"{ok_id},", "nope", ok_id.upper(), ok_id[:-1], ok_id + "0",
                f"{ok_id},,{ok_id}", "%7B%22%24gt%22%3A%22%22%7D", f"{ok_id}%00"):
        assert_error(get(f"?user_ids={bad}"), 400, "validation_failed", "user_ids")
    ids = [f"{i:024x}" for i in range(1001)]
    assert_error(get("?user_ids=" + ",".join(ids)), 400, "validation_failed", "user_ids")
    # Exactly 1,000 is fine; ids of nobody are left out.
    r = get("?user_ids=" + ",".join(ids[:999] + [ok_id]))
    assert r.status == 200, r
    assert r.json()["users"] == [{"user_id": ok_id, "status": "offline", "last_seen": None}]
    # Repeats count once.
    r = get(f"?user_ids={ok_id},{ok_id}")
    assert r.status == 200 and len(r.json()["users"]) == 1, r
    assert_error(server.request("GET", f"/api/presence?user_ids={ok_id}"), 401, "unauthorized")


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    """Two instances on one store and one Redis."""
    env = {"PARLEY_REDIS_URL": redis_url}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_presence_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_presence_across_instances(pair):
    s1, s2 = pair
    a, b = s1.signup(), s1.signup()
    create_direct(s1, a, b)

    async def main():
        b2 = await Client.connect(s2, b)
        await asyncio.sleep(0.3)  # the fresh instance's bus subscription
        set_status(s1, a, "dnd")
        a1 = await Client.connect(s1, a)
        assert (await b2.expect("presence", user_id=uid(a)))["status"] == "dnd"
        # The instance that holds none of a's sessions knows a is connected.
        assert presence_of(s2, b, a)[uid(a)]["status"] == "dnd"
        assert user_view(s2, b, a)["status"] == "dnd"
        # A change made through the other instance reaches b.
        set_status(s2, a, "away")
        assert (await b2.expect("presence", user_id=uid(a)))["status"] == "away"
        # A snapshot on s2 sees a, connected on s1.
        b3 = await Client.connect(s2, b)
        snap = await b3.expect("presence.snapshot")
        assert {e["user_id"]: e["status"] for e in snap["users"]} == {uid(a): "away"}
        await a1.close()
        f = await b2.expect("presence", user_id=uid(a), status="offline")
        entry = await wait_for(lambda: presence_of(s2, b, a)[uid(a)]["last_seen"] and
                               presence_of(s2, b, a)[uid(a)])
        assert entry == {"user_id": uid(a), "status": "offline", "last_seen": f["last_seen"]}
        await b3.close()
        await b2.close()

    run(main())


def test_killed_instance_sends_its_users_offline_within_the_bound(pair):
    s1, s2 = pair
    a, b, c = s1.signup(), s1.signup(), s1.signup()
    create_direct(s1, a, b)
    create_direct(s1, c, b)
    set_status(s1, c, "away")

    async def main():
        b2 = await Client.connect(s2, b)
        await asyncio.sleep(0.3)
        a1 = await Client.connect(s1, a)
        c1 = await Client.connect(s1, c)
        await b2.expect("presence", user_id=uid(a), status="online")
        await b2.expect("presence", user_id=uid(c), status="away")
        assert user_view(s2, b, a)["status"] == "online"
        killed = time.monotonic()
        s1.proc.send_signal(signal.SIGKILL)
        s1.proc.wait()
        # Users of one dead instance go offline together: one presence.batch,
        # or single frames when their leases ran out a check apart.
        gone = {}
        while len(gone) < 2:
            f = await b2.expect_any(("presence", "presence.batch"), timeout=DEAD_INSTANCE_BOUND_S + 5)
            for e in f["users"] if f["type"] == "presence.batch" else [f]:
                gone[e["user_id"]] = e
        took = time.monotonic() - killed
        assert {k: v["status"] for k, v in gone.items()} == {uid(a): "offline", uid(c): "offline"}
        assert took <= DEAD_INSTANCE_BOUND_S, f"offline after {took:.1f}s"
        assert all(e["last_seen"] for e in gone.values())
        # The survivor's answers agree, and last_seen was stored for both.
        got = await wait_for(lambda: all(e["last_seen"] for e in presence_of(s2, b, a, c).values())
                             and presence_of(s2, b, a, c))
        assert {k: v["status"] for k, v in got.items()} == {uid(a): "offline", uid(c): "offline"}
        assert user_view(s2, b, a)["status"] == "offline"
        # Back on the survivor: online again, with the status chosen before.
        c2 = await Client.connect(s2, c)
        assert (await b2.expect("presence", user_id=uid(c)))["status"] == "away"
        await c2.close()
        await b2.close()

    run(main(), timeout=90)
