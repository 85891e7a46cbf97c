"""Keys every instance on one store must share (docs/DEPLOY.md, Keys every instance
shares): the secret key that seals Instagram tokens and bots' secrets, and the VAPID
key browsers subscribed to Web Push with. The first instance records each key's
fingerprint in the store; an instance started with another key on the same store
stops before it is ready, says which key, and changes nothing, on both stores."""
import os
import tempfile
import uuid

from conftest import mongo_uri

KEY_A, KEY_B = "a1" * 32, "b2" * 32
VAPID_B = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI"  # 0x22 * 32, base64url


def same_store(tmp_path):
    """start_server arguments that put servers on one store."""
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        return {"env": {"PARLEY_MONGO_URI": mongo_uri(f"parley_keys_{uuid.uuid4().hex[:10]}")}}
    return {"data_dir": str(tmp_path)}


def start(start_server, where, **env):
    kw = dict(where)
    kw["env"] = dict(where.get("env", {}), **env)
    if "data_dir" not in kw:  # each its own data directory, as on separate machines
        kw["data_dir"] = tempfile.mkdtemp(prefix="parley-keys-")
    return start_server(**kw)


def refused(start_server, where, **env):
    kw = dict(where)
    kw["env"] = dict(where.get("env", {}), **env)
    if "data_dir" not in kw:
        kw["data_dir"] = tempfile.mkdtemp(prefix="parley-keys-")
    s = start_server(wait=False, **kw)
    code = s.proc.wait(timeout=30)
    return code, s.read_log()


def test_another_secret_key_on_the_same_store_stops(start_server, tmp_path):
    where = same_store(tmp_path)
    first = start(start_server, where, PARLEY_SECRET_KEY=KEY_A)
    user = first.signup()
    # A second instance with another key, while the first serves: it stops.
    code, log = refused(start_server, where, PARLEY_SECRET_KEY=KEY_B)
    assert code == 1, log
    assert "secret_key differs" in log and "PARLEY_SECRET_KEY" in log, log
    assert first.request("GET", "/api/auth/me", token=user["access_token"]).status == 200
    # The first key is still the store's: an instance with it starts.
    again = start(start_server, where, PARLEY_SECRET_KEY=KEY_A)
    assert again.request("GET", "/readyz").status == 200
    # A key from a file is the same key.
    path = tmp_path / "secret_key_file"
    path.write_text(KEY_A + "\n")
    third = start(start_server, where, PARLEY_SECRET_KEY="", PARLEY_SECRET_KEY_FILE=str(path))
    assert third.request("GET", "/readyz").status == 200


def test_another_vapid_key_on_the_same_store_stops(start_server, tmp_path):
    where = same_store(tmp_path)
    first = start(start_server, where)
    public = first.request("GET", "/api/push/vapid-key").json()["public_key"]
    code, log = refused(start_server, where, PARLEY_VAPID_PRIVATE_KEY=VAPID_B)
    assert code == 1, log
    assert "vapid_key differs" in log and "PARLEY_VAPID_PRIVATE_KEY" in log, log
    first.stop()
    # Restarted with its key, the store's key is unchanged.
    again = start(start_server, where)
    assert again.request("GET", "/api/push/vapid-key").json()["public_key"] == public


def test_generated_keys_differ_per_data_directory(start_server, tmp_path):
    """Two instances on one MongoDB store with no keys given generate one each in
    their own data directories: the second one stops (before this check it served,
    and could not open what the first sealed)."""
    if os.environ.get("PARLEY_TEST_STORE") != "mongo":
        # On SQLite the store lives in the data directory, and so do the generated keys.
        where = same_store(tmp_path)
        first = start(start_server, where, PARLEY_SECRET_KEY="", PARLEY_VAPID_PRIVATE_KEY="")
        assert (tmp_path / "secret_key").exists()
        first.stop()
        again = start(start_server, where, PARLEY_SECRET_KEY="", PARLEY_VAPID_PRIVATE_KEY="")
        assert again.request("GET", "/readyz").status == 200
        return
    where = same_store(tmp_path)
    start(start_server, where, PARLEY_SECRET_KEY="", PARLEY_VAPID_PRIVATE_KEY="")
    code, log = refused(start_server, where, PARLEY_SECRET_KEY="", PARLEY_VAPID_PRIVATE_KEY="")
    assert code == 1 and "differs" in log, log
