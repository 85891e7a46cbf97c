"""The compose stack as docs/DEPLOY.md promises it, checked without a Docker engine:
the properties of `docker-compose config`'s output (pinned images, one build, hardening,
secrets through *_FILE variables, metrics not reachable through nginx, CIDR proxies),
and the helper scripts of docker/ run for real with their paths pointed at a
temporary directory (the keyFile copy, the Redis config with its password, served by
a real redis-server, the secrets generator, the init script's syntax). Run by
./scripts/test (part "deploy")."""
import http.client
import os
import pathlib
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER = os.path.join(ROOT, "docker")
PARLEYD = os.environ.get("PARLEYD", os.path.join(ROOT, "build", "parleyd"))
PARLEY_SERVICES = ["parley1", "parley2"]
THIRD_PARTY_CAPS = {"CHOWN", "SETUID", "SETGID"}
FILE_VARS = {  # what the Parley services must read from secrets
    "PARLEY_MONGO_URI_FILE", "PARLEY_REDIS_URL_FILE", "PARLEY_JWT_SECRET_FILE",
    "PARLEY_SECRET_KEY_FILE", "PARLEY_VAPID_PRIVATE_KEY_FILE",
}


@pytest.fixture(scope="module")
def config():
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (./scripts/deps test installs it)")
    env = dict(os.environ, PARLEY_ENV_FILE=os.path.join(ROOT, "config", "parley.env.example"))
    env.pop("PARLEY_IMAGE_TAG", None)
    out = subprocess.run(["docker-compose", "-f", os.path.join(DOCKER, "docker-compose.yml"),
                          "config"], env=env, capture_output=True, text=True, check=True,
                         stdin=subprocess.DEVNULL)
    return yaml.safe_load(out.stdout)


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return env


def secret_names(service):
    return [s if isinstance(s, str) else s["source"] for s in service.get("secrets") or []]


# ---- images ----

def test_images_are_pinned_to_maintained_lines(config):
    images = {name: s["image"] for name, s in config["services"].items()}
    for name, image in images.items():
        assert ":" in image.rsplit("/", 1)[-1], f"{name} uses {image} without a tag"
        assert not image.endswith(":latest"), f"{name} uses {image}"
    mongo = {images["mongo"], images["mongo-init"]}
    assert len(mongo) == 1 and re.fullmatch(r"mongo:(7\.0|8\.0)(\.\d+)?", images["mongo"]), mongo
    # Redis 7.2 is the last BSD line; later Redis changed licence (Valkey stays BSD).
    assert re.fullmatch(r"redis:7\.2(\.\d+)?|valkey/valkey:\d+\.\d+(\.\d+)?",
                        images["redis"]), images["redis"]
    assert re.fullmatch(r"nginx:1\.\d*[02468](\.\d+)?", images["nginx"]), \
        f"{images['nginx']} is not an nginx stable (even) line"


def test_the_parley_image_is_built_once(config):
    services = config["services"]
    built = [n for n, s in services.items() if "build" in s]
    assert built == ["parley1"], built
    image = services["parley1"]["image"]
    assert not image.endswith(":latest")
    for name in PARLEY_SERVICES:
        assert services[name]["image"] == image, name
    # parley2 starts after parley1, so `up` finds the built image instead of pulling it.
    assert "parley1" in services["parley2"]["depends_on"]


# ---- hardening ----

def test_every_service_has_a_memory_limit_and_rotated_logs(config):
    for name, s in config["services"].items():
        assert s.get("mem_limit"), f"{name} has no mem_limit (compose v1 ignores deploy:)"
        assert "deploy" not in s, f"{name}: compose v1 ignores deploy.resources"
        log = s.get("logging") or {}
        assert log.get("driver") == "json-file" and log["options"].get("max-size") \
            and log["options"].get("max-file"), f"{name} logs without a size limit"
        assert "no-new-privileges:true" in (s.get("security_opt") or []), name
        assert s.get("cap_drop") == ["ALL"], name


def test_parley_services_are_read_only_without_capabilities(config):
    for name in PARLEY_SERVICES:
        s = config["services"][name]
        assert s.get("read_only") is True, name
        assert s.get("tmpfs"), f"{name} needs a tmpfs for what it writes"
        assert not s.get("cap_add"), name
        assert not s.get("ports"), f"{name} publishes ports: only nginx should"


def test_third_party_images_keep_only_what_their_entrypoints_need(config):
    services = config["services"]
    for name in ["mongo", "redis"]:
        assert set(services[name].get("cap_add") or []) <= THIRD_PARTY_CAPS, name
    assert set(services["nginx"]["cap_add"]) <= THIRD_PARTY_CAPS | {"NET_BIND_SERVICE"}
    assert not services["mongo-init"].get("cap_add")


