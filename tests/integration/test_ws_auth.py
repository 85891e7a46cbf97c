"""WebSocket authentication and the protocol layer against the real parleyd:
?token= and auth frames, bad, forged and late tokens, error frames that keep
the connection open, the frame rate, and sessions closed by account deletion."""
import asyncio
import json
import time

import pytest
import websockets

from test_auth import FAST, claims, forge

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


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
            ready = await recv_json(ws)
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
            ready = await recv_json(ws)
            assert ready["type"] == "ready" and ready["user_id"] == s["user"]["id"]
            # A second auth frame is an error, not a disconnection.
            await ws.send(json.dumps({"type": "auth", "token": s["access_token"]}))
            assert (await recv_json(ws))["type"] == "error"
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
            assert (await recv_json(ws))["type"] == "ready"
            await asyncio.sleep(0.6)  # past the deadline: it was disarmed
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv_json(ws))["type"] == "pong"

    run(go())


def test_error_frames_keep_the_connection(server):
    s = server.signup()

    async def go():
        async with websockets.connect(f"{server.ws_url}?token={s['access_token']}") as ws:
            await recv_json(ws)
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
            await recv_json(ws)
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
            await recv_json(ws)
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
        await recv_json(a)
        await b.send(json.dumps({"type": "auth", "token": s["access_token"]}))
        await recv_json(b)
        await recv_json(keep)
        r = await asyncio.get_running_loop().run_in_executor(
            None, lambda: server.request("DELETE", "/api/user", token=s["access_token"]))
        assert r.status == 204, r
        for ws in (a, b):
            code, reason = await closed_with(ws)
            assert code in (1008, 4001) and "deleted" in reason
        # Other users' sessions are untouched; the deleted user cannot come back.
        await keep.send(json.dumps({"type": "ping"}))
        assert (await recv_json(keep))["type"] == "pong"
        await keep.close()
        async with websockets.connect(f"{server.ws_url}?token={s['access_token']}") as ws:
            assert (await closed_with(ws))[0] == 1008

    run(go())
