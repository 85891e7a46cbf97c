"""The end-to-end key directory (API.md, Key directory): devices publish public
keys, other users fetch bundles that hand each one-time prekey out once (also
when two instances are asked at once), keys.low reaches the owner on any
instance, and bad keys change nothing. The clients are PyNaCl (libsodium)."""
import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import mongo_uri
from e2e_client import Device, b64, unb64
from messaging_helpers import Client, api, run, uid
from nacl.signing import SigningKey


def register(server, session, device, name="laptop"):
    r = api(server, "POST", "/api/devices", session, device.registration(name))
    assert r.status == 201, r
    device.id = r.json()["device"]["id"]
    return r.json()["device"]


def test_register_list_fetch_and_agree(server):
    a, b = server.signup(), server.signup()
    da, db = Device(), Device(n_prekeys=12)
    dev = register(server, b, db, "phone")
    assert dev["one_time_prekeys"] == 12 and dev["name"] == "phone"
    assert dev["identity_key"] == b64(bytes(db.identity.verify_key))
    register(server, a, da)
    r = api(server, "GET", "/api/devices", b)
    assert r.status == 200 and [d["id"] for d in r.json()["devices"]] == [db.id]

    # a fetches b's bundle: a one-time prekey b published, agreed on both sides.
    r = api(server, "GET", f"/api/users/{uid(b)}/keys/{db.id}", a)
    assert r.status == 200, r
    bundle = r.json()["bundle"]
    assert bundle["device_id"] == db.id and bundle["one_time_prekey"] in db.prekeys
    assert "remaining" not in bundle
    key_a, header = da.initiate(bundle)
    assert db.respond(header) == key_a
    # All of b's devices at once; each prekey handed out once.
    r = api(server, "GET", f"/api/users/{uid(b)}/keys", a)
    assert r.status == 200
    (second,) = r.json()["bundles"]
    assert second["one_time_prekey"] != bundle["one_time_prekey"]
    assert api(server, "GET", "/api/devices", b).json()["devices"][0]["one_time_prekeys"] == 10

    # Out of prekeys: the bundle still comes, without one (X3DH without the fourth DH).
    for _ in range(10):
        assert api(server, "GET", f"/api/users/{uid(b)}/keys/{db.id}", a).status == 200
    last = api(server, "GET", f"/api/users/{uid(b)}/keys/{db.id}", a).json()["bundle"]
    assert last["one_time_prekey"] is None
    k, h = da.initiate(last)
    assert db.respond(h) == k

    # More prekeys; a new signed prekey signed by the identity key.
    fresh = db.add_prekeys(5)
    r = api(server, "POST", f"/api/devices/{db.id}/prekeys", b, {"one_time_prekeys": fresh})
    assert r.status == 200 and r.json()["device"]["one_time_prekeys"] == 5
    from nacl.public import PrivateKey
    db.spk = PrivateKey.generate()
    r = api(server, "PUT", f"/api/devices/{db.id}/signed_prekey", b, db.signed_prekey())
    assert r.status == 200 and r.json()["device"]["signed_prekey"] == db.signed_prekey()["key"]
    nb = api(server, "GET", f"/api/users/{uid(b)}/keys/{db.id}", a).json()["bundle"]
    k, h = da.initiate(nb)
    assert db.respond(h) == k

    # Another user cannot touch b's device; b deletes it.
    assert api(server, "POST", f"/api/devices/{db.id}/prekeys", a,
               {"one_time_prekeys": da.add_prekeys(1)}).status == 404
    assert api(server, "DELETE", f"/api/devices/{db.id}", a).status == 404
    assert api(server, "DELETE", f"/api/devices/{db.id}", b).status == 204
    assert api(server, "GET", f"/api/users/{uid(b)}/keys/{db.id}", a).status == 404
    assert api(server, "GET", f"/api/users/{uid(b)}/keys", a).json()["bundles"] == []


