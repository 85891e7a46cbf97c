"""Sessions and devices (issue 17): GET /api/auth/sessions lists the caller's
logins with device, address and last use; DELETE ends one or all others, and
ending a login refuses its refresh and access tokens and closes its WebSocket
sessions with 4003, on one instance and across two on Redis."""
import asyncio
import json
import time

import pytest

from test_auth import FAST, assert_error
from test_ws_auth import (closed_with, in_executor, ready_session, recv_json,  # noqa: F401
                          redis_pair, run)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PASSWORD = "correct horse battery"


async def still_open(ws):
    """A ping is answered (presence frames that arrive meanwhile are skipped)."""
    await ws.send(json.dumps({"type": "ping"}))
    while True:
        frame = await recv_json(ws)
        if not frame["type"].startswith("presence."):
            assert frame["type"] == "pong", frame
            return


def log_in(server, s, device=None, ua=None):
    body = {"email": s["user"]["email"], "password": PASSWORD}
    if device is not None:
        body["device_name"] = device
    r = server.request("POST", "/api/auth/login", body,
                       headers={"User-Agent": ua} if ua else None)
    assert r.status == 200, r
    return r.json()


def sessions(server, token):
    r = server.request("GET", "/api/auth/sessions", token=token)
    assert r.status == 200, r
    return r.json()["sessions"]


