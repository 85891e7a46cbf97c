"""API.md's Users calls against the real parleyd: search, lookup by id, profile
updates with strict validation, and account deletion revoking every token, on
every instance and across restarts (the store keeps the revocation)."""
import asyncio
import json
import os
import time
import uuid

import pytest
import websockets

from conftest import mongo_uri
from test_auth import FAST, INJECTIONS, USER_KEYS, assert_error, new_email

PUBLIC_KEYS = USER_KEYS - {"email", "email_verified"}


def assert_refused_from_start(server, token, path="/api/conversations", timeout=20):
    """From a (re)started server's first answer on, the token is refused: 503
    while the saved revocations load (never 200), then 401."""
    deadline = time.time() + timeout
    while True:
        r = server.request("GET", path, token=token)
        assert r.status in (401, 503), r
        if r.status == 401:
            assert_error(r, 401, "unauthorized")
            return
        assert r.header("Retry-After"), r
        assert time.time() < deadline, "revocations never loaded"
        time.sleep(0.05)


@pytest.fixture
def fast(start_server):
    return start_server(env=FAST)


def test_search_by_name_prefix_and_exact_email(fast):
    tag = uuid.uuid4().hex[:6]
    me = fast.signup(name=f"Searcher {tag}")
    alice = fast.signup(name=f"Zed{tag} Alice")
    bob = fast.signup(name=f"zed{tag} Bob")
    fast.signup(name=f"Other {tag}")
    r = fast.request("GET", f"/api/users/search?q=ZED{tag}", token=me["access_token"])
    assert r.status == 200, r
    users = r.json()["users"]
    assert {u["id"] for u in users} == {alice["user"]["id"], bob["user"]["id"]}
    for u in users:
        assert set(u) == PUBLIC_KEYS, u  # never another user's email
    email = bob["user"]["email"]
    r = fast.request("GET", "/api/users/search?q=" + email.upper().replace("@", "%40"),
                     token=me["access_token"])
    assert [u["id"] for u in r.json()["users"]] == [bob["user"]["id"]]
    # A prefix of an email is not a match: addresses cannot be enumerated.
    r = fast.request("GET", "/api/users/search?q=" + email[:6], token=me["access_token"])
    assert bob["user"]["id"] not in [u["id"] for u in r.json()["users"]]


def test_search_returns_at_most_20(fast):
    tag = uuid.uuid4().hex[:6]
    me = None
    for i in range(23):
        s = fast.signup(name=f"Many{tag} {i:02d}")
        me = me or s
    r = fast.request("GET", f"/api/users/search?q=many{tag}", token=me["access_token"])
    assert r.status == 200, r
    assert len(r.json()["users"]) == 20


def test_search_input(fast):
    me = fast.signup()
    assert_error(fast.request("GET", "/api/users/search?q=x"), 401, "unauthorized")
    assert_error(fast.request("GET", "/api/users/search", token=me["access_token"]), 400,
                 "validation_failed", "q")
    r = fast.request("GET", "/api/users/search?q=%25", token=me["access_token"])
    assert r.status == 200 and r.json()["users"] == [], r  # a LIKE wildcard matches nothing
    r = fast.request("GET", "/api/users/search?q=_", token=me["access_token"])
    assert r.status == 200 and r.json()["users"] == [], r
    r = fast.request("GET", "/api/users/search?q=" + "a" * 300, token=me["access_token"])
    assert_error(r, 400, "validation_failed", "q")
    r = fast.request("GET", "/api/users/search?q=%FF", token=me["access_token"])
    assert r.status == 400, r


def test_get_user_by_id(fast):
    me = fast.signup()
    other = fast.signup(name="Someone Else")
    r = fast.request("GET", f"/api/users/{other['user']['id']}", token=me["access_token"])
    assert r.status == 200, r
    user = r.json()["user"]
    assert set(user) == PUBLIC_KEYS
    assert user["name"] == "Someone Else"
    # One's own user carries the email.
    r = fast.request("GET", f"/api/users/{me['user']['id']}", token=me["access_token"])
    assert r.json()["user"]["email"] == me["user"]["email"]
    for bad in ("ffffffffffffffffffffffff", "nope", "%7B%22%24gt%22%3A%22%22%7D", "0" * 25):
        assert_error(fast.request("GET", f"/api/users/{bad}", token=me["access_token"]), 404,
                     "not_found")
    assert_error(fast.request("GET", f"/api/users/{other['user']['id']}"), 401, "unauthorized")


