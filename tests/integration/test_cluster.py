"""./scripts/cluster, the compose stack without Docker: Redis, a MongoDB, two parleyd
instances and nginx with docker/nginx.conf's upstream. Started once for the module on
free ports and a temporary state directory. Clients connected through nginx to
different instances talk to each other; one instance is stopped and its clients
reconnect through nginx and recover with `sync`; the last test stops the cluster and
checks that no process of it is left."""
import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import websockets

from conftest import PARLEYD, ROOT, free_port

SCRIPT = os.path.join(ROOT, "scripts", "cluster")
COMPONENTS = ["redis", "mongo", "parley1", "parley2", "nginx"]

pytestmark = [
    pytest.mark.skipif(shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"),
                       reason="nginx is not installed (./scripts/deps test installs it)"),
    pytest.mark.skipif(shutil.which("redis-server") is None,
                       reason="redis-server is not installed"),
    pytest.mark.skipif(not os.access(PARLEYD, os.X_OK), reason=f"{PARLEYD} is not built"),
]


class Cluster:
    def __init__(self, state):
        self.state = state
        # Five different ports: each free_port() closes its probe, so two probes
        # may get the same one (CI once gave an instance's metrics port its own).
        ports = []
        while len(ports) < 5:
            p = free_port()
            if p not in ports:
                ports.append(p)
        self.port, self.port1, self.port2 = ports[:3]
        self.metrics = {self.port1: ports[3], self.port2: ports[4]}
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("PARLEY_") or k.startswith("PARLEY_TEST_")}
        self.env.update({
            "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin",
            "PARLEYD": PARLEYD,
            "PARLEY_CLUSTER_DIR": str(state),
            "PARLEY_CLUSTER_PORT": str(self.port),
            "PARLEY_CLUSTER_PORT1": str(self.port1),
            "PARLEY_CLUSTER_PORT2": str(self.port2),
            "PARLEY_CLUSTER_METRICS_PORT1": str(self.metrics[self.port1]),
            "PARLEY_CLUSTER_METRICS_PORT2": str(self.metrics[self.port2]),
            "PARLEY_LOG_LEVEL": "warn",
            "PARLEY_AUTH_RATE_PER_IP": "100000",
        })

    def run(self, command, timeout=90):
        return subprocess.run([SCRIPT, command], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def get(self, port, path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            conn.close()

    def call(self, method, path, body=None, token=None):
        """A JSON call through nginx; returns (status, decoded body or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data else None
        finally:
            conn.close()

    def signup(self):
        tag = uuid.uuid4().hex[:10]
        status, body = self.call("POST", "/api/auth/signup", {
            "email": f"cluster-{tag}@example.com", "password": "correct horse battery",
            "name": f"Cluster {tag}"})
        assert status == 201, body
        return body

    def instance_pid(self, port):
        name = "parley1" if port == self.port1 else "parley2"
        with open(os.path.join(self.state, f"{name}.pid")) as f:
            return int(f.read().strip())

    def pids(self):
        """The recorded pid of each component, and every live member of its group."""
        found = set()
        for name in COMPONENTS:
            try:
                with open(os.path.join(self.state, f"{name}.pid")) as f:
                    found.add(int(f.read().strip()))
            except FileNotFoundError:
                continue
        for pid in list(found):
            found |= set(group_members(pid))
        return found

    def log(self, name):
        try:
            with open(os.path.join(self.state, f"{name}.log"), errors="replace") as f:
                return f.read()[-3000:]
        except FileNotFoundError:
            return ""


def proc_stat(pid):
    """(state, pgrp) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == "Z" else (fields[0], int(fields[2]))


def group_members(pgid):
    members = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pgid:
                members.append(int(d))
    return members


def processes_mentioning(text):
    """Live processes whose command line or environment mentions text."""
    hits = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid() or not proc_stat(int(d)):
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{d}/{part}", "rb") as f:
                    if text.encode() in f.read():
                        hits.append(int(d))
                        break
            except OSError:
                pass
    return hits


def gauge(cluster, port, name):
    status, body = cluster.get(cluster.metrics[port], "/metrics")
    assert status == 200, body
    m = re.search(rf"^{name} (\S+)$", body, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def healthz_count(cluster, port):
    """How many GET /healthz this instance has answered with 200 (its /metrics)."""
    status, body = cluster.get(cluster.metrics[port], "/metrics")
    assert status == 200, body
    m = re.search(r'^parley_http_requests_total\{[^}]*route="/healthz"[^}]*status="200"[^}]*\} (\d+)',
                  body, re.M)
    return int(m.group(1)) if m else 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    r = c.run("start")
    if r.returncode != 0:
        logs = "\n".join(f"--- {n}.log\n{c.log(n)}" for n in COMPONENTS)
        c.run("stop")
        pytest.fail(f"scripts/cluster start failed ({r.returncode}):\n{r.stdout}{r.stderr}\n{logs}")
    yield c
    c.run("stop")


def test_status_shows_every_component_running(cluster):
    r = cluster.run("status")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in COMPONENTS:
        assert re.search(rf"^{name}\s+running\s+pid \d+", r.stdout, re.M), r.stdout


def test_healthz_answers_through_nginx(cluster):
    status, body = cluster.get(cluster.port, "/healthz")
    assert status == 200, body


def test_both_instances_serve_directly(cluster):
    for port in (cluster.port1, cluster.port2):
        status, body = cluster.get(port, "/healthz")
        assert status == 200, (port, body)


def test_metrics_only_on_the_metrics_ports(cluster):
    for port in (cluster.port1, cluster.port2):
        assert cluster.get(port, "/metrics")[0] == 404, port
        status, body = cluster.get(cluster.metrics[port], "/metrics")
        assert status == 200 and "parley_connections_open" in body, body
        assert cluster.get(cluster.metrics[port], "/api/auth/me")[0] == 404
    assert cluster.get(cluster.port, "/metrics")[0] == 404  # nor through nginx


def instance_environ(cluster, port):
    with open(f"/proc/{cluster.instance_pid(port)}/environ", "rb") as f:
        return dict(e.split("=", 1) for e in f.read().decode().split("\0") if "=" in e)


def test_instances_read_secrets_from_private_files_and_trust_a_range(cluster):
    for port in (cluster.port1, cluster.port2):
        env = instance_environ(cluster, port)
        for key in ("JWT_SECRET", "SECRET_KEY", "MONGO_URI", "REDIS_URL"):
            assert not env.get(f"PARLEY_{key}"), key
            path = env[f"PARLEY_{key}_FILE"]
            assert os.stat(path).st_mode & 0o077 == 0, f"{path} is readable by others"
        assert "/" in env["PARLEY_TRUSTED_PROXIES"], env["PARLEY_TRUSTED_PROXIES"]
    # Both instances use the same keys: a token from one works on the other.
    session = cluster.signup()
    for port in (cluster.port1, cluster.port2):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/auth/me",
                     headers={"Authorization": f"Bearer {session['access_token']}"})
        assert conn.getresponse().status == 200, port
        conn.close()


def test_redis_requires_its_password(cluster):
    with open(os.path.join(cluster.state, "redis.url")) as f:
        port = int(f.read().strip().rsplit(":", 1)[1])
    r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert "NOAUTH" in r.stdout + r.stderr, r
    with open(os.path.join(cluster.state, "redis_password")) as f:
        password = f.read().strip()
    r = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, REDISCLI_AUTH=password))
    assert r.stdout.strip() == "PONG", r
    # The password is on no command line.
    assert not [p for p in processes_mentioning(password) if password in cmdline(p)]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def test_requests_through_nginx_reach_both_instances(cluster):
    before = [healthz_count(cluster, p) for p in (cluster.port1, cluster.port2)]
    for _ in range(10):
        status, _body = cluster.get(cluster.port, "/healthz")
        assert status == 200
    after = [healthz_count(cluster, p) for p in (cluster.port1, cluster.port2)]
    served = [a - b for a, b in zip(after, before)]
    assert sum(served) == 10, served
    assert min(served) >= 1, f"nginx sent every request to one instance: {served}"


