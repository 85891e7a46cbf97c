"""The image's start, without a Docker engine: a directory laid out as docker/Dockerfile
lays out the image (its COPY lines and the directories its RUN lines make, with their
owners and modes), then the ENTRYPOINT run from the WORKDIR with the image's ENV, as
the image's unprivileged user, against an empty data volume, as `docker run` of the
image alone would (SQLite mode). It must create its database and secrets and answer
/healthz.

As root, the user is the image's uid (setpriv); otherwise it is the caller, and the
root-owned directories are made unwritable instead.

PARLEYD: the parleyd to put in the image (./scripts/test passes build-release/parleyd,
the Dockerfile's own build).
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerfile  # noqa: E402

ROOT = dockerfile.ROOT
PARLEYD = os.environ.get("PARLEYD", os.path.join(ROOT, "build-release", "parleyd"))
DF = dockerfile.parse()
FINAL = DF.final
AS_ROOT = os.geteuid() == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_user():
    name = FINAL.all("USER")[-1].args
    uid = dockerfile.users(FINAL)[name]
    return (uid, uid) if AS_ROOT else (os.getuid(), os.getgid())


class Image:
    """The image's files under a private root directory."""

    def __init__(self, data_in_image=True):
        self.uid, self.gid = image_user()
        self.root = tempfile.mkdtemp(prefix="parley-image-")
        os.chmod(self.root, 0o755)  # the image's user must reach its files
        self.users_dirs = set()
        user = FINAL.all("USER")[-1].args
        volume = FINAL.all("VOLUME")[-1]
        self.volume = volume.args
        self.workdir = FINAL.all("WORKDIR")[-1].args
        made = dockerfile.directories(FINAL, upto=volume)
        if not data_in_image:
            made.pop(self.volume, None)
        for path, d in sorted(made.items()):
            self.mkdir(path, d["mode"], d["owner"] == user)
        for path in (self.workdir, self.volume):
            if path not in made:
                # What docker does with a WORKDIR or VOLUME path the image lacks.
                self.mkdir(path, 0o755, False)
        for i in FINAL.all("COPY"):
            words = i.args.split()
            src, dest = words[-2], words[-1]
            if words[0] == "--from=web":
                continue  # the web client's stage: here the server starts API-only
            local = PARLEYD if src.endswith("/parleyd") else os.path.join(ROOT, src)
            p = self.path(dest)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            shutil.copy(local, p)
            os.chmod(p, 0o755)
        if not AS_ROOT:
            # Not root, so everything is ours: what is root's in the image is made
            # unwritable instead.
            for dirpath, _, _ in os.walk(self.root):
                if dirpath not in self.users_dirs:
                    os.chmod(dirpath, os.stat(dirpath).st_mode & 0o555)
        self.log = open(os.path.join(tempfile.gettempdir(), os.path.basename(self.root) + ".log"),
                        "w+")

    def path(self, image_path):
        return os.path.join(self.root, image_path.lstrip("/"))

    def mkdir(self, image_path, mode, users):
        p = self.path(image_path)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
        if users:
            self.users_dirs.add(p)
            if AS_ROOT:
                os.chown(p, self.uid, self.gid)

    def start(self, port, extra_env=None):
        entry = dockerfile.json_list(FINAL.all("ENTRYPOINT")[-1])
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        if "PARLEY_TEST_RUN" in os.environ:  # ./scripts/test's mark, to stop leftovers
            env["PARLEY_TEST_RUN"] = os.environ["PARLEY_TEST_RUN"]
        for i in FINAL.all("ENV"):
            k, _, v = i.args.partition("=")
            env[k] = v
        # As `docker run -e`: the port, and loopback rather than every interface here.
        env.update(PARLEY_HOST="127.0.0.1", PARLEY_PORT=str(port))
        env.update(extra_env or {})
        argv = [self.path(entry[0])] + entry[1:]
        if AS_ROOT:
            argv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                    "--"] + argv
        return subprocess.Popen(argv, cwd=self.path(self.workdir), env=env, stdout=self.log,
                                stderr=subprocess.STDOUT)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def remove(self):
        self.log.close()
        if getattr(self, "secrets", None):
            shutil.rmtree(self.secrets)
        os.unlink(self.log.name)
        for dirpath, _, _ in os.walk(self.root):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(self.root)


