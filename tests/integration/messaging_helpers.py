"""Helpers shared by the messaging tests: REST calls with a session's token, and
a WebSocket client (websockets 10.4, asyncio) that keeps every frame it has
received so a test can wait for one kind while others arrive."""
import asyncio
import json
import time

import websockets


def api(server, method, path, session=None, body=None, **kw):
    token = session["access_token"] if isinstance(session, dict) else session
    return server.request(method, path, body=body, token=token, **kw)


def uid(session):
    return session["user"]["id"]


def create_direct(server, a, b):
    r = api(server, "POST", "/api/conversations", a, {"type": "direct", "participant_id": uid(b)})
    assert r.status in (200, 201), r
    return r.json()["conversation"]


def create_group(server, creator, members, name="team"):
    r = api(server, "POST", "/api/conversations", creator,
            {"type": "group", "name": name, "participant_ids": [uid(m) for m in members]})
    assert r.status == 201, r
    return r.json()["conversation"]


def post_message(server, session, conv_id, text, client_id=None):
    body = {"text": text}
    if client_id is not None:
        body["client_id"] = client_id
    return api(server, "POST", f"/api/conversations/{conv_id}/messages", session, body)


def metric(server, name):
    """A counter of GET /metrics (0 when absent)."""
    for line in server.request("GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Client:
    """One WebSocket session. Frames are kept in arrival order in `seen`; expect()
    consumes the first matching one. A presence.batch is read as the presence
    frames of its entries, in order, as API.md says a client applies it (`seen`
    keeps the batch itself)."""

    def __init__(self, ws, ready):
        self.ws = ws
        self.ready = ready
        self.backlog = []
        self.seen = []
        self.unbatched = []  # presence frames of a batch not yet read

    @classmethod
    async def connect(cls, server, session):
        ws = await websockets.connect(f"{server.ws_url}?token={session['access_token']}",
                                      max_size=None, ping_interval=None)
        ready = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ready["type"] == "ready", ready
        return cls(ws, ready)

    async def send(self, frame):
        await self.ws.send(json.dumps(frame) if not isinstance(frame, str) else frame)

    async def _next(self, timeout):
        while not self.unbatched:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            f = json.loads(raw)
            self.seen.append(f)
            if f.get("type") != "presence.batch":
                return f
            self.unbatched = [dict(e, type="presence") for e in f["users"]]
        return self.unbatched.pop(0)

    async def expect(self, type_, timeout=5, **match):
        """The first frame of this type whose top-level fields equal match."""
        def ok(f):
            return f.get("type") == type_ and all(f.get(k) == v for k, v in match.items())
        for i, f in enumerate(self.backlog):
            if ok(f):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {type_} {match} within {timeout}s; got {self.backlog}")
            try:
                f = await self._next(left)
            except asyncio.TimeoutError:
                continue
            if ok(f):
                return f
            self.backlog.append(f)

    async def expect_any(self, types, timeout=10):
        """The next frame whose type is one of types."""
        for i, f in enumerate(self.backlog):
            if f.get("type") in types:
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {types} within {timeout}s")
            try:
                f = await self._next(left)
            except asyncio.TimeoutError:
                continue
            if f.get("type") in types:
                return f
            self.backlog.append(f)

    async def expect_none(self, type_, wait=0.7, **match):
        """Asserts no frame of this type (and fields) arrives within wait seconds."""
        try:
            f = await self.expect(type_, timeout=wait, **match)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {f}")

    async def drain(self, wait=0.3):
        """Reads whatever arrives within wait seconds into the backlog."""
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                self.backlog.append(await self._next(left))
            except asyncio.TimeoutError:
                return

    async def close(self):
        await self.ws.close()