# ---- secrets ----

def test_secrets_reach_parley_through_file_variables(config):
    declared = config.get("secrets") or {}
    for name in PARLEY_SERVICES:
        s = config["services"][name]
        env = env_of(s)
        assert FILE_VARS <= set(env), f"{name} lacks {FILE_VARS - set(env)}"
        for var in FILE_VARS:
            m = re.fullmatch(r"/run/secrets/([a-z_]+)", env[var])
            assert m, f"{name}: {var}={env[var]}"
            assert m.group(1) in secret_names(s), f"{name} does not mount {m.group(1)}"
            assert "file" in declared[m.group(1)], m.group(1)
            # Never both: parleyd would refuse to start.
            assert not env.get(var[:-len("_FILE")]), f"{name} sets {var[:-5]} as well"


def test_no_secret_value_is_in_the_compose_file(config):
    text = open(os.path.join(DOCKER, "docker-compose.yml")).read()
    assert not re.search(r"(mongodb|redis)://[^\s\"']*@", text), "credentials in a URI"
    assert not re.search(r"PASSWORD:\s*\S", text.replace("PASSWORD_FILE", "")), text
    for name, s in config["services"].items():
        for k, v in env_of(s).items():
            if re.search(r"SECRET|PASSWORD|_URI$|_URL$", k):
                assert k.endswith("_FILE") or not v, f"{name}: {k} holds a value"


def test_mongo_is_a_replica_set_with_a_private_keyfile(config):
    mongo = config["services"]["mongo"]
    cmd = mongo["command"]
    assert cmd[cmd.index("--replSet") + 1] == "rs0"
    keyfile = cmd[cmd.index("--keyFile") + 1]
    assert not keyfile.startswith("/run/secrets/"), "mongod refuses a keyFile others can read"
    assert mongo["entrypoint"] == ["/parley/mongo-keyfile.sh"]
    assert "mongo_keyfile" in secret_names(mongo)
    assert env_of(mongo)["MONGO_INITDB_ROOT_PASSWORD_FILE"].startswith("/run/secrets/")
    init = config["services"]["mongo-init"]
    assert env_of(init)["MONGO_HOST"] == "mongo:27017"
    # The password is read by the script from the secret file, not passed on a command line.
    args = init["entrypoint"] + (init.get("command") or [])
    assert not any(a in ("-p", "--password", "-u", "--username") for a in args), args
    assert "mongo_root_password" in secret_names(init)
    for name in PARLEY_SERVICES:
        deps = config["services"][name]["depends_on"]
        assert deps["mongo-init"]["condition"] == "service_completed_successfully"


def test_redis_password_comes_from_a_secret(config):
    redis = config["services"]["redis"]
    assert redis["entrypoint"] == ["/parley/redis-entrypoint.sh"]
    assert "redis_password" in secret_names(redis)
    assert "requirepass" not in " ".join(redis.get("command") or [])
    check = " ".join(redis["healthcheck"]["test"])
    assert "REDISCLI_AUTH=" in check and "-a " not in check, check


# ---- the network: metrics private, proxies by range ----

def test_metrics_are_not_reachable_through_nginx(config):
    services = config["services"]
    ports = set()
    for name in PARLEY_SERVICES:
        listen = env_of(services[name])["PARLEY_METRICS_LISTEN"]
        ports.add(listen.rsplit(":", 1)[1])
    assert len(ports) == 1 and "8080" not in ports, ports
    metrics_port = ports.pop()
    # coturn publishes the TURN ports (and nothing of Parley's), checked below.
    published = [p for n, s in services.items() if n != "coturn" for p in s.get("ports") or []]
    turn = {str(p["target"]) for p in services["coturn"]["ports"]}
    assert not turn & {metrics_port, "8080"}, turn
    assert all(str(p.get("target") if isinstance(p, dict) else p).split(":")[-1] == "80"
               for p in published), published
    conf = open(os.path.join(DOCKER, "nginx.conf")).read()
    assert metrics_port not in re.findall(r"server\s+[\w.-]+:(\d+)", conf)
    assert re.findall(r"^\s*server\s+parley\d:(\d+)", conf, re.M) == ["8080", "8080"]
    # And should an instance ever serve /metrics on its main port, nginx still refuses.
    assert re.search(r"location\s*=\s*/metrics\s*\{\s*return\s+404;", conf), conf