def test_bad_keys_are_400_and_change_nothing(server):
    a = server.signup()
    d = Device(n_prekeys=3)
    good = d.registration()

    def refused(body, field):
        r = api(server, "POST", "/api/devices", a, body)
        assert r.status == 400, (field, r)
        assert r.json()["error"]["code"] == "validation_failed"
        assert r.json()["error"]["field"] == field, r

    refused({**good, "identity_key": b64(b"x" * 31)}, "identity_key")
    refused({**good, "identity_key": b64(b"x" * 33)}, "identity_key")
    refused({**good, "identity_key": good["identity_key"] + "="}, "identity_key")
    refused({**good, "identity_key": 7}, "identity_key")
    other = SigningKey.generate()
    spk = unb64(good["signed_prekey"]["key"])
    refused({**good, "signed_prekey": {"key": good["signed_prekey"]["key"],
                                       "signature": b64(other.sign(spk).signature)}},
            "signed_prekey.signature")
    refused({**good, "signed_prekey": {"key": b64(spk[:31]),
                                       "signature": good["signed_prekey"]["signature"]}},
            "signed_prekey.key")
    refused({**good, "signed_prekey": {"key": good["signed_prekey"]["key"],
                                       "signature": good["signed_prekey"]["signature"][:-2]}},
            "signed_prekey.signature")
    refused({**good, "signed_prekey": "nope"}, "signed_prekey")
    refused({**good, "one_time_prekeys": Device(n_prekeys=0).add_prekeys(101)},
            "one_time_prekeys")
    refused({**good, "one_time_prekeys": good["one_time_prekeys"] + [b64(b"k" * 16)]},
            "one_time_prekeys")
    refused({**good, "one_time_prekeys": "k"}, "one_time_prekeys")
    assert api(server, "GET", "/api/devices", a).json()["devices"] == []

    register(server, a, d)
    r = api(server, "POST", f"/api/devices/{d.id}/prekeys", a,
            {"one_time_prekeys": d.add_prekeys(101)})
    assert r.status == 400 and r.json()["error"]["field"] == "one_time_prekeys"
    bad = d.signed_prekey()
    bad["signature"] = b64(other.sign(unb64(bad["key"])).signature)
    r = api(server, "PUT", f"/api/devices/{d.id}/signed_prekey", a, bad)
    assert r.status == 400 and r.json()["error"]["field"] == "signed_prekey.signature"
    (dev,) = api(server, "GET", "/api/devices", a).json()["devices"]
    assert dev["one_time_prekeys"] == 3
    assert dev["signed_prekey"] == good["signed_prekey"]["key"]

    # Bounds: 500 prekeys held per device (409, nothing added), 10 devices a user.
    for _ in range(4):
        assert api(server, "POST", f"/api/devices/{d.id}/prekeys", a,
                   {"one_time_prekeys": d.add_prekeys(100)}).status == 200
    r = api(server, "POST", f"/api/devices/{d.id}/prekeys", a,
            {"one_time_prekeys": d.add_prekeys(98)})
    assert r.status == 409, r
    assert api(server, "GET", "/api/devices", a).json()["devices"][0]["one_time_prekeys"] == 403
    for _ in range(9):
        register(server, a, Device(n_prekeys=0))
    r = api(server, "POST", "/api/devices", a, Device(n_prekeys=0).registration())
    assert r.status == 409, r
    assert len(api(server, "GET", "/api/devices", a).json()["devices"]) == 10


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    env = {"PARLEY_REDIS_URL": redis_url}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_keys_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_claims_across_instances_and_keys_low(pair):
    s1, s2 = pair
    owner, x, y = s1.signup(), s1.signup(), s2.signup()
    d = Device(n_prekeys=30)
    register(s1, owner, d)

    async def main():
        c1 = await Client.connect(s1, owner)
        await asyncio.sleep(0.3)  # the bus subscription of a fresh instance

        # 30 keys, 40 fetches at once through both instances: 30 distinct keys.
        def fetch(i):
            s, who = (s1, x) if i % 2 else (s2, y)
            r = api(s, "GET", f"/api/users/{uid(owner)}/keys/{d.id}", who)
            assert r.status == 200, r
            return r.json()["bundle"]["one_time_prekey"]

        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(8) as ex:
            keys = await asyncio.gather(*[loop.run_in_executor(ex, fetch, i) for i in range(40)])
        handed = [k for k in keys if k]
        assert len(handed) == 30 and len(set(handed)) == 30
        assert set(handed) == set(d.prekeys)
        # Fetches through s2 took the count below 10: the owner's session on s1
        # was told, with what remained then.
        low = await c1.expect("keys.low", device_id=d.id)
        assert 0 <= low["remaining"] < 10
        await c1.close()

    run(main())


def test_bundle_fetches_are_rate_limited_per_fetcher(start_server):
    # 5 at once, then 1 a minute: nothing refills during the test.
    s = start_server(env={"PARLEY_KEYS_RATE_PER_USER": "1", "PARLEY_KEYS_BURST": "5"})
    a, b, c = s.signup(), s.signup(), s.signup()
    d = Device(n_prekeys=20)
    register(s, b, d)

    def remaining():
        return api(s, "GET", "/api/devices", b).json()["devices"][0]["one_time_prekeys"]

    # One bundle and all bundles draw on the same bucket.
    for i in range(5):
        path = f"/api/users/{uid(b)}/keys" + (f"/{d.id}" if i % 2 else "")
        assert api(s, "GET", path, a).status == 200
    assert remaining() == 15
    for _ in range(8):
        r = api(s, "GET", f"/api/users/{uid(b)}/keys/{d.id}", a)
        assert r.status == 429, r
        assert r.json()["error"]["code"] == "rate_limited"
        assert int(r.header("Retry-After")) >= 1
        r = api(s, "GET", f"/api/users/{uid(b)}/keys", a)
        assert r.status == 429 and r.header("Retry-After")
    # The refused fetches claimed nothing.
    assert remaining() == 15
    # The limit is a's own: another user still fetches, the owner still manages.
    r = api(s, "GET", f"/api/users/{uid(b)}/keys/{d.id}", c)
    assert r.status == 200 and r.json()["bundle"]["one_time_prekey"] in d.prekeys
    assert remaining() == 14


def test_bundle_fetch_limit_is_shared_by_instances(start_server, redis_url, tmp_path):
    env = {"PARLEY_REDIS_URL": redis_url, "PARLEY_KEYS_RATE_PER_USER": "1",
           "PARLEY_KEYS_BURST": "4"}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_keys_{uuid.uuid4().hex[:10]}")
        s1, s2 = start_server(env=env), start_server(env=env)
    else:
        data = str(tmp_path)
        s1, s2 = start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)
    a, b = s1.signup(), s1.signup()
    d = Device(n_prekeys=10)
    register(s1, b, d)
    path = f"/api/users/{uid(b)}/keys/{d.id}"
    for s in (s1, s2, s1, s2):
        assert api(s, "GET", path, a).status == 200
    for s in (s1, s2):
        r = api(s, "GET", path, a)
        assert r.status == 429 and int(r.header("Retry-After")) >= 1, r
    assert api(s2, "GET", "/api/devices", b).json()["devices"][0]["one_time_prekeys"] == 6
