"""Configuration as an operator meets it (API.md, Configuration; config/README.md):
bad values stop parleyd with exit 2 naming the setting, --help and --version exit 0,
precedence is defaults < file < environment < flags, and the documentation and
example files in config/ match the settings the binary knows."""
import http.client
import json
import os
import re
import subprocess
import tempfile

import pytest

from conftest import PARLEYD, ROOT, Server, free_port

CONFIG_DIR = os.path.join(ROOT, "config")


def run_parleyd(args=(), env=None, timeout=10):
    """Runs parleyd expecting it to exit by itself; a parleyd that starts serving
    instead is killed and fails the test."""
    data_dir = tempfile.mkdtemp(prefix="parley-config-")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    full_env.update({"PARLEY_DATA_DIR": data_dir, "PARLEY_PORT": str(free_port()),
                     "PARLEY_LOG_LEVEL": "warn"})
    full_env.update(env or {})
    try:
        return subprocess.run([PARLEYD, *args], env=full_env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"parleyd {args} with {env} kept running instead of exiting")
    finally:
        subprocess.run(["rm", "-rf", data_dir])


def write_config(tmp_path, content):
    path = tmp_path / "parley.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def documented_keys():
    """The settings parleyd itself lists in --help."""
    out = run_parleyd(["--help"]).stdout
    keys = re.findall(r"^  ([a-z][a-z0-9_]*)\s", out, re.M)
    assert "port" in keys and "mongo_uri" in keys, out
    return keys


@pytest.mark.parametrize("value", ["abc", "70000", "0", "-1", "80x", ""])
def test_bad_port_in_environment_exits_2_naming_it(value):
    r = run_parleyd(env={"PARLEY_PORT": value})
    assert r.returncode == 2, r
    assert "port" in r.stderr and "PARLEY_PORT" in r.stderr, r.stderr


@pytest.mark.parametrize("name,value", [
    ("PARLEY_LOG_LEVEL", "loud"),
    ("PARLEY_MONGO_URI", "http://localhost:27017"),
    ("PARLEY_REDIS_URL", "localhost:6379"),
    ("PARLEY_SECRET_KEY", "not-hex"),
    ("PARLEY_MAX_BODY_BYTES", "12"),
    ("PARLEY_WS_RATE", "many"),
])
def test_bad_value_in_environment_exits_2_naming_it(name, value):
    r = run_parleyd(env={name: value})
    assert r.returncode == 2, r
    assert name[len("PARLEY_"):].lower() in r.stderr, r.stderr


@pytest.mark.parametrize("content,named", [
    ('{"port": 8080,', "config"),                 # invalid JSON
    ("[8080]", "config"),                         # not an object
    ({"port": "8080"}, "port"),                   # a number given as a string
    ({"host": 127001}, "host"),                   # a string given as a number
    ({"ws_rate": 1.5}, "ws_rate"),                # not an integer
    ({"port": 70000}, "port"),                    # out of range
    ({"prot": 8080}, "prot"),                     # unknown key
    ('{"port": 8081, "port": 8082}', "port"),     # duplicated key
    ({"trusted_proxies": "10.0.0.0/40"}, "trusted_proxies"),  # prefix out of range
    ({"trusted_proxies": ["10.0.0.0/8"]}, "trusted_proxies"),  # not a string
    ({"metrics_listen": "[::1]:0"}, "metrics_listen"),         # port out of range
    ({"metrics_listen": 9100}, "metrics_listen"),              # not a string
])
def test_bad_config_file_exits_2_naming_it(tmp_path, content, named):
    path = write_config(tmp_path, content)
    r = run_parleyd(["--config", path])
    assert r.returncode == 2, r
    assert named in r.stderr, r.stderr
    if named == "config":
        assert path in r.stderr, r.stderr


def test_missing_config_file_exits_2(tmp_path):
    r = run_parleyd(["--config", str(tmp_path / "nowhere.json")])
    assert r.returncode == 2, r
    assert "nowhere.json" in r.stderr, r.stderr


@pytest.mark.parametrize("args,named", [(["--port", "abc"], "port"),
                                        (["--port=99999"], "port"),
                                        (["--bogus"], "--bogus")])
def test_bad_flag_exits_2_naming_it(args, named):
    r = run_parleyd(args)
    assert r.returncode == 2, r
    assert named in r.stderr, r.stderr


def test_version_exits_0():
    r = run_parleyd(["--version"])
    assert r.returncode == 0, r
    assert re.match(r"parleyd \d+\.\d+\.\d+", r.stdout), r.stdout