def test_trusted_proxies_are_ranges_and_no_address_is_fixed(config):
    for name in PARLEY_SERVICES:
        proxies = env_of(config["services"][name])["PARLEY_TRUSTED_PROXIES"]
        assert all("/" in p for p in re.split(r"[ ,]+", proxies.strip())), proxies
    for name, s in config["services"].items():
        for net in (s.get("networks") or {}).values():
            assert not (net or {}).get("ipv4_address"), f"{name} has a fixed address"
    for net in (config.get("networks") or {}).values():
        assert not ((net or {}).get("ipam") or {}).get("config"), "a fixed subnet"


# ---- the helper scripts, run for real ----

def me():
    return pwd.getpwuid(os.getuid()).pw_name


def run(args, env=None, **kw):
    return subprocess.run(args, env=dict(os.environ, **(env or {})), capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL, **kw)


def test_keyfile_is_copied_private_to_its_owner(tmp_path):
    secret = tmp_path / "mongo_keyfile"
    secret.write_text("c2VjcmV0a2V5ZmlsZQ==" * 20 + "\n")
    secret.chmod(0o444)  # as a compose secret arrives: readable by everyone
    dst = tmp_path / "private" / "keyfile"
    env = {"MONGO_KEYFILE_SECRET": str(secret), "MONGO_KEYFILE": str(dst),
           "MONGO_KEYFILE_OWNER": me()}
    r = run([os.path.join(DOCKER, "mongo-keyfile.sh"), "stat", "-c", "%a %U", str(dst)], env)
    assert r.returncode == 0, r.stderr
    # The command given runs after the copy (exec), and sees the file as mongod would.
    assert r.stdout.split() == ["400", me()], r.stdout
    assert dst.read_text() == secret.read_text()
    # root's directory, which others may pass through but not list.
    assert stat.S_IMODE(os.stat(dst.parent).st_mode) == 0o711
    # Again (a restart): the old copy is replaced, not a reason to fail.
    secret.chmod(0o644)
    secret.write_text("bmV3a2V5ZmlsZQ==" * 20 + "\n")
    r = run([os.path.join(DOCKER, "mongo-keyfile.sh"), "true"], env)
    assert r.returncode == 0, r.stderr
    assert dst.read_text() == secret.read_text()
    assert stat.S_IMODE(os.stat(dst).st_mode) == 0o400


def as_in_the_container(config, service):
    """A command prefix that runs as root with only the capabilities compose grants the
    service (cap_drop ALL + its cap_add), or None when this test is not root."""
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        return None
    caps = ",".join("+" + c.lower() for c in config["services"][service].get("cap_add") or [])
    return ["setpriv", f"--bounding-set=-all,{caps}" if caps else "--bounding-set=-all",
            "--inh-caps=-all", "--no-new-privs"]


def read_as(user, path):
    return run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                "cat", str(path)])


