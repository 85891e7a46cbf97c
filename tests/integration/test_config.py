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


def test_env_example_names_only_real_settings():
    known = {f"PARLEY_{k.upper()}" for k in documented_keys()}
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
