"""The process as operators see it: ops endpoints, access log, connection cap,
readiness when the bus is down, and a graceful SIGTERM that closes WebSockets
with 1001, lets an in-flight request finish, and exits 0."""
import asyncio
import http.client
import json
import signal
import socket
import time

import websockets

from conftest import free_port


def test_healthz_readyz_metrics(server):
    r = server.request("GET", "/healthz")
    assert r.status == 200 and r.json()["status"] == "ok"
    assert r.header("X-Request-Id")
    r = server.request("GET", "/readyz")
    assert r.status == 200, r
    body = r.json()
    assert body["store"]["state"] == "up" and body["bus"]["state"] == "up"
    server.request("GET", "/nope")
    m = server.request("GET", "/metrics")
    assert m.status == 200 and m.header("Content-Type").startswith("text/plain")
    text = m.body.decode()
    for series in ["parley_connections_open", "parley_ws_sessions_open",
                   "parley_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}",
                   "parley_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
                   "parley_http_request_duration_seconds_bucket{le=\"+Inf\"}",
                   "parley_event_loop_lag_seconds", "parley_store_jobs_in_flight",
                   "parley_store_cache_bytes",
                   "parley_messages_stored_total", "parley_messages_delivered_total"]:
        assert series in text, series


def test_request_id_is_echoed_or_made(server):
    r = server.request("GET", "/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.header("X-Request-Id") == "abc-123"
    r = server.request("GET", "/healthz", headers={"X-Request-Id": "bad id\x01"})
    assert r.header("X-Request-Id") not in (None, "bad id\x01")


def access_lines(srv):
    return [json.loads(l) for l in srv.read_log(tail=0).splitlines()
            if l.startswith("{") and '"msg":"request"' in l]


def test_access_log_line(start_server):
    srv = start_server(env={"PARLEY_LOG_LEVEL": "info"})
    srv.request("GET", "/healthz", headers={"X-Request-Id": "log-me-1"})
    deadline = time.time() + 5  # the log is written within 50 ms, off the loop
    while time.time() < deadline and not any(l.get("request_id") == "log-me-1" for l in access_lines(srv)):
        time.sleep(0.02)
    hits = [l for l in access_lines(srv) if l.get("request_id") == "log-me-1"]
    assert hits, srv.read_log()
    line = hits[0]
    assert line["method"] == "GET" and line["path"] == "/healthz" and line["status"] == 200
    assert line["bytes"] > 0 and "duration_ms" in line
    m = srv.request("GET", "/metrics").body.decode()
    assert "\nparley_access_log_dropped_total 0\n" in m

    # A path that decodes to bytes that are not UTF-8, with a quote and a
    # backslash, is logged as one JSON object, its bad bytes as U+FFFD.
    r = srv.request("GET", "/%FF%C3/a%22b%5Cc%E2%82%AC")
    want = "/\ufffd\ufffd/a\"b\\c\u20ac"
    deadline = time.time() + 5
    while time.time() < deadline and not any(l.get("path") == want for l in access_lines(srv)):
        time.sleep(0.02)
    odd = [l for l in access_lines(srv) if l.get("path") == want]
    assert odd, srv.read_log()
    assert odd[0]["status"] == r.status == 400 and isinstance(odd[0]["duration_ms"], float)
    assert odd[0]["request_id"] == r.header("X-Request-Id")
    assert set(odd[0]) == {"level", "msg", "method", "path", "status", "bytes", "duration_ms",
                           "request_id", "conn", "ts"} | ({"route"} if "route" in odd[0] else set())


def test_access_log_complete_after_sigterm(start_server):
    """N requests on one keep-alive connection, then SIGTERM at once: the
    buffered access log still has all N lines when the process has exited."""
    srv = start_server(env={"PARLEY_LOG_LEVEL": "info"})
    n = 500
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    for i in range(n):
        conn.request("GET", "/healthz", headers={"X-Request-Id": f"burst-{i}"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    conn.close()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=15) == 0
    ids = [l["request_id"] for l in access_lines(srv) if l.get("request_id", "").startswith("burst-")]
    assert sorted(ids) == sorted(f"burst-{i}" for i in range(n))


def test_connection_cap(start_server):
    srv = start_server(env={"PARLEY_MAX_CONNECTIONS": "4"})
    time.sleep(0.5)  # the start-up probe's connection is gone
    held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(4)]
    for s in held:  # each is accepted and served: the cap is now reached
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.1 200")
    extra = socket.create_connection(("127.0.0.1", srv.port))
    extra.settimeout(2)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data = extra.recv(100)
    except ConnectionResetError:
        data = b""
    assert data == b""  # refused: closed without an answer
    for s in held:
        s.close()
    extra.close()
    time.sleep(0.2)
    assert srv.request("GET", "/healthz").status == 200


def test_readyz_reports_a_dead_bus(start_server):
    dead = free_port()
    srv = start_server(env={"PARLEY_REDIS_URL": f"redis://127.0.0.1:{dead}"})
    r = srv.request("GET", "/readyz")
    assert r.status == 503
    assert r.json()["bus"] == {"backend": "redis", "state": "down"}
    assert r.json()["store"]["state"] == "up"
    assert srv.request("GET", "/healthz").status == 200


def test_graceful_sigterm(start_server):
    srv = start_server()
    session = srv.signup()

    async def run():
        ws = await websockets.connect(f"{srv.ws_url}?token={session['access_token']}")
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ready"
        idle = socket.create_connection(("127.0.0.1", srv.port))
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.recv(1000)
        started = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            code = closed.code
        idle.settimeout(5)
        assert idle.recv(100) == b""  # the idle keep-alive connection is closed
        return code, started
    code, started = asyncio.run(run())
    assert code == 1001
    assert srv.proc.wait(timeout=10) == 0
    assert time.time() - started < 10
    assert "open handles" not in srv.read_log()
