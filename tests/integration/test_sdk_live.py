"""The web SDK (web/sdk/parley.js) against the real parleyd, on the store the
suite runs with: web/sdk/test/live.test.js renews a socket's token with auth /
auth.ok past the first token's expiry, and sees 4003 end the session when its
login is logged out elsewhere or the account is deleted."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT
from test_auth import FAST


def test_sdk_renewal_and_ended_sessions(start_server):
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    server = start_server(env=dict(FAST, PARLEY_ACCESS_TOKEN_TTL="10"))
    env = dict(os.environ, PARLEY_LIVE_URL=server.base_url)
    r = subprocess.run([node, "--experimental-websocket", "--test",
                        os.path.join(ROOT, "web", "sdk", "test", "live.test.js")],
                       env=env, capture_output=True, text=True, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    # Both ran (a skip would pass silently).
    assert "# pass 2" in out and "# skipped 0" in out, out