async def next_frame(ws, kind, timeout=10):
    """The next frame of the given type, skipping others (presence, typing...)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {kind} frame within {timeout}s")
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        if frame["type"] == kind:
            return frame


async def connect(cluster, token):
    ws = await websockets.connect(f"ws://127.0.0.1:{cluster.port}/ws?token={token}",
                                  open_timeout=10, close_timeout=5)
    await next_frame(ws, "ready")
    return ws


async def users_online(cluster):
    return {p: gauge(cluster, p, "parley_ws_users_online")
            for p in (cluster.port1, cluster.port2)}


async def connect_pair(cluster, a, b):
    """Connects a and b through nginx until their sessions sit on different instances;
    returns (ws_a, port_a, ws_b, port_b)."""
    before = await users_online(cluster)
    wa = await connect(cluster, a["access_token"])
    after = await users_online(cluster)
    port_a = next(p for p in after if after[p] > before[p])
    port_b = cluster.port2 if port_a == cluster.port1 else cluster.port1
    for _ in range(8):
        wb = await connect(cluster, b["access_token"])
        if (await users_online(cluster))[port_b] > after[port_b]:
            return wa, port_a, wb, port_b
        await wb.close()
    raise AssertionError("nginx never sent the second client to the other instance")


def direct_conversation(cluster, a, b):
    status, body = cluster.call("POST", "/api/conversations",
                                {"type": "direct", "participant_id": b["user"]["id"]},
                                a["access_token"])
    assert status in (200, 201), body
    return body["conversation"]["id"]


def test_websocket_upgrades_through_nginx(cluster):
    async def scenario():
        user = cluster.signup()
        ws = await connect(cluster, user["access_token"])
        await ws.send(json.dumps({"type": "ping"}))
        await next_frame(ws, "pong")
        await ws.close()
    asyncio.run(scenario())


def test_clients_on_different_instances_talk(cluster):
    a, b = cluster.signup(), cluster.signup()
    conv = direct_conversation(cluster, a, b)

    async def scenario():
        wa, port_a, wb, port_b = await connect_pair(cluster, a, b)
        assert port_a != port_b
        # WebSocket to WebSocket, across instances.
        await wa.send(json.dumps({"type": "message.send", "conversation_id": conv,
                                  "text": "hello from a", "client_id": "c1"}))
        ack = await next_frame(wa, "message.ack")
        got = await next_frame(wb, "message.new")
        assert got["message"]["text"] == "hello from a"
        assert got["message"]["seq"] == ack["message"]["seq"]
        # REST through nginx (either instance) to a WebSocket.
        status, body = cluster.call("POST", f"/api/conversations/{conv}/messages",
                                    {"text": "hello from b"}, b["access_token"])
        assert status == 201, body
        got = await next_frame(wa, "message.new")
        assert got["message"]["text"] == "hello from b"
        assert got["message"]["seq"] == ack["message"]["seq"] + 1
        await wa.close()
        await wb.close()
    asyncio.run(scenario())


def test_clients_of_a_stopped_instance_reconnect_and_recover_with_sync(cluster):
    """Runs late: it leaves one instance stopped."""
    a, b = cluster.signup(), cluster.signup()
    conv = direct_conversation(cluster, a, b)

    async def scenario():
        wa, port_a, wb, port_b = await connect_pair(cluster, a, b)
        await wa.send(json.dumps({"type": "message.send", "conversation_id": conv,
                                  "text": "before", "client_id": "before"}))
        await next_frame(wa, "message.ack")
        seen = (await next_frame(wb, "message.new"))["message"]["seq"]

        os.kill(cluster.instance_pid(port_b), signal.SIGTERM)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await next_frame(wb, "never", timeout=15)
        assert closed.value.rcvd and closed.value.rcvd.code == 1001, closed.value

        # Written while b is away, on the instance that still runs.
        sent = []
        for i in range(3):
            await wa.send(json.dumps({"type": "message.send", "conversation_id": conv,
                                      "text": f"missed {i}", "client_id": f"m{i}"}))
            sent.append((await next_frame(wa, "message.ack"))["message"])

        wb = await connect(cluster, b["access_token"])  # nginx: the surviving instance
        await wb.send(json.dumps({"type": "sync", "conversation_id": conv,
                                  "after_seq": seen}))
        result = await next_frame(wb, "sync.result")
        assert [m["text"] for m in result["messages"]] == [m["text"] for m in sent]
        assert [m["seq"] for m in result["messages"]] == [seen + 1, seen + 2, seen + 3]

        await wa.send(json.dumps({"type": "message.send", "conversation_id": conv,
                                  "text": "after", "client_id": "after"}))
        assert (await next_frame(wb, "message.new"))["message"]["text"] == "after"
        await wa.close()
        await wb.close()
    asyncio.run(scenario())


def test_second_start_refuses_and_leaves_the_cluster_running(cluster):
    r = cluster.run("start")
    assert r.returncode != 0
    assert "already running" in r.stderr
    status, _body = cluster.get(cluster.port, "/healthz")
    assert status == 200


def test_stop_leaves_no_process_behind(cluster):
    pids = cluster.pids()
    assert len(pids) >= 5, pids  # the five components, plus nginx's worker
    r = cluster.run("stop")
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.time() + 5  # the kernel may take a moment to reap
    while time.time() < deadline and any(proc_stat(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if proc_stat(p)]
    assert not left, f"still running after stop: {left}"
    assert not processes_mentioning(str(cluster.state)), "a process of the cluster survived"
    for port in (cluster.port, cluster.port1, cluster.port2, *cluster.metrics.values()):
        with pytest.raises(OSError):
            cluster.get(port, "/healthz")
    assert cluster.run("status").returncode == 3
