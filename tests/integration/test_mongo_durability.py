"""The MongoDB store's durability and login, against the MongoDB of
PARLEY_TEST_MONGO_URI (./scripts/test: a replica set with a login, reached
with w=majority&journal=true):

- every write Parley makes (a signup, a message sent, the rest) carries
  {w: "majority", j: true}: the one the URI asks for, and Parley's own default
  when the URI says nothing; a write concern the URI sets is the one used;
- a wrong password leaves parleyd serving but not ready (503 on /readyz and on
  calls that need the store), with one clear log line naming the login.

What a write carried is read from the stand-in's record of write concerns
(tests/mongo_server, command parleyWriteConcerns); a real mongod keeps no such
record, so those tests skip there."""
import os
import re
import time
import uuid

import pytest

from conftest import mongo_uri
from messaging_helpers import create_direct, post_message

pytestmark = pytest.mark.skipif(os.environ.get("PARLEY_TEST_STORE") != "mongo",
                                reason="the MongoDB store only (PARLEY_TEST_STORE=mongo)")

pymongo = pytest.importorskip("pymongo")

MAJORITY_J = {"w": "majority", "j": True}


@pytest.fixture(scope="module")
def mongo():
    client = pymongo.MongoClient(os.environ["PARLEY_TEST_MONGO_URI"],
                                 serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture(scope="module")
def standin(mongo):
    if mongo.admin.command("buildInfo").get("gitVersion") != "parley-mongomock-test-server":
        pytest.skip("the record of write concerns is the stand-in's (tests/mongo_server)")
    return mongo


def with_options(uri, drop=(), add=""):
    """uri without the options named in drop, with the options in add."""
    base, _, opts = uri.partition("?")
    kept = [o for o in opts.split("&") if o and o.split("=", 1)[0].lower() not in drop]
    if add:
        kept.append(add)
    return base + ("?" + "&".join(kept) if kept else "")


def writes(client, db):
    return client[db].command("parleyWriteConcerns")["writes"]


def exercise(srv):
    """A signup and a message sent: the writes the contract calls durable."""
    a = srv.signup()
    b = srv.signup()
    conv = create_direct(srv, a, b)
    r = post_message(srv, a, conv["id"], "durable hello")
    assert r.status == 201, r


def start_on(start_server, uri, **env):
    db = uri.split("://", 1)[1].split("?", 1)[0].split("/", 1)[1]
    return start_server(env=dict(env, PARLEY_MONGO_URI=uri)), db


def test_writes_carry_the_uri_write_concern(start_server, standin):
    uri = mongo_uri(f"parley_wc_{uuid.uuid4().hex[:10]}")
    srv, db = start_on(start_server, with_options(uri, ("w", "journal"),
                                                  "w=majority&journal=true"))
    exercise(srv)
    log = writes(standin, db)
    ops = {(w["command"], w.get("collection")) for w in log}
    assert ("insert", "users") in ops, log
    assert ("insert", "messages") in ops, log
    for w in log:
        assert {k: w.get("writeConcern", {}).get(k) for k in ("w", "j")} == MAJORITY_J, w


def test_writes_default_to_majority_and_journal(start_server, standin):
    """A URI without w= or journal= still gets durable writes: Parley's default."""
    uri = with_options(mongo_uri(f"parley_wc_{uuid.uuid4().hex[:10]}"), ("w", "journal"))
    srv, db = start_on(start_server, uri, PARLEY_STORE_TIMEOUT_MS="5000")
    exercise(srv)
    log = writes(standin, db)
    assert {w["command"] for w in log} >= {"insert", "createIndexes"}, log
    for w in log:
        assert {k: w.get("writeConcern", {}).get(k) for k in ("w", "j")} == MAJORITY_J, w
        # 80% of the store timeout: a set that lost its majority answers an
        # error before the socket times out.
        assert w["writeConcern"]["wtimeout"] == 4000, w


def test_an_explicit_write_concern_is_the_operators(start_server, standin):
    uri = with_options(mongo_uri(f"parley_wc_{uuid.uuid4().hex[:10]}"), ("w", "journal"), "w=1")
    srv, db = start_on(start_server, uri)
    srv.signup()
    log = writes(standin, db)
    assert log
    for w in log:
        assert w["writeConcern"].get("w") == 1 and "j" not in w["writeConcern"], w


def test_wrong_password_is_not_ready_and_says_why(start_server, mongo):
    uri = mongo_uri(f"parley_badpw_{uuid.uuid4().hex[:10]}")
    m = re.match(r"^(mongodb(?:\+srv)?://)([^:@/]+):([^@/]*)@(.*)$", uri)
    if not m:
        pytest.skip("PARLEY_TEST_MONGO_URI has no password to get wrong")
    srv = start_server(env={"PARLEY_MONGO_URI": f"{m[1]}{m[2]}:wrong-{uuid.uuid4().hex}@{m[4]}"})
    r = srv.request("GET", "/readyz")
    assert r.status == 503, r
    assert r.json()["store"] == {"backend": "mongo", "state": "down"}
    r = srv.request("POST", "/api/auth/signup", {"email": f"x-{uuid.uuid4().hex[:8]}@example.com",
                                                 "password": "correct horse battery",
                                                 "name": "X"})
    assert r.status == 503, r
    deadline = time.time() + 5
    while "MongoDB refused the login" not in srv.read_log() and time.time() < deadline:
        time.sleep(0.05)
    log = srv.read_log()
    said = [line for line in log.splitlines() if "MongoDB refused the login" in line]
    assert len(said) == 1, log
    assert f'user \\"{m[2]}\\"' in said[0] and '"level":"error"' in said[0], said
    assert "Failed authentication" not in log, log  # the driver's repeats are not logged
    assert srv.proc.poll() is None  # still serving: the login may be fixed on the server
    # The keys' check is asked again every second, and said once (then once a
    # minute), not every second: two more tries at least, still one line each.
    time.sleep(2.2)
    log = srv.read_log()
    for key in ("secret_key", "vapid_key"):
        said = [line for line in log.splitlines() if f"cannot check {key}" in line]
        assert len(said) == 1, log