def test_update_profile(fast):
    s = fast.signup()
    t = s["access_token"]
    r = fast.request("PATCH", "/api/user/profile",
                     {"name": "  New Name ", "avatar_url": "https://cdn.example.com/a.png",
                      "status": "dnd"}, token=t)
    assert r.status == 200, r
    user = r.json()["user"]
    assert set(user) == USER_KEYS
    assert (user["name"], user["avatar_url"], user["status"]) == (
        "New Name", "https://cdn.example.com/a.png", "dnd")
    r = fast.request("PATCH", "/api/user/profile", {"avatar_url": None, "status": "away"}, token=t)
    assert r.status == 200, r
    assert r.json()["user"]["avatar_url"] is None
    assert r.json()["user"]["name"] == "New Name"
    me = fast.request("GET", "/api/auth/me", token=t).json()["user"]
    assert (me["name"], me["avatar_url"], me["status"]) == ("New Name", None, "away")
    # An empty patch changes nothing.
    r = fast.request("PATCH", "/api/user/profile", {}, token=t)
    assert r.status == 200 and r.json()["user"] == me, r


@pytest.mark.parametrize("field,value", [
    ("name", ""), ("name", "n" * 101), ("name", "  "),
    ("avatar_url", "javascript:alert(1)"), ("avatar_url", "ftp://x.example/a.png"),
    ("avatar_url", "https://"), ("avatar_url", "https://x.example/" + "a" * 2100),
    ("avatar_url", "https://x.example/a b.png"),
    ("status", "busy"), ("status", ""), ("status", "ONLINE"), ("status", "offline"),
])
def test_update_profile_rejects_bad_values(fast, field, value):
    s = fast.signup(name="Before")
    r = fast.request("PATCH", "/api/user/profile", {field: value}, token=s["access_token"])
    assert_error(r, 400, "validation_failed", field)
    me = fast.request("GET", "/api/auth/me", token=s["access_token"]).json()["user"]
    assert me["name"] == "Before"


@pytest.mark.parametrize("field", ["name", "avatar_url", "status"])
def test_update_profile_rejects_injected_types(fast, field):
    s = fast.signup()
    for value in INJECTIONS:
        if value is None and field != "status":
            continue  # null is "not given" for name, "remove" for avatar_url
        r = fast.request("PATCH", "/api/user/profile", {field: value}, token=s["access_token"])
        assert_error(r, 400, "validation_failed", field)
    assert_error(fast.request("PATCH", "/api/user/profile", {"name": "x"}), 401, "unauthorized")


def test_delete_user_revokes_everything(fast):
    s = fast.signup(name="Leaving Soon", password="password123")
    other = fast.signup()
    t = s["access_token"]
    for _ in range(3):  # remembered as verified (the token cache) before the deletion
        assert fast.request("GET", "/api/conversations", token=t).status == 200
    r = fast.request("DELETE", "/api/user", token=t)
    assert r.status == 204, r
    assert r.body == b""
    # The access token is dead everywhere, not only at /me.
    assert_error(fast.request("GET", "/api/conversations", token=t), 401, "unauthorized")
    assert_error(fast.request("GET", "/api/auth/me", token=t), 401, "unauthorized")
    assert_error(fast.request("PATCH", "/api/user/profile", {"name": "x"}, token=t), 401,
                 "unauthorized")
    assert_error(fast.request("DELETE", "/api/user", token=t), 401, "unauthorized")
    # So are the refresh token and the password.
    assert_error(fast.request("POST", "/api/auth/refresh", {"refresh_token": s["refresh_token"]}),
                 401, "unauthorized")
    r = fast.request("POST", "/api/auth/login",
                     {"email": s["user"]["email"], "password": "password123"})
    assert_error(r, 401, "invalid_credentials")
    # The profile is anonymised and no longer found by search; the email is free.
    r = fast.request("GET", f"/api/users/{s['user']['id']}", token=other["access_token"])
    if r.status == 200:
        assert r.json()["user"]["name"] != "Leaving Soon"
    else:
        assert r.status == 404, r
    r = fast.request("GET", "/api/users/search?q=Leaving", token=other["access_token"])
    assert r.json()["users"] == []
    r = fast.request("POST", "/api/auth/signup",
                     {"email": s["user"]["email"], "password": "password123", "name": "New"})
    assert r.status == 201, r
    assert r.json()["user"]["id"] != s["user"]["id"]


