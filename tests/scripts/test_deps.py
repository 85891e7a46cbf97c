"""scripts/deps on machines it cannot see from here: stub dpkg-query, apt-get, sudo,
id, node and npm come first on a PATH that holds nothing else but the few tools the
script uses, so no real package, node or apt is involved.

The stub dpkg-query answers like the real one: a line per package it knows, "no
packages found" on stderr and exit status 1 when one is unknown. The stub apt-get
records each call; the stub sudo records itself and runs the rest.
"""
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(ROOT, "scripts", "deps")


def script_packages(name):
    """A package array of scripts/deps, read from the script."""
    with open(DEPS, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^%s=\(([^)]*)\)" % name, text, re.M)
    assert m, f"scripts/deps defines no {name}"
    return m.group(1).split()


BUILD = script_packages("BUILD_PKGS")
TEST = script_packages("TEST_PKGS")
NODE = ["nodejs", "npm"]

# What the script may run besides the stubs; all else is absent from PATH.
TOOLS = ["bash", "env", "sed", "tr", "cat"]

DPKG_QUERY = r"""#!/bin/sh
# Known packages: $STUB_KNOWN ("pkg:ii" installed, "pkg:un" known, not installed).
echo "dpkg-query $*" >>"$STUB_LOG"
rc=0
for arg in "$@"; do
  case "$arg" in -*) continue ;; esac
  found=
  for entry in $STUB_KNOWN; do
    if [ "${entry%%:*}" = "$arg" ]; then
      printf '%s:%s \n' "$arg" "${entry#*:}"
      found=1
    fi
  done
  if [ -z "$found" ]; then
    echo "dpkg-query: no packages found matching $arg" >&2
    rc=1
  fi
done
exit $rc
"""

APT_GET = r"""#!/bin/sh
# Installing nodejs or npm puts Debian's node 18 or npm on PATH, as the real ones do.
echo "apt-get $*" >>"$STUB_LOG"
case "$1" in
  update) [ "${STUB_APT_FAIL:-}" = update ] && { echo "E: update failed" >&2; exit 100; } ;;
  install) [ "${STUB_APT_FAIL:-}" = install ] && { echo "E: Unable to locate package" >&2; exit 100; } ;;
esac
for arg in "$@"; do
  case "$arg" in
    nodejs) printf '#!/bin/sh\necho v18.19.0\n' >"$STUB_BIN/node" && /bin/chmod +x "$STUB_BIN/node" ;;
    npm) printf '#!/bin/sh\necho 9.2.0\n' >"$STUB_BIN/npm" && /bin/chmod +x "$STUB_BIN/npm" ;;
  esac
done
exit 0
"""

SUDO = r"""#!/bin/sh
echo "sudo $*" >>"$STUB_LOG"
exec "$@"
"""

ID = r"""#!/bin/sh
[ "$1" = -u ] && { echo "${STUB_UID:-1000}"; exit 0; }
exit 1
"""

NODE_STUB = r"""#!/bin/sh
[ "$1" = --version ] && { echo "$STUB_NODE_VERSION"; exit 0; }
exit 1
"""

NPM_STUB = "#!/bin/sh\necho 11.0.0\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o755)


class Machine:
    """A PATH of stubs and the log of what the script called."""

    def __init__(self, tmp_path, node=None, npm=True):
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.log = tmp_path / "calls.log"
        self.log.write_text("")
        for name, text in [("dpkg-query", DPKG_QUERY), ("apt-get", APT_GET), ("sudo", SUDO),
                           ("id", ID)]:
            write(self.bin / name, text)
        if node is not None:
            write(self.bin / "node", NODE_STUB)
            if npm:
                write(self.bin / "npm", NPM_STUB)
        self.node = node
        for tool in TOOLS:
            real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                  text=True, check=True).stdout.strip()
            os.symlink(real, self.bin / tool)

    def run(self, mode="test", known=(), apt_fail="", uid=1000):
        env = {
            "PATH": str(self.bin),
            "STUB_LOG": str(self.log),
            "STUB_BIN": str(self.bin),
            "STUB_KNOWN": " ".join(known),
            "STUB_APT_FAIL": apt_fail,
            "STUB_UID": str(uid),
            "STUB_NODE_VERSION": self.node or "",
        }
        return subprocess.run(["/usr/bin/env", "bash", DEPS, mode], env=env,
                              capture_output=True, text=True, timeout=60)

    def calls(self):
        return self.log.read_text().splitlines()

    def installed(self):
        """The packages of each apt-get install, in order (apt-get's own record)."""
        out = []
        for line in self.calls():
            words = line.split()
            if words[:2] == ["apt-get", "install"]:
                args = words[2:]
                out.append([a for a in args if not a.startswith("-")])
        return out