@pytest.fixture
def open_tmp():
    """A temporary directory other users can pass through (pytest's is root's, 0700)."""
    d = tempfile.mkdtemp(prefix="parley-deploy-")
    os.chmod(d, 0o711)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_keyfile_copy_works_with_the_container_capabilities_and_again(config, open_tmp):
    """Root without DAC_OVERRIDE and FOWNER (compose keeps CHOWN, SETUID, SETGID) can
    neither chmod a file it gave away nor write into another user's private directory:
    the copy must work with those capabilities, and again at a restart."""
    prefix = as_in_the_container(config, "mongo")
    if prefix is None:
        pytest.skip("needs root and setpriv to drop capabilities")
    tmp_path = open_tmp
    secret = tmp_path / "mongo_keyfile"
    secret.write_text("a2V5ZmlsZQ==" * 30 + "\n")
    secret.chmod(0o444)
    dst = tmp_path / "private" / "keyfile"
    env = {"MONGO_KEYFILE_SECRET": str(secret), "MONGO_KEYFILE": str(dst),
           "MONGO_KEYFILE_OWNER": "daemon"}
    for _ in range(2):
        r = run(prefix + [os.path.join(DOCKER, "mongo-keyfile.sh"), "stat", "-c", "%a %U",
                          str(dst)], env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["400", "daemon"], r.stdout
    # mongod, as its own user, reads it; nobody else does.
    assert read_as("daemon", dst).stdout == secret.read_text()
    assert read_as("nobody", dst).returncode != 0


def test_redis_config_works_with_the_container_capabilities_and_again(config, open_tmp):
    prefix = as_in_the_container(config, "redis")
    if prefix is None:
        pytest.skip("needs root and setpriv to drop capabilities")
    env = redis_env(open_tmp, "abc123")
    env["REDIS_CONF_OWNER"] = "daemon"
    for _ in range(2):
        r = run(prefix + [os.path.join(DOCKER, "redis-entrypoint.sh"), "echo", "redis-server"],
                env)
        assert r.returncode == 0, r.stderr
    conf = env["REDIS_CONF"]
    assert "requirepass abc123" in read_as("daemon", conf).stdout
    assert read_as("nobody", conf).returncode != 0
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o400


def test_keyfile_missing_stops_mongo(tmp_path):
    env = {"MONGO_KEYFILE_SECRET": str(tmp_path / "nope"),
           "MONGO_KEYFILE": str(tmp_path / "k" / "keyfile"), "MONGO_KEYFILE_OWNER": me()}
    r = run([os.path.join(DOCKER, "mongo-keyfile.sh"), "touch", str(tmp_path / "ran")], env)
    assert r.returncode == 2 and "nope" in r.stderr, r
    assert not (tmp_path / "ran").exists()


def redis_env(tmp_path, password):
    secret = tmp_path / "redis_password"
    secret.write_text(password + "\n")
    return {"REDIS_PASSWORD_FILE": str(secret), "REDIS_CONF": str(tmp_path / "conf" / "redis.conf"),
            "REDIS_CONF_OWNER": me()}


def test_redis_config_is_generated_before_the_image_entrypoint(tmp_path):
    # A stand-in for the image's docker-entrypoint.sh that shows what it was given.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker-entrypoint.sh"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = redis_env(tmp_path, "abc123")
    env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    r = run([os.path.join(DOCKER, "redis-entrypoint.sh"), "docker-entrypoint.sh",
             "redis-server", "--loglevel", "warning"], env)
    assert r.returncode == 0, r.stderr
    conf = env["REDIS_CONF"]
    assert r.stdout.split("\n")[:3] == ["redis-server", conf, "--loglevel"], r.stdout
    assert "abc123" not in r.stdout  # not on the command line
    text = open(conf).read()
    assert "requirepass abc123\n" in text and 'save ""' in text, text
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o400
    assert pwd.getpwuid(os.stat(conf).st_uid).pw_name == me()


@pytest.mark.parametrize("password", ["", "two words", 'quo"te', "back\\slash", "new\nline"])
def test_redis_refuses_a_password_its_config_cannot_hold(tmp_path, password):
    r = run([os.path.join(DOCKER, "redis-entrypoint.sh"), "redis-server"],
            redis_env(tmp_path, password))
    assert r.returncode == 2 and "redis_password" in r.stderr, r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the process exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def secrets_dir(tmp_path):
    d = tmp_path / "secrets"
    r = run(["sh", os.path.join(DOCKER, "make-secrets.sh"), str(d)])
    assert r.returncode == 0, r.stderr
    return d


def test_make_secrets_writes_every_compose_secret_once(config, secrets_dir):
    d = secrets_dir
    declared = {os.path.basename(s["file"]) for s in config["secrets"].values()}
    assert declared <= set(os.listdir(d)), declared - set(os.listdir(d))
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for name in os.listdir(d):
        assert stat.S_IMODE(os.stat(d / name).st_mode) == 0o444, name
    assert re.fullmatch(r"[0-9a-f]{64}\n", (d / "secret_key").read_text())
    keyfile = (d / "mongo_keyfile").read_text().strip()
    assert 6 <= len(keyfile) <= 1024 and re.fullmatch(r"[A-Za-z0-9+/=]+", keyfile)
    uri = urllib.parse.urlsplit((d / "parley_mongo_uri").read_text().strip())
    assert uri.hostname == "mongo" and uri.port == 27017 and uri.username and uri.password
    q = urllib.parse.parse_qs(uri.query)
    assert q["replicaSet"] == ["rs0"] and q["w"] == ["majority"] and q["journal"] == ["true"]
    redis = urllib.parse.urlsplit((d / "parley_redis_url").read_text().strip())
    assert redis.password == (d / "redis_password").read_text().strip()
    before = {n: (d / n).read_text() for n in os.listdir(d)}
    r = run(["sh", os.path.join(DOCKER, "make-secrets.sh"), str(d)])
    assert r.returncode == 0 and {n: (d / n).read_text() for n in os.listdir(d)} == before


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
@pytest.mark.skipif(not os.access(PARLEYD, os.X_OK), reason=f"{PARLEYD} is not built")
def test_generated_secrets_run_redis_and_parley(config, secrets_dir, tmp_path):
    """redis-server started through redis-entrypoint.sh with make-secrets.sh's password
    refuses clients without it; the compose healthcheck passes; parleyd reads every
    secret through its *_FILE variable and its bus connects with the URL's password."""
    port = free_port()
    env = {"REDIS_PASSWORD_FILE": str(secrets_dir / "redis_password"),
           "REDIS_CONF": str(tmp_path / "redis" / "redis.conf"), "REDIS_CONF_OWNER": me()}
    redis = subprocess.Popen([os.path.join(DOCKER, "redis-entrypoint.sh"), "redis-server",
                              "--port", str(port), "--bind", "127.0.0.1",
                              "--dir", str(tmp_path)],
                             env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    parley = None
    try:
        wait_port(port, redis)
        r = run(["redis-cli", "-p", str(port), "ping"])
        assert "NOAUTH" in r.stdout + r.stderr, r
        # The compose healthcheck, with the secret's path and port of this test ("$$" in
        # `docker-compose config` output is the "$" the container's shell gets).
        check = config["services"]["redis"]["healthcheck"]["test"][1].replace("$$", "$")
        check = check.replace("/run/secrets/redis_password", str(secrets_dir / "redis_password"))
        check = check.replace("redis-cli", f"redis-cli -p {port}")
        assert run(["sh", "-c", check]).returncode == 0
        assert run(["sh", "-c", check.replace(str(secrets_dir), str(tmp_path))]).returncode != 0

        url = (secrets_dir / "parley_redis_url").read_text().replace("@redis:6379",
                                                                      f"@127.0.0.1:{port}")
        (tmp_path / "redis_url").write_text(url)
        pport, data = free_port(), tmp_path / "data"
        penv = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        penv.update({
            "PARLEY_PORT": str(pport), "PARLEY_DATA_DIR": str(data), "PARLEY_LOG_LEVEL": "warn",
            "PARLEY_JWT_SECRET_FILE": str(secrets_dir / "jwt_secret"),
            "PARLEY_SECRET_KEY_FILE": str(secrets_dir / "secret_key"),
            "PARLEY_VAPID_PRIVATE_KEY_FILE": str(secrets_dir / "vapid_private_key"),
            "PARLEY_REDIS_URL_FILE": str(tmp_path / "redis_url"),
        })
        parley = subprocess.Popen([PARLEYD], env=penv, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_port(pport, parley)
        deadline = time.time() + 10
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", pport, timeout=5)
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            body = resp.read().decode()
            conn.close()
            if resp.status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert resp.status == 200 and '"redis"' in body, body
        # The keys came from the files: none was generated in the data directory.
        assert not (data / "jwt_secret").exists() and not (data / "secret_key").exists()
        assert not (data / "vapid_private_key.pem").exists()
    finally:
        for p in (parley, redis):
            if p and p.poll() is None:
                p.terminate()
                p.wait(timeout=15)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_mongo_init_script_parses():
    r = run(["node", "--check", os.path.join(DOCKER, "mongo-init.js")])
    assert r.returncode == 0, r.stderr


def test_coturn_uses_the_secret_parley_signs_with(config, tmp_path):
    coturn = config["services"]["coturn"]
    assert "turn_secret" in secret_names(coturn)
    for name in PARLEY_SERVICES:
        s = config["services"][name]
        assert env_of(s)["PARLEY_TURN_SECRET_FILE"] == "/run/secrets/turn_secret"
        assert "turn_secret" in secret_names(s)
    published = {(p["target"], p.get("protocol", "tcp")) for p in coturn["ports"]}
    assert {(3478, "udp"), (3478, "tcp"), (5349, "tcp")} <= published
    # The script writes the configuration with the secret and runs the server.
    (tmp_path / "secret").write_text("abc123\n")
    (tmp_path / "show").write_text('#!/bin/sh\ncat "$2"\n')
    os.chmod(tmp_path / "show", 0o755)
    r = run(["sh", os.path.join(DOCKER, "coturn.sh")],
            env={"TURN_SECRET_FILE": str(tmp_path / "secret"), "TURN_CONF": str(tmp_path / "t.conf"),
                 "TURN_EXEC": str(tmp_path / "show"), "TURN_EXTERNAL_IP": "203.0.113.7"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "use-auth-secret" in lines and "static-auth-secret=abc123" in lines
    assert "external-ip=203.0.113.7" in lines and "denied-peer-ip=10.0.0.0-10.255.255.255" in lines
    assert stat.S_IMODE(os.stat(tmp_path / "t.conf").st_mode) == 0o600
    (tmp_path / "secret").write_text("bad secret\n")
    r = run(["sh", os.path.join(DOCKER, "coturn.sh")],
            env={"TURN_SECRET_FILE": str(tmp_path / "secret"), "TURN_CONF": str(tmp_path / "t.conf"),
                 "TURN_EXEC": str(tmp_path / "show")})
    assert r.returncode != 0
