"""WebSocket authentication and the protocol layer against the real parleyd:
?token= and auth frames, bad, forged and late tokens, error frames that keep
the connection open, the frame rate, renewal of the token on the open session,
and sessions ended by expiry (4001), logout and account deletion (4003), on one
instance and across two on Redis."""
import asyncio
import base64
import json
import os
import time
import uuid
from datetime import datetime

import pytest
import websockets

from conftest import mongo_uri
from test_auth import FAST, assert_error, claims, forge
from test_users import assert_refused_from_start

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_ready(ws):
    """The ready frame, then the presence.snapshot that follows it (API.md,
    Presence); returns ready. The frames these tests wait for come after both."""
    ready = await recv_json(ws)
    assert ready["type"] == "ready", ready
    snapshot = await recv_json(ws)
    assert snapshot["type"] == "presence.snapshot", snapshot
    return ready


async def closed_with(ws, timeout=5):
    """Waits for the server's close; returns (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason


def test_auth_by_query(server):
    s = server.signup()

    async def go():
        async with websockets.connect(f"{server.ws_url}?token={s['access_token']}") as ws:
            ready = await recv_ready(ws)
            assert ready["type"] == "ready"
            assert ready["user_id"] == s["user"]["id"]
            assert isinstance(ready["session_id"], str) and ready["session_id"]
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv_json(ws) == {"type": "pong"}

    run(go())


def test_auth_by_first_frame(server):
    s = server.signup()

    async def go():
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": s["access_token"]}))
            ready = await recv_ready(ws)
            assert ready["type"] == "ready" and ready["user_id"] == s["user"]["id"]
            # A second auth frame renews the session (test_renewal_* below).
            await ws.send(json.dumps({"type": "auth", "token": s["access_token"]}))
            assert (await recv_json(ws))["type"] == "auth.ok"
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv_json(ws) == {"type": "pong"}

    run(go())


def test_two_sessions_get_distinct_ids(server):
    s = server.signup()

    async def go():
        url = f"{server.ws_url}?token={s['access_token']}"
        async with websockets.connect(url) as a, websockets.connect(url) as b:
            ra, rb = await recv_json(a), await recv_json(b)
            assert ra["session_id"] != rb["session_id"]

    run(go())


def bad_tokens(uid):
    now = int(time.time())
    return {
        "garbage": "garbage",
        "alg none": forge({"alg": "none"}, claims(uid), signature=""),
        "RS256": forge({"alg": "RS256"}, claims(uid)),
        "other key": forge({"alg": "HS256"}, claims(uid), key=b"another-key-entirely-0123"),
        "expired": forge({"alg": "HS256"}, claims(uid, iat=now - 2000, exp=now - 1)),
        "wrong iss": forge({"alg": "HS256"}, claims(uid, iss="nope")),
    }


def test_bad_tokens_by_query_close_1008(server):
    s = server.signup()

    async def go():
        for name, token in bad_tokens(s["user"]["id"]).items():
            async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
                code, reason = await closed_with(ws)
                assert code == 1008, name
                assert reason, name
        async with websockets.connect(f"{server.ws_url}?token=") as ws:
            assert (await closed_with(ws))[0] == 1008

    run(go())


def test_bad_tokens_by_frame_close_1008(server):
    s = server.signup()

    async def go():
        cases = list(bad_tokens(s["user"]["id"]).values()) + [None, 42, {"$ne": None}]
        for token in cases:
            async with websockets.connect(server.ws_url) as ws:
                await ws.send(json.dumps({"type": "auth", "token": token}))
                code, reason = await closed_with(ws)
                assert code == 1008, token
                assert reason

    run(go())


def test_frames_before_auth_close_1008(server):
    async def go():
        for frame in (json.dumps({"type": "ping"}), "not json",
                      json.dumps({"type": "message.send", "conversation_id": "x", "text": "hi"})):
            async with websockets.connect(server.ws_url) as ws:
                await ws.send(frame)
                code, reason = await closed_with(ws)
                assert code == 1008
                assert "auth" in reason

    run(go())


def test_late_auth_closes_1008(start_server):
    server = start_server(env={"PARLEY_WS_AUTH_TIMEOUT_MS": "500"})
    s = server.signup()

    async def go():
        async with websockets.connect(server.ws_url) as ws:
            t = time.monotonic()
            code, reason = await closed_with(ws, timeout=5)
            elapsed = time.monotonic() - t
            assert code == 1008 and reason
            assert 0.3 < elapsed < 3, elapsed
        # Within the deadline is fine.
        async with websockets.connect(server.ws_url) as ws:
            await asyncio.sleep(0.2)
            await ws.send(json.dumps({"type": "auth", "token": s["access_token"]}))
            await recv_ready(ws)
            await asyncio.sleep(0.6)  # past the deadline: it was disarmed
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv_json(ws))["type"] == "pong"

    run(go())


def test_error_frames_keep_the_connection(server):
    s = server.signup()

    async def go():
        async with websockets.connect(f"{server.ws_url}?token={s['access_token']}") as ws:
            await recv_ready(ws)
            await ws.send("{not json")
            err = await recv_json(ws)
            assert err["type"] == "error" and err["code"] == "invalid_json"
            assert "message" in err
            await ws.send("[1, 2]")
            assert (await recv_json(ws))["code"] == "invalid_json"
            await ws.send(json.dumps({"type": "no.such.thing", "client_id": "c-1"}))
            err = await recv_json(ws)
            assert (err["code"], err["ref"]) == ("unknown_type", "c-1")
            await ws.send(json.dumps({"type": {"$gt": ""}}))
            assert (await recv_json(ws))["code"] == "unknown_type"
            await ws.send(json.dumps({"type": "ping"}))
            assert await recv_json(ws) == {"type": "pong"}

    run(go())


def test_frame_rate_limit(start_server):
    server = start_server(env={"PARLEY_WS_RATE": "20", "PARLEY_WS_BURST": "40"})
    s = server.signup()

    async def go():
        url = f"{server.ws_url}?token={s['access_token']}"
        # A burst just over the limit: errors, and the connection stays.
        async with websockets.connect(url) as ws:
            await recv_ready(ws)
            for _ in range(45):
                await ws.send(json.dumps({"type": "ping"}))
            frames = [await recv_json(ws) for _ in range(45)]
            pongs = sum(f["type"] == "pong" for f in frames)
            limited = [f for f in frames if f.get("code") == "rate_limited"]
            assert 40 <= pongs < 45 and pongs + len(limited) == 45, frames
            await asyncio.sleep(0.5)
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv_json(ws))["type"] == "pong"
        # One that keeps going is closed with 1008.
        async with websockets.connect(url) as ws:
            await recv_ready(ws)
            try:
                for _ in range(400):
                    await ws.send(json.dumps({"type": "ping"}))
            except websockets.ConnectionClosed:
                pass
            code, reason = await closed_with(ws)
            assert code == 1008 and "rate" in reason

    run(go())


def test_delete_user_closes_sessions(start_server):
    server = start_server(env=FAST)
    s = server.signup()
    other = server.signup()

    async def go():
        a = await websockets.connect(f"{server.ws_url}?token={s['access_token']}")
        b = await websockets.connect(server.ws_url)
        keep = await websockets.connect(f"{server.ws_url}?token={other['access_token']}")
        await recv_ready(a)
        await b.send(json.dumps({"type": "auth", "token": s["access_token"]}))
        await recv_ready(b)
        await recv_ready(keep)
        r = await asyncio.get_running_loop().run_in_executor(
            None, lambda: server.request("DELETE", "/api/user", token=s["access_token"]))
        assert r.status == 204, r
        for ws in (a, b):
            code, reason = await closed_with(ws)
            assert code == 4003 and "deleted" in reason
        # Other users' sessions are untouched; the deleted user cannot come back.
        await keep.send(json.dumps({"type": "ping"}))
        assert (await recv_json(keep))["type"] == "pong"
        await keep.close()
        async with websockets.connect(f"{server.ws_url}?token={s['access_token']}") as ws:
            assert (await closed_with(ws))[0] == 1008

    run(go())


# ---- renewal, expiry, logout (issue 14) ----

def token_claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def login(server, s, password="correct horse battery"):
    """A second login of the user of session s: a new refresh family."""
    r = server.request("POST", "/api/auth/login", {"email": s["user"]["email"], "password": password})
    assert r.status == 200, r
    return r.json()


def in_executor(fn):
    return asyncio.get_running_loop().run_in_executor(None, fn)


async def ready_session(server, token):
    ws = await websockets.connect(server.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    await recv_ready(ws)
    return ws


async def still_open(ws):
    """A ping is answered (presence changes that arrive meanwhile are skipped)."""
    await ws.send(json.dumps({"type": "ping"}))
    while True:
        frame = await recv_json(ws)
        if not frame["type"].startswith("presence"):
            assert frame["type"] == "pong", frame
            return


def test_renewal_on_the_open_session(start_server):
    server = start_server(env=FAST)
    s, other = server.signup(), server.signup()

    async def go():
        ws = await ready_session(server, s["access_token"])
        # A token of the same user (rotated by refresh): auth.ok with its expiry.
        fresh = server.request("POST", "/api/auth/refresh", {"refresh_token": s["refresh_token"]})
        assert fresh.status == 200, fresh
        token = fresh.json()["access_token"]
        await ws.send(json.dumps({"type": "auth", "token": token, "client_id": "renew-1"}))
        ok = await recv_json(ws)
        assert ok["type"] == "auth.ok" and ok["ref"] == "renew-1", ok
        exp = token_claims(token)["exp"]
        at = datetime.strptime(ok["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert int((at - datetime(1970, 1, 1)).total_seconds()) == exp
        # Another user's token: refused in the contract's error shape; the
        # session stays its user's and open.
        await ws.send(json.dumps({"type": "auth", "token": other["access_token"], "client_id": "r2"}))
        err = await recv_json(ws)
        assert (err["type"], err["code"], err["ref"]) == ("error", "forbidden", "r2"), err
        assert err["message"]
        # Forged, expired, or not a string: unauthorized / validation_failed.
        now = int(time.time())
        expired = forge({"alg": "HS256"}, claims(s["user"]["id"], iat=now - 2000, exp=now - 1))
        for bad, code in ((expired, "unauthorized"), ("garbage", "unauthorized"),
                          (forge({"alg": "none"}, claims(s["user"]["id"]), signature=""), "unauthorized"),
                          (42, "validation_failed")):
            await ws.send(json.dumps({"type": "auth", "token": bad, "client_id": "r3"}))
            err = await recv_json(ws)
            assert (err["type"], err["code"], err["ref"]) == ("error", code, "r3"), err
        await still_open(ws)
        await ws.close()

    run(go())


def test_expiry_closes_4001_unless_renewed(start_server):
    # The shortest lifetime the configuration allows.
    server = start_server(env=dict(FAST, PARLEY_ACCESS_TOKEN_TTL="10"))
    s = server.signup()

    async def go():
        first = s["access_token"]
        exp_first = token_claims(first)["exp"]
        renewed = await ready_session(server, first)
        plain = await ready_session(server, first)
        # Renew one session half-way with a token from a new login.
        await asyncio.sleep(max(0, exp_first - 5 - time.time()))
        second = (await in_executor(lambda: login(server, s)))["access_token"]
        exp_second = token_claims(second)["exp"]
        assert exp_second > exp_first
        await renewed.send(json.dumps({"type": "auth", "token": second}))
        assert (await recv_json(renewed))["type"] == "auth.ok"
        # The other one ends at its token's expiry with 4001.
        code, reason = await closed_with(plain, timeout=30)
        assert code == 4001 and "expired" in reason, (code, reason)
        assert time.time() >= exp_first - 1
        # The renewed one outlives the first token and ends at the second's.
        code, reason = await closed_with(renewed, timeout=40)
        assert code == 4001, (code, reason)
        assert time.time() >= exp_second - 1

    asyncio.run(asyncio.wait_for(go(), 90))


def test_logout_closes_that_logins_sessions_4003(start_server):
    server = start_server(env=FAST)
    s = server.signup()
    second = login(server, s)

    async def go():
        a1 = await ready_session(server, s["access_token"])
        a2 = await websockets.connect(f"{server.ws_url}?token={s['access_token']}")
        await recv_ready(a2)
        b = await ready_session(server, second["access_token"])
        r = await in_executor(lambda: server.request("POST", "/api/auth/logout",
                                                     {"refresh_token": s["refresh_token"]}))
        assert r.status == 204, r
        for ws in (a1, a2):
            code, reason = await closed_with(ws)
            assert code == 4003 and reason, (code, reason)
        await still_open(b)
        await b.close()
        # That login's access token is refused everywhere; the other login's works.
        async with websockets.connect(f"{server.ws_url}?token={s['access_token']}") as ws:
            assert (await closed_with(ws))[0] == 1008

    run(go())
    assert_error(server.request("GET", "/api/conversations", token=s["access_token"]), 401,
                 "unauthorized")
    assert server.request("GET", "/api/conversations", token=second["access_token"]).status == 200


@pytest.fixture
def redis_pair(start_server, redis_url, tmp_path):
    """Two instances on one store and one Redis; restart(i) restarts one."""
    env = dict(FAST, PARLEY_REDIS_URL=redis_url)
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_{uuid.uuid4().hex[:12]}")
    data = str(tmp_path)
    servers = [start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)]

    def restart(i):
        servers[i].stop()
        servers[i] = start_server(env=env, data_dir=data, port=servers[i].port)
        return servers[i]

    return servers, restart


def test_logout_and_deletion_end_sessions_across_instances(redis_pair):
    (a, b), restart = redis_pair
    s = a.signup()
    second = login(b, s)

    async def go():
        await asyncio.sleep(0.3)  # the bus subscriptions of fresh instances
        on_b1 = await ready_session(b, s["access_token"])
        on_a1 = await ready_session(a, s["access_token"])
        on_b2 = await ready_session(b, second["access_token"])
        # Logout on A ends the first login on both instances, only it.
        r = await in_executor(lambda: a.request("POST", "/api/auth/logout",
                                                {"refresh_token": s["refresh_token"]}))
        assert r.status == 204, r
        for ws in (on_b1, on_a1):
            code, _ = await closed_with(ws)
            assert code == 4003
        await still_open(on_b2)
        # Deleting the account on A ends the rest, on B too.
        r = await in_executor(lambda: a.request("DELETE", "/api/user", token=second["access_token"]))
        assert r.status == 204, r
        code, reason = await closed_with(on_b2)
        assert code == 4003 and "deleted" in reason

    run(go())
    for token in (s["access_token"], second["access_token"]):
        assert_error(b.request("GET", "/api/conversations", token=token), 401, "unauthorized")
    # B restarts: it learns both from the store, never from memory.
    b = restart(1)
    for token in (s["access_token"], second["access_token"]):
        assert_refused_from_start(b, token)