@pytest.fixture
def image():
    assert os.access(PARLEYD, os.X_OK), f"no parleyd at {PARLEYD} (set PARLEYD)"
    images = []

    def make(**kw):
        images.append(Image(**kw))
        return images[-1]

    yield make
    for i in images:
        i.remove()


def healthz(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", "/healthz")
        return c.getresponse().status
    finally:
        c.close()


def wait_healthy(proc, port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if healthz(port) == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def test_image_alone_starts_as_its_user_and_keeps_its_data_in_the_volume(image):
    img = image()
    before = sorted(os.listdir(img.path(img.workdir)))
    port = free_port()
    proc = img.start(port)
    try:
        assert wait_healthy(proc, port), img.output()
    finally:
        assert stop(proc) == 0, img.output()
    data = img.path(img.volume)
    for name, private in (("parley.db", False), ("jwt_secret", True), ("secret_key", True)):
        st = os.stat(os.path.join(data, name))
        assert (st.st_uid, st.st_gid) == (img.uid, img.gid), name
        if private:
            assert st.st_mode & 0o077 == 0, f"{name} mode {st.st_mode & 0o777:o}"
    # Nothing was written outside the volume.
    assert sorted(os.listdir(img.path(img.workdir))) == before


def test_restart_keeps_the_secrets(image):
    img = image()
    secrets = []
    for _ in range(2):
        port = free_port()
        proc = img.start(port)
        try:
            assert wait_healthy(proc, port), img.output()
        finally:
            assert stop(proc) == 0, img.output()
        with open(img.path(img.volume + "/jwt_secret")) as f:
            secrets.append(f.read())
    assert secrets[0] and secrets[0] == secrets[1]


def test_without_the_data_directory_in_the_image_it_cannot_start(image):
    # What the image did before the directory was made in it: the volume is root's.
    img = image(data_in_image=False)
    port = free_port()
    proc = img.start(port)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail("parleyd started without a writable data directory")
    assert rc != 0
    assert "data/parley.db" in img.output()


def secret_file(img, name, value):
    """A file as docker mounts a secret, readable by the image's user (outside the image's
    root, which is read-only when the tests do not run as root)."""
    if not getattr(img, "secrets", None):
        img.secrets = tempfile.mkdtemp(prefix="parley-secrets-")
        os.chmod(img.secrets, 0o755)
    p = os.path.join(img.secrets, name)
    with open(p, "w") as f:
        f.write(value + "\n")
    os.chmod(p, 0o644)
    return p


@pytest.mark.parametrize("how", ["env", "file"])
def test_a_shared_bus_without_shared_keys_is_refused(image, how):
    # A Redis URL given either way (PARLEY_REDIS_URL or PARLEY_REDIS_URL_FILE) means
    # instances share a bus, and then each one generating its own keys breaks sessions.
    img = image()
    url = f"redis://127.0.0.1:{free_port()}/0"
    if how == "env":
        extra = {"PARLEY_REDIS_URL": url}
    else:
        extra = {"PARLEY_REDIS_URL_FILE": secret_file(img, "redis_url", url)}
    proc = img.start(free_port(), extra)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail("started on a shared bus without shared keys")
    assert rc == 2, img.output()
    assert "PARLEY_JWT_SECRET and PARLEY_SECRET_KEY" in img.output()


def test_shared_keys_from_files_satisfy_the_shared_bus_check(image):
    img = image()
    files = {"redis_url": f"redis://127.0.0.1:{free_port()}/0",
             "jwt_secret": "a" * 64, "secret_key": "0f" * 32}
    extra = {f"PARLEY_{name.upper()}_FILE": secret_file(img, name, value)
             for name, value in files.items()}
    port = free_port()
    proc = img.start(port, extra)
    try:
        # Redis is not running there: parleyd still starts and serves /healthz, which
        # shows the entry point let it through.
        assert wait_healthy(proc, port), img.output()
    finally:
        stop(proc)
    assert "must be set" not in img.output()
