"""WebSocket limits and handshakes of API.md against the real parleyd: the
upgrade (and the 400/426 refusals), binary frames closed 1003, messages over
64 KiB closed 1009, protocol pings and JSON pings answered, the clean close
handshake, the auth deadline, the pong timeout and the output limit.

Clients are websockets 10.4 (asyncio) or, where a client must misbehave, a raw
socket that speaks RFC 6455 by hand."""
import asyncio
import base64
import json
import os
import socket
import struct
import time

import pytest
import websockets

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def upgrade_headers(**over):
    h = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": KEY,
    }
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


# ---- a raw client, for what websockets will not do ----

class RawWS:
    def __init__(self, port, path="/ws", rcvbuf=None, connection="Upgrade"):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: {connection}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Key: {KEY}\r\n\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed during the handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()

    def send(self, opcode, payload=b"", masked=True):
        b0 = 0x80 | opcode
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", b0, (0x80 if masked else 0) | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, (0x80 if masked else 0) | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, (0x80 if masked else 0) | 127, n)
        if masked:
            mask = os.urandom(4)
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            hdr += mask
        self.sock.sendall(hdr + payload)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv_frame(self):
        """(opcode, payload) of the next server frame; EOFError at the end."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "server frames are never masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload

    def close(self):
        self.sock.close()


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def metric(server, name):
    body = server.request("GET", "/metrics").body.decode()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


# ---- the handshake ----

def test_upgrade_succeeds(server):
    ws = RawWS(server.port)
    try:
        status = ws.head.split("\r\n")[0]
        assert status == "HTTP/1.1 101 Switching Protocols"
        headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip()
                   for l in ws.head.split("\r\n")[1:]}
        assert headers["upgrade"].lower() == "websocket"
        assert headers["connection"].lower() == "upgrade"
        assert headers["sec-websocket-accept"] == ACCEPT
    finally:
        ws.close()


@pytest.mark.parametrize("over,status", [
    ({"Upgrade": None}, 400),
    ({"Upgrade": "h2c"}, 400),
    ({"Connection": "keep-alive"}, 400),
    ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400),
    ({"Sec-WebSocket-Key": None}, 400),
    ({"Sec-WebSocket-Version": "8"}, 426),
])
def test_bad_upgrades_refused(server, over, status):
    r = server.request("GET", "/ws", headers=upgrade_headers(**over))
    assert r.status == status, r
    assert "error" in r.json()
    if status == 426:
        assert r.header("Sec-WebSocket-Version") == "13"


def test_connection_header_token_list_accepted(server):
    ws = RawWS(server.port, connection="keep-alive, upgrade")
    try:
        assert ws.head.startswith("HTTP/1.1 101 ")
    finally:
        ws.close()


# ---- limits ----

def test_binary_frame_closes_1003(server):
    async def go():
        async with websockets.connect(server.ws_url) as ws:
            await ws.send(b"\x00\x01\x02")
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code
    assert run(go()) == 1003


def test_message_over_64k_closes_1009(server):
    async def go():
        async with websockets.connect(server.ws_url, max_size=None) as ws:
            await ws.send("a" * (70 * 1024))
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code
    assert run(go()) == 1009


def test_unmasked_frame_closes_1002(server):
    ws = RawWS(server.port)
    try:
        ws.send(0x1, b'{"type":"ping"}', masked=False)
        op, payload = ws.recv_frame()
        assert op == 0x8 and close_code(payload) == 1002
    finally:
        ws.close()


def test_protocol_ping_gets_pong(server):
    async def go():
        async with websockets.connect(server.ws_url) as ws:
            waiter = await ws.ping(b"are you there")
            await asyncio.wait_for(waiter, 5)
            return True
    assert run(go())


def test_raw_ping_pong_echoes_payload(server):
    ws = RawWS(server.port)
    try:
        ws.send(0x9, b"xyz")
        assert ws.recv_frame() == (0xA, b"xyz")
    finally:
        ws.close()


def test_json_ping_gets_json_pong(server):
    token = server.signup()["access_token"]

    async def go():
        async with websockets.connect(f"{server.ws_url}?token={token}") as ws:
            ready = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert ready["type"] == "ready"
            await ws.send(json.dumps({"type": "ping"}))
            while True:  # the presence.snapshot may come before or after the pong
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame["type"] != "presence.snapshot":
                    return frame
    assert run(go()) == {"type": "pong"}


def test_clean_close(server):
    token = server.signup()["access_token"]

    async def go():
        ws = await websockets.connect(f"{server.ws_url}?token={token}")
        await asyncio.wait_for(ws.recv(), 5)
        t0 = time.monotonic()
        await ws.close(1000, "bye")
        # the server echoed the close and closed the TCP connection itself:
        # no waiting out the client's close timeout
        return ws.close_code, time.monotonic() - t0
    code, took = run(go())
    assert code == 1000
    assert took < 2


def test_server_close_answers_raw_close(server):
    ws = RawWS(server.port)
    try:
        ws.send(0x8, struct.pack("!H", 1000) + b"done")
        op, payload = ws.recv_frame()
        assert op == 0x8 and close_code(payload) == 1000
        with pytest.raises(EOFError):
            ws.recv_frame()  # then the TCP connection ends
    finally:
        ws.close()


def test_auth_deadline_closes_1008(start_server):
    s = start_server(env={"PARLEY_WS_AUTH_TIMEOUT_MS": "300"})
    ws = RawWS(s.port)
    try:
        t0 = time.monotonic()
        op, payload = ws.recv_frame()
        assert op == 0x8 and close_code(payload) == 1008
        assert time.monotonic() - t0 < 3
    finally:
        ws.close()


def test_no_pong_closes_connection(start_server):
    s = start_server(env={"PARLEY_WS_PING_INTERVAL_MS": "100",
                          "PARLEY_WS_PONG_TIMEOUT_MS": "300",
                          "PARLEY_WS_AUTH_TIMEOUT_MS": "60000"})
    ws = RawWS(s.port)
    try:
        t0 = time.monotonic()
        pings = 0
        with pytest.raises(EOFError):
            while True:
                op, _ = ws.recv_frame()
                if op == 0x9:
                    pings += 1  # never answered
        assert pings >= 1
        assert time.monotonic() - t0 < 5
    finally:
        ws.close()


def test_answered_pings_keep_session(start_server):
    s = start_server(env={"PARLEY_WS_PING_INTERVAL_MS": "100",
                          "PARLEY_WS_PONG_TIMEOUT_MS": "300",
                          "PARLEY_WS_AUTH_TIMEOUT_MS": "60000"})
    ws = RawWS(s.port)
    try:
        t0 = time.monotonic()
        pings = 0
        while time.monotonic() - t0 < 1.0:
            op, payload = ws.recv_frame()
            assert op == 0x9
            pings += 1
            ws.send(0xA, payload)
        assert pings >= 5
    finally:
        ws.close()


def test_slow_reader_dropped(start_server):
    s = start_server(env={"PARLEY_WS_OUTPUT_LIMIT": "65536",
                          "PARLEY_WS_AUTH_TIMEOUT_MS": "60000"})
    before = metric(s, "parley_ws_dropped_slow_total") or 0
    ws = RawWS(s.port, rcvbuf=4096)
    ws.sock.settimeout(2)
    try:
        # each 125-byte ping queues a 127-byte pong that this client never reads
        payload = b"p" * 125
        frame_count = 0
        deadline = time.monotonic() + 10
        dropped = False
        while time.monotonic() < deadline and not dropped:
            try:
                for _ in range(2000):
                    ws.send(0x9, payload)
                    frame_count += 1
            except OSError:
                pass  # the server is gone: that is the point
            dropped = (metric(s, "parley_ws_dropped_slow_total") or 0) > before
        assert dropped, f"not dropped after {frame_count} pings"
    finally:
        ws.close()