def test_help_exits_0_and_shows_usage():
    r = run_parleyd(["--help"])
    assert r.returncode == 0, r
    assert "usage: parleyd" in r.stdout and "--config" in r.stdout and "--port" in r.stdout


def answers(port):
    """True when something on 127.0.0.1:port answers GET /healthz with 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def start_with(tmp_path, file_port, env_port=None, flag_port=None):
    """Starts parleyd with a config file naming file_port, and optionally PARLEY_PORT
    and --port; returns the Server, which listens on the port that won."""
    path = write_config(tmp_path, {"port": file_port, "log_level": "warn"})
    args = ["--config", path] + (["--port", str(flag_port)] if flag_port else [])
    s = Server(args=args, port=flag_port or env_port or file_port)
    if env_port:
        s.env["PARLEY_PORT"] = str(env_port)
    else:
        del s.env["PARLEY_PORT"]
    return s.start()


def test_precedence_file_then_environment_then_flag(tmp_path):
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    for env, flag, winner in [(None, None, file_port),
                              (env_port, None, env_port),
                              (env_port, flag_port, flag_port)]:
        s = start_with(tmp_path, file_port, env, flag)
        try:
            assert answers(winner), f"port {winner} should answer /healthz"
            for other in {file_port, env_port, flag_port} - {winner}:
                assert not answers(other), f"port {other} should not be listening"
        finally:
            s.cleanup()


def test_config_file_from_PARLEY_CONFIG(tmp_path):
    port = free_port()
    path = write_config(tmp_path, {"port": port})
    s = Server()
    s.env["PARLEY_CONFIG"] = path
    del s.env["PARLEY_PORT"]
    s.port = port
    try:
        s.start()
        assert answers(port)
    finally:
        s.cleanup()


def test_every_setting_is_documented():
    with open(os.path.join(CONFIG_DIR, "README.md")) as f:
        readme = f.read()
    missing = [k for k in documented_keys()
               if f"`{k}`" not in readme or f"`PARLEY_{k.upper()}`" not in readme]
    assert not missing, f"config/README.md does not document {missing}"


def test_example_file_lists_every_setting_and_is_accepted():
    path = os.path.join(CONFIG_DIR, "parley.example.json")
    with open(path) as f:
        example = json.load(f)
    assert sorted(example) == sorted(documented_keys())
    # The environment overrides the example's port and data_dir, which must not clash
    # with anything else running here.
    s = Server(args=["--config", path])
    try:
        s.start()
        assert answers(s.port)
    finally:
        s.cleanup()


def file_keys():
    """The settings --help says may come from a PARLEY_<KEY>_FILE."""
    out = run_parleyd(["--help"]).stdout
    m = re.search(r"PARLEY_<KEY>_FILE:([a-z0-9_ ]+)$", out, re.M)
    assert m, out
    return m.group(1).split()


def test_help_lists_the_settings_read_from_files():
    assert sorted(file_keys()) == sorted(FILE_SETTINGS)


def test_env_example_names_only_real_settings():
    known = {f"PARLEY_{k.upper()}" for k in documented_keys()}
    known |= {f"PARLEY_{k.upper()}_FILE" for k in file_keys()}
    with open(os.path.join(CONFIG_DIR, "parley.env.example")) as f:
        names = re.findall(r"^(PARLEY_[A-Z0-9_]+)=", f.read(), re.M)
    assert names, "parley.env.example sets nothing"
    unknown = [n for n in names if n not in known]
    assert not unknown, f"parley.env.example sets unknown variables {unknown}"

    # Empty means unset: the server must start with the file exactly as shipped.
    with open(os.path.join(CONFIG_DIR, "parley.env.example")) as f:
        env = dict(line.split("=", 1) for line in f.read().splitlines()
                   if line.startswith("PARLEY_"))
    s = Server(env=env)
    try:
        s.start()
        assert answers(s.port)
    finally:
        s.cleanup()


# ---- secrets from files, CIDR proxies, the metrics listener (issue 12) ----

FILE_SETTINGS = ["jwt_secret", "secret_key", "ig_app_secret", "mongo_uri", "redis_url",
                 "smtp_url", "smtp_password", "turn_secret", "s3_access_key", "s3_secret_key",
                 "vapid_private_key"]


@pytest.mark.parametrize("key", FILE_SETTINGS)
def test_missing_secret_file_exits_2_naming_it(tmp_path, key):
    var = f"PARLEY_{key.upper()}_FILE"
    r = run_parleyd(env={var: str(tmp_path / "no-such-file")})
    assert r.returncode == 2, r
    assert key in r.stderr and var in r.stderr and "no-such-file" in r.stderr, r.stderr


@pytest.mark.parametrize("key,value", [
    ("jwt_secret", "a-secret"), ("secret_key", "ab" * 32), ("ig_app_secret", "app-secret"),
    ("mongo_uri", "mongodb://u:p@mongo:27017/parley"), ("redis_url", "redis://:pw@redis:6379"),
])
def test_both_setting_and_its_file_exit_2_naming_both(tmp_path, key, value):
    path = tmp_path / "secret"
    path.write_text(value + "\n")
    var = f"PARLEY_{key.upper()}"
    r = run_parleyd(env={var: value, var + "_FILE": str(path)})
    assert r.returncode == 2, r
    assert key in r.stderr and var in r.stderr and var + "_FILE" in r.stderr, r.stderr


@pytest.mark.parametrize("content,why", [
    ("", "empty"), ("\n", "empty"), ("x" * 70000, "larger"), ("a\0b", "NUL"),
], ids=["empty", "newline", "70000-bytes", "nul"])
def test_bad_secret_file_exits_2(tmp_path, content, why):
    path = tmp_path / "secret"
    path.write_text(content)
    r = run_parleyd(env={"PARLEY_JWT_SECRET_FILE": str(path)})
    assert r.returncode == 2, r
    assert "jwt_secret" in r.stderr and why in r.stderr, r.stderr


def test_unreadable_secret_file_exits_2(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    path.chmod(0)
    r = run_parleyd(env={"PARLEY_JWT_SECRET_FILE": str(path)})
    assert r.returncode == 2, r
    assert "PARLEY_JWT_SECRET_FILE" in r.stderr and "Permission denied" in r.stderr, r.stderr


def test_a_directory_as_secret_file_exits_2(tmp_path):
    r = run_parleyd(env={"PARLEY_SECRET_KEY_FILE": str(tmp_path)})
    assert r.returncode == 2, r
    assert "secret_key" in r.stderr and "PARLEY_SECRET_KEY_FILE" in r.stderr, r.stderr


def test_a_secret_file_value_is_checked_like_the_variable(tmp_path):
    path = tmp_path / "uri"
    path.write_text("http://mongo:27017\n")
    r = run_parleyd(env={"PARLEY_MONGO_URI_FILE": str(path)})
    assert r.returncode == 2, r
    assert "mongo_uri" in r.stderr and "PARLEY_MONGO_URI_FILE" in r.stderr, r.stderr
    # The secret itself never appears in the message.
    path.write_text("mongodb-with-a-typo://user:hunter2@mongo\n")
    r = run_parleyd(env={"PARLEY_MONGO_URI_FILE": str(path)})
    assert r.returncode == 2 and "hunter2" not in r.stderr, r


def test_jwt_secret_from_file_signs_tokens(tmp_path, start_server):
    """The file's value (its newline trimmed) is the key: a token issued by an instance
    that read it from a file is accepted by one given the same value directly, and
    nothing is generated in the data directory."""
    secret = "file-secret-0123456789abcdef0123456789"
    path = tmp_path / "jwt"
    path.write_text(secret + "\n")
    data = tempfile.mkdtemp(prefix="parley-config-")
    try:
        a = start_server(env={"PARLEY_JWT_SECRET": "", "PARLEY_JWT_SECRET_FILE": str(path)},
                         data_dir=data)
        token = a.signup()["access_token"]
        assert a.request("GET", "/api/auth/me", token=token).status == 200
        a.stop()
        assert not os.path.exists(os.path.join(data, "jwt_secret"))
        # The same store (on MongoDB each server gets its own database otherwise).
        same = {k: v for k, v in a.env.items() if k == "PARLEY_MONGO_URI"}
        b = start_server(env={"PARLEY_JWT_SECRET": secret, **same}, data_dir=data)
        assert b.request("GET", "/api/auth/me", token=token).status == 200
        b.stop()
        c = start_server(env={"PARLEY_JWT_SECRET": secret + "\n", **same}, data_dir=data)
        assert c.request("GET", "/api/auth/me", token=token).status == 401
    finally:
        subprocess.run(["rm", "-rf", data])


@pytest.mark.parametrize("value", [
    "10.0.0.0/33", "fd00::/129", "10.0.0.1/8", "10.0.0.0/", "nginx", "10.0.0.0/8, 300.1.1.1",
    "0.0.0.0/-1",
])
def test_bad_trusted_proxies_exit_2_naming_it(value):
    r = run_parleyd(env={"PARLEY_TRUSTED_PROXIES": value})
    assert r.returncode == 2, r
    assert "trusted_proxies" in r.stderr and "PARLEY_TRUSTED_PROXIES" in r.stderr, r.stderr


@pytest.mark.parametrize("value", [
    "9100", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:9100", "[::1]", "host:9100",
    "127.0.0.1:91a", "[127.0.0.1]:9100",
])
def test_bad_metrics_listen_exits_2_naming_it(value):
    r = run_parleyd(env={"PARLEY_METRICS_LISTEN": value})
    assert r.returncode == 2, r
    assert "metrics_listen" in r.stderr and "PARLEY_METRICS_LISTEN" in r.stderr, r.stderr


def test_metrics_listen_on_the_main_port_exits_2():
    port = free_port()
    r = run_parleyd(env={"PARLEY_PORT": str(port), "PARLEY_METRICS_LISTEN": f"127.0.0.1:{port}"})
    assert r.returncode == 2, r
    assert "metrics_listen" in r.stderr, r.stderr


def test_metrics_listen_port_in_use_fails_start_up():
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = run_parleyd(env={"PARLEY_METRICS_LISTEN": f"127.0.0.1:{busy.getsockname()[1]}"})
    assert r.returncode == 1, r
    assert "metrics_listen" in r.stderr, r.stderr


def get(host, port, path, method="GET", headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def ipv6_loopback():
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_metrics_on_their_own_listener(start_server, host):
    if host == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    mport = free_port()
    listen = f"[{host}]:{mport}" if ":" in host else f"{host}:{mport}"
    s = start_server(env={"PARLEY_METRICS_LISTEN": listen})
    # The main port no longer serves /metrics; the rest of it is unchanged.
    assert s.request("GET", "/metrics").status == 404
    assert s.request("GET", "/healthz").status == 200
    s.signup()
    status, body = get(host, mport, "/metrics")
    assert status == 200, body
    assert re.search(r"^parley_connections_open \d+", body, re.M), body
    # The request counters include what the main port served.
    assert '/api/auth/signup' in body, body
    # The metrics listener serves /metrics and /healthz and nothing else.
    assert get(host, mport, "/healthz")[0] == 200
    for path in ["/readyz", "/api/auth/me", "/ws", "/", "/metrics/x", "/api/auth/signup"]:
        assert get(host, mport, path)[0] == 404, path
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert get(host, mport, "/ws", headers=upgrade)[0] == 404
    assert get(host, mport, "/api/auth/signup", method="OPTIONS",
               headers={"Origin": "https://x", "Access-Control-Request-Method": "POST"})[0] == 404
    # Both listeners close at shutdown.
    assert s.stop() == 0
    import socket
    with pytest.raises(OSError):
        socket.create_connection((host, mport), timeout=1).close()


def test_metrics_stay_on_the_main_port_by_default(server):
    r = server.request("GET", "/metrics")
    assert r.status == 200 and b"parley_connections_open" in r.body


def test_trusted_proxy_ranges_name_the_client(start_server):
    """With the proxy's range trusted, the per-address login limit counts the addresses
    X-Forwarded-For names; with a range that does not hold the peer, it counts the peer."""
    def logins(server, xff):
        return [server.request("POST", "/api/auth/login",
                               {"email": f"x{i}@example.com", "password": "wrong password"},
                               headers={"X-Forwarded-For": xff}).status for i in range(3)]

    fast = {"PARLEY_AUTH_RATE_PER_IP": "2", "PARLEY_ARGON2_OPSLIMIT": "1",
            "PARLEY_ARGON2_MEMLIMIT": "8192"}
    s = start_server(env=dict(fast, PARLEY_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.0/8, ::1"))
    assert logins(s, "198.51.100.7") == [401, 401, 429]
    # Another client behind the same proxy has its own bucket; a trusted hop
    # (10.1.2.3, in 10.0.0.0/8) is skipped.
    assert logins(s, "203.0.113.9, 10.1.2.3") == [401, 401, 429]
    s.stop()
    t = start_server(env=dict(fast, PARLEY_TRUSTED_PROXIES="10.0.0.0/8"))
    assert logins(t, "198.51.100.7") == [401, 401, 429]
    assert logins(t, "203.0.113.9")[0] == 429  # the same peer, 127.0.0.1, counted