def test_list_names_devices_marks_current_and_orders_by_last_use(start_server):
    server = start_server(env=FAST)
    s = server.signup()
    phone = log_in(server, s, device="Ann's phone")
    laptop = log_in(server, s, ua="Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    listed = sessions(server, laptop["access_token"])
    assert len(listed) == 3
    for l in listed:
        assert set(l) == {"id", "device_name", "ip", "created_at", "last_used_at", "current"}
        assert l["ip"] == "127.0.0.1"
    assert [l["current"] for l in listed] == [True, False, False]
    assert listed[0]["device_name"] == "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"
    assert listed[1]["device_name"] == "Ann's phone"
    # A refresh is a use: the phone's login moves to the top, keeping its id.
    time.sleep(0.01)
    r = server.request("POST", "/api/auth/refresh", {"refresh_token": phone["refresh_token"]})
    assert r.status == 200, r
    again = sessions(server, r.json()["access_token"])
    assert again[0]["id"] == listed[1]["id"] and again[0]["current"]
    assert again[0]["last_used_at"] > listed[1]["last_used_at"]
    assert again[0]["created_at"] == listed[1]["created_at"]
    # Another user sees only their own.
    other = server.signup()
    assert [l["current"] for l in sessions(server, other["access_token"])] == [True]


def test_bad_input_changes_nothing(start_server):
    server = start_server(env=FAST)
    s = server.signup()
    for bad in ("", "x" * 101, 12, ["a"], {"a": 1}):
        r = server.request("POST", "/api/auth/login", {"email": s["user"]["email"],
                                                       "password": PASSWORD, "device_name": bad})
        assert_error(r, 400, "validation_failed", "device_name")
    assert len(sessions(server, s["access_token"])) == 1
    # Ending all but this one needs others=true; an unknown or foreign id is 404.
    for q in ("", "?others=false", "?others=1"):
        assert_error(server.request("DELETE", "/api/auth/sessions" + q, token=s["access_token"]),
                     400, "validation_failed", "others")
    other = server.signup()
    theirs = sessions(server, other["access_token"])[0]["id"]
    for id_ in (theirs, "0" * 24, "x" * 40):
        assert_error(server.request("DELETE", f"/api/auth/sessions/{id_}", token=s["access_token"]),
                     404, "not_found")
    assert len(sessions(server, other["access_token"])) == 1
    assert_error(server.request("GET", "/api/auth/sessions"), 401, "unauthorized")


def test_end_one_login_closes_its_sessions_only(start_server):
    server = start_server(env=FAST)
    s = server.signup()
    other = log_in(server, s, device="tablet")
    target = next(l for l in sessions(server, s["access_token"]) if not l["current"])

    async def go():
        doomed = await ready_session(server, other["access_token"])
        mine = await ready_session(server, s["access_token"])
        r = await in_executor(lambda: server.request(
            "DELETE", f"/api/auth/sessions/{target['id']}", token=s["access_token"]))
        assert r.status == 204, r
        code, reason = await closed_with(doomed)
        assert code == 4003 and reason, (code, reason)
        await still_open(mine)
        await mine.close()

    run(go())
    assert [l["current"] for l in sessions(server, s["access_token"])] == [True]
    assert_error(server.request("GET", "/api/auth/me", token=other["access_token"]), 401,
                 "unauthorized")
    assert_error(server.request("POST", "/api/auth/refresh",
                                {"refresh_token": other["refresh_token"]}), 401, "unauthorized")
    # Ended already: 404; the caller may end its own login too.
    assert_error(server.request("DELETE", f"/api/auth/sessions/{target['id']}",
                                token=s["access_token"]), 404, "not_found")
    mine = sessions(server, s["access_token"])[0]["id"]
    assert server.request("DELETE", f"/api/auth/sessions/{mine}",
                          token=s["access_token"]).status == 204
    assert_error(server.request("POST", "/api/auth/refresh", {"refresh_token": s["refresh_token"]}),
                 401, "unauthorized")


def test_end_all_others(start_server):
    server = start_server(env=FAST)
    s = server.signup()
    others = [log_in(server, s, device=f"device {i}") for i in range(3)]
    r = server.request("DELETE", "/api/auth/sessions?others=true", token=s["access_token"])
    assert r.status == 200 and r.json() == {"ended": 3}, r
    assert [l["current"] for l in sessions(server, s["access_token"])] == [True]
    for o in others:
        assert_error(server.request("GET", "/api/auth/me", token=o["access_token"]), 401,
                     "unauthorized")
    r = server.request("DELETE", "/api/auth/sessions?others=true", token=s["access_token"])
    assert r.status == 200 and r.json() == {"ended": 0}, r
    assert server.request("GET", "/api/auth/me", token=s["access_token"]).status == 200


def test_logins_past_the_limit_end_the_least_recently_used(start_server):
    server = start_server(env=FAST)
    s = server.signup()
    first = s
    for _ in range(100):
        last = log_in(server, s)
    listed = sessions(server, last["access_token"])
    assert len(listed) == 100
    assert_error(server.request("POST", "/api/auth/refresh",
                                {"refresh_token": first["refresh_token"]}), 401, "unauthorized")
    assert_error(server.request("GET", "/api/auth/me", token=first["access_token"]), 401,
                 "unauthorized")


def test_ending_a_login_closes_its_sessions_on_every_instance(redis_pair):
    (a, b), _ = redis_pair
    s = a.signup()
    phone = log_in(b, s, device="phone")
    phone_id = next(l["id"] for l in sessions(a, s["access_token"]) if not l["current"])
    third = log_in(a, s, device="laptop")
    for server in (a, b):  # each instance remembers the verified tokens (its token cache)
        for token in (phone["access_token"], third["access_token"]):
            assert server.request("GET", "/api/conversations", token=token).status == 200

    async def go():
        await asyncio.sleep(0.3)  # the bus subscriptions of fresh instances
        on_b = await ready_session(b, phone["access_token"])
        on_a = await ready_session(a, phone["access_token"])
        third_b = await ready_session(b, third["access_token"])
        mine_b = await ready_session(b, s["access_token"])
        r = await in_executor(lambda: a.request("DELETE", f"/api/auth/sessions/{phone_id}",
                                                token=s["access_token"]))
        assert r.status == 204, r
        for ws in (on_b, on_a):
            assert (await closed_with(ws))[0] == 4003
        await still_open(third_b)
        # All others, from B: the laptop's session on B closes; the caller's stays.
        r = await in_executor(lambda: b.request("DELETE", "/api/auth/sessions?others=true",
                                                token=s["access_token"]))
        assert r.status == 200 and r.json() == {"ended": 1}, r
        assert (await closed_with(third_b))[0] == 4003
        await still_open(mine_b)
        await mine_b.close()

    run(go())
    for server in (a, b):
        for token in (phone["access_token"], third["access_token"]):
            assert_error(server.request("GET", "/api/auth/me", token=token), 401, "unauthorized")
            assert_error(server.request("GET", "/api/conversations", token=token), 401,
                         "unauthorized")