def installed_all(names):
    return [f"{n}:ii" for n in names]


def test_fresh_machine_installs_every_missing_package(tmp_path):
    # dpkg knows none of them: each lookup fails and dpkg-query exits 1.
    m = Machine(tmp_path, node="v20.11.1")
    r = m.run("test")
    assert r.returncode == 0, r.stderr
    assert m.installed() == [BUILD + TEST]
    calls = m.calls()
    assert any(c.startswith("sudo apt-get update") for c in calls), calls
    assert any(c.startswith("sudo env DEBIAN_FRONTEND=noninteractive apt-get install") for c in
               calls), calls


def test_only_the_missing_ones_are_installed(tmp_path):
    m = Machine(tmp_path, node="v20.11.1")
    missing = ["libuv1-dev", "esbuild", "chromium-driver"]
    present = [p for p in BUILD + TEST if p not in missing]
    # One known but not installed ("un"): still missing.
    r = m.run("test", known=installed_all(present) + ["esbuild:un"])
    assert r.returncode == 0, r.stderr
    assert m.installed() == [missing]


def test_build_mode_leaves_the_test_tools_alone(tmp_path):
    m = Machine(tmp_path, node="v20.11.1")
    r = m.run("build")
    assert r.returncode == 0, r.stderr
    assert m.installed() == [BUILD]
    assert not set(TEST) & set(m.installed()[0])


def test_nothing_installed_when_everything_is_present(tmp_path):
    m = Machine(tmp_path, node="v20.11.1")
    r = m.run("test", known=installed_all(BUILD + TEST))
    assert r.returncode == 0, r.stderr
    assert [c for c in m.calls() if "apt-get" in c] == []
    assert r.stdout == ""


def test_root_needs_no_sudo(tmp_path):
    m = Machine(tmp_path, node="v20.11.1")
    r = m.run("build", uid=0)
    assert r.returncode == 0, r.stderr
    assert m.installed() == [BUILD]
    assert not [c for c in m.calls() if c.startswith("sudo")]


@pytest.mark.parametrize("step", ["install", "update"])
def test_failing_apt_get_fails_naming_the_packages(tmp_path, step):
    m = Machine(tmp_path, node="v20.11.1")
    present = [p for p in BUILD if p not in ("cmake", "libjwt-dev")]
    r = m.run("build", known=installed_all(present), apt_fail=step)
    assert r.returncode != 0
    assert f"apt-get {step} failed" in r.stderr
    assert "cmake libjwt-dev" in r.stderr.splitlines()[-1]


def test_new_enough_node_means_no_nodejs_or_npm_package(tmp_path):
    # NodeSource's node 20 with its own npm: Debian's npm would conflict with it.
    m = Machine(tmp_path, node="v20.11.1")
    r = m.run("test")
    assert r.returncode == 0, r.stderr
    packages = m.installed()[0]
    assert "nodejs" not in packages and "npm" not in packages
    assert "nodejs" not in " ".join(c for c in m.calls() if c.startswith("dpkg-query"))


def test_no_node_installs_nodejs_and_npm(tmp_path):
    m = Machine(tmp_path, node=None)
    r = m.run("build")
    assert r.returncode == 0, r.stderr
    assert m.installed() == [BUILD + NODE]


def test_node_still_missing_after_install_fails(tmp_path):
    # nodejs and npm count as installed, yet no node answers: said, not hidden.
    m = Machine(tmp_path, node=None)
    r = m.run("build", known=installed_all(BUILD + NODE))
    assert m.installed() == []
    assert r.returncode != 0
    assert "need node >= 18 and npm" in r.stderr


def test_old_node_installs_nodejs_and_npm(tmp_path):
    m = Machine(tmp_path, node="v12.22.12")
    r = m.run("build", known=installed_all(BUILD))
    assert r.returncode == 0, r.stderr
    assert m.installed() == [NODE]


def test_node_without_npm_installs_them(tmp_path):
    m = Machine(tmp_path, node="v20.11.1", npm=False)
    r = m.run("build", known=installed_all(BUILD))
    assert r.returncode == 0, r.stderr
    assert m.installed() == [NODE]


def test_debian_node_already_installed_is_enough(tmp_path):
    # Debian's own node 18 and npm: dpkg knows them, nothing to do.
    m = Machine(tmp_path, node="v18.19.0")
    r = m.run("test", known=installed_all(BUILD + TEST))
    assert r.returncode == 0, r.stderr
    assert m.installed() == []


def test_unknown_mode_is_refused(tmp_path):
    m = Machine(tmp_path, node="v20.11.1")
    r = m.run("everything")
    assert r.returncode == 2
    assert "usage" in r.stderr
    assert m.calls() == []