def test_routes_need_a_token(fast):
    for method, path in (("GET", "/api/users/search?q=a"), ("GET", "/api/users/" + "a" * 24),
                         ("PATCH", "/api/user/profile"), ("DELETE", "/api/user")):
        r = fast.request(method, path, body={} if method == "PATCH" else None)
        assert_error(r, 401, "unauthorized")


def test_delete_user_reaches_other_instances(start_server, redis_url, tmp_path):
    """Two instances on one store and a Redis bus: deleting an account on one
    closes its sessions and refuses its tokens on the other at once."""
    env = dict(FAST, PARLEY_REDIS_URL=redis_url)
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_{uuid.uuid4().hex[:12]}")
    a = start_server(env=env, data_dir=str(tmp_path))
    b = start_server(env=env, data_dir=str(tmp_path))
    s = a.signup()
    t = s["access_token"]
    for _ in range(3):  # b remembers the verified token (its token cache)
        assert b.request("GET", "/api/conversations", token=t).status == 200
    assert b.request("GET", "/api/users/search?q=x", token=t).status == 200

    async def go():
        ws = await websockets.connect(f"{b.ws_url}?token={t}")
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ready"
        r = await asyncio.get_running_loop().run_in_executor(
            None, lambda: a.request("DELETE", "/api/user", token=t))
        assert r.status == 204, r
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        assert ws.close_code == 4003 and "deleted" in ws.close_reason

    asyncio.run(go())
    # A route that never looks the user up still refuses the token on b.
    assert_error(b.request("GET", "/api/users/search?q=x", token=t), 401, "unauthorized")
    assert_error(b.request("GET", "/api/conversations", token=t), 401, "unauthorized")


def same_store_env(extra=None):
    """The env of servers that share one store (and, for SQLite, one data dir)."""
    env = dict(FAST, **(extra or {}))
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_{uuid.uuid4().hex[:12]}")
    return env


def ws_refused(server, token):
    async def go():
        async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed:
                pass
            return ws.close_code

    return asyncio.run(go())


def test_deleted_users_token_stays_refused_after_restarts(start_server, tmp_path):
    """Issue 14 item 4: revocations used to live in memory only, so a restart
    accepted a deleted user's token again until it expired."""
    env = same_store_env()
    data = str(tmp_path)
    server = start_server(env=env, data_dir=data)
    s, other = server.signup(), server.signup()
    t = s["access_token"]
    assert server.request("GET", "/api/conversations", token=t).status == 200
    assert server.request("DELETE", "/api/user", token=t).status == 204
    for _ in range(2):
        port = server.port
        server.stop()
        server = start_server(env=env, data_dir=data, port=port, wait=False)
        server.wait_ready()
        assert_refused_from_start(server, t)
        for path in ("/api/auth/me", "/api/users/search?q=x"):
            assert_error(server.request("GET", path, token=t), 401, "unauthorized")
        r = server.request("POST", "/api/conversations",
                           {"type": "direct", "participant_ids": [other["user"]["id"]]}, token=t)
        assert_error(r, 401, "unauthorized")
        assert ws_refused(server, t) == 1008
        # Everyone else's tokens still work.
        assert server.request("GET", "/api/conversations", token=other["access_token"]).status == 200
    assert server.request("GET", "/readyz").status == 200


def test_deletion_on_one_instance_refused_on_the_other_after_its_restart(start_server, redis_url,
                                                                        tmp_path):
    env = same_store_env({"PARLEY_REDIS_URL": redis_url})
    data = str(tmp_path)
    a = start_server(env=env, data_dir=data)
    b = start_server(env=env, data_dir=data)
    s = a.signup()
    t = s["access_token"]
    assert b.request("GET", "/api/conversations", token=t).status == 200
    assert a.request("DELETE", "/api/user", token=t).status == 204
    # B heard it on the bus.
    deadline = time.time() + 10
    while b.request("GET", "/api/conversations", token=t).status == 200:
        assert time.time() < deadline, "B never refused the deleted user's token"
        time.sleep(0.05)
    assert_error(b.request("GET", "/api/conversations", token=t), 401, "unauthorized")
    # B restarts (and then A): each reads it from the store.
    for i in (1, 0):
        old = (a, b)[i]
        old.stop()
        new = start_server(env=env, data_dir=data, port=old.port)
        assert_refused_from_start(new, t)
        assert ws_refused(new, t) == 1008
        if i == 1:
            b = new
        else:
            a = new
