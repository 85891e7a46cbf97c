"""API.md's Auth calls against the real parleyd: sessions, validation, forged
tokens, refresh rotation and reuse, logout, and the login/signup rate limits."""
import base64
import hashlib
import hmac
import json
import statistics
import time
import uuid

import pytest

from conftest import ARGON2_DEFAULT

# conftest.py starts every server with this key, so tests can sign tokens.
SECRET = b"integration-test-secret-0123456789abcdef"
# Argon2id at its minimum, for tests that sign up or log in many times.
FAST = {"PARLEY_ARGON2_OPSLIMIT": "1", "PARLEY_ARGON2_MEMLIMIT": "8192"}
USER_KEYS = {"id", "email", "name", "avatar_url", "status", "last_seen", "created_at",
             "email_verified"}
INJECTIONS = [{"$gt": ""}, {"$ne": None}, ["a@b.co"], 12345, True, None]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header, payload, key=SECRET, signature=None):
    """A JWT built by hand: header and payload dicts, HMAC-SHA256 with key
    unless signature (a str) is given."""
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    if signature is None:
        signature = b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())
    return signing + "." + signature


def claims(sub, **over):
    now = int(time.time())
    c = {"sub": sub, "iss": "parley", "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    c.update(over)
    return c


def new_email():
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def error_of(r):
    return r.json()["error"]


def assert_error(r, status, code, field=None):
    assert r.status == status, r
    err = error_of(r)
    assert err["code"] == code, r
    if field is not None:
        assert err.get("field") == field, r


def assert_session(body, email=None):
    assert set(body) >= {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert set(body["user"]) == USER_KEYS
    if email:
        assert body["user"]["email"] == email
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 40
    assert body["access_token"].count(".") == 2


# ---- signup ----

def test_signup_returns_a_session(server):
    email = new_email()
    r = server.request("POST", "/api/auth/signup",
                       {"email": email, "password": "correct horse", "name": "Ada Lovelace"})
    assert r.status == 201, r
    body = r.json()
    assert_session(body, email)
    assert body["user"]["name"] == "Ada Lovelace"
    assert body["user"]["status"] in ("online", "away", "dnd", "invisible")
    assert "password" not in r.body.decode() and "hash" not in r.body.decode()
    me = server.request("GET", "/api/auth/me", token=body["access_token"])
    assert me.status == 200, me
    assert me.json()["user"] == body["user"]


def test_signup_normalises_email_and_rejects_duplicates(server):
    tag = uuid.uuid4().hex[:8]
    r = server.request("POST", "/api/auth/signup",
                       {"email": f"  Mixed.{tag}@Example.COM ", "password": "password1",
                        "name": "M"})
    assert r.status == 201, r
    assert r.json()["user"]["email"] == f"mixed.{tag}@example.com"
    again = server.request("POST", "/api/auth/signup",
                           {"email": f"MIXED.{tag}@example.com", "password": "password2",
                            "name": "N"})
    assert_error(again, 409, "email_taken")
    # And the normalised address logs in.
    login = server.request("POST", "/api/auth/login",
                           {"email": f"mixed.{tag}@EXAMPLE.com", "password": "password1"})
    assert login.status == 200, login


@pytest.mark.parametrize("field,value", [
    ("email", "not-an-email"), ("email", "a@b"), ("email", ""), ("email", "a b@c.com"),
    ("password", "short7c"), ("password", "x" * 257), ("password", ""),
    ("name", ""), ("name", "   "), ("name", "n" * 101), ("name", "bad\u0001name"),
])
def test_signup_rejects_bad_values(server, field, value):
    body = {"email": new_email(), "password": "password123", "name": "Valid"}
    body[field] = value
    assert_error(server.request("POST", "/api/auth/signup", body), 400, "validation_failed",
                 field)


def test_signup_boundaries(start_server):
    server = start_server(env=FAST)
    ok = [("password", "p" * 8), ("password", "p" * 256), ("name", "é" * 100),
          ("password", "€" * 85)]  # 255 bytes
    for field, value in ok:
        body = {"email": new_email(), "password": "password123", "name": "Valid"}
        body[field] = value
        r = server.request("POST", "/api/auth/signup", body)
        assert r.status == 201, (field, r)
    # 86 euro signs are 258 bytes: the limit is in bytes, not characters.
    body = {"email": new_email(), "password": "€" * 86, "name": "Valid"}
    assert_error(server.request("POST", "/api/auth/signup", body), 400, "validation_failed",
                 "password")


@pytest.mark.parametrize("field", ["email", "password", "name"])
def test_signup_rejects_missing_and_injected_fields(server, field):
    for value in INJECTIONS:
        body = {"email": new_email(), "password": "password123", "name": "Valid"}
        body[field] = value
        r = server.request("POST", "/api/auth/signup", body)
        assert_error(r, 400, "validation_failed", field)
    body = {"email": new_email(), "password": "password123", "name": "Valid"}
    del body[field]
    assert_error(server.request("POST", "/api/auth/signup", body), 400, "validation_failed", field)


def test_signup_rejects_bad_bodies(server):
    r = server.request("POST", "/api/auth/signup", raw_body=b'{"email": ',
                       headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")
    r = server.request("POST", "/api/auth/signup", raw_body=b'[1,2]',
                       headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    r = server.request("POST", "/api/auth/signup",
                       raw_body=b'{"email":"a@b.co","password":"password1","name":"\xff\xfe"}',
                       headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    r = server.request("POST", "/api/auth/signup",
                       raw_body=json.dumps({"email": new_email(), "password": "password1",
                                            "name": "x"}).encode(),
                       headers={"Content-Type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")


# ---- login ----

def test_login_good_and_bad_credentials(server):
    email = new_email()
    server.signup(email=email, password="right password")
    ok = server.request("POST", "/api/auth/login", {"email": email, "password": "right password"})
    assert ok.status == 200, ok
    assert_session(ok.json(), email)
    wrong = server.request("POST", "/api/auth/login", {"email": email, "password": "wrong password"})
    unknown = server.request("POST", "/api/auth/login",
                             {"email": new_email(), "password": "right password"})
    short = server.request("POST", "/api/auth/login", {"email": email, "password": "abc"})
    for r in (wrong, unknown, short):
        assert_error(r, 401, "invalid_credentials")
    # Same answer, byte for byte, whether or not the account exists.
    assert wrong.body == unknown.body


def test_login_unknown_email_costs_the_same(start_server):
    # At the default cost: the timing is what is checked.
    server = start_server(env=ARGON2_DEFAULT)
    email = new_email()
    server.signup(email=email, password="right password")

    def timed(body):
        t = time.perf_counter()
        r = server.request("POST", "/api/auth/login", body)
        assert r.status == 401, r
        return time.perf_counter() - t

    # Alternated, so a change in the machine's load falls on both alike (in two
    # blocks, one after the other, a busy CI machine once made the second look
    # cheap).
    wrong, unknown = [], []
    for _ in range(7):
        wrong.append(timed({"email": email, "password": "wrong password"}))
        unknown.append(timed({"email": new_email(), "password": "wrong password"}))
    w, u = statistics.median(wrong), statistics.median(unknown)
    # Argon2 dominates both: an unknown email must not answer much faster.
    assert u > 0.6 * w, (wrong, unknown)
    assert w > 0.005, "a wrong password should cost an Argon2 verification"


@pytest.mark.parametrize("field", ["email", "password"])
def test_login_rejects_injected_fields(server, field):
    email = new_email()
    server.signup(email=email, password="right password")
    for value in INJECTIONS:
        body = {"email": email, "password": "right password"}
        body[field] = value
        assert_error(server.request("POST", "/api/auth/login", body), 400, "validation_failed",
                     field)


# ---- me / verify and forged tokens ----

def test_me_and_verify(server):
    s = server.signup()
    for path in ("/api/auth/me", "/api/auth/verify"):
        r = server.request("GET", path, token=s["access_token"])
        assert r.status == 200, r
        assert r.json()["user"]["id"] == s["user"]["id"]
        assert r.json()["user"]["email"] == s["user"]["email"]
        assert_error(server.request("GET", path), 401, "unauthorized")


def test_forged_tokens_are_refused(server):
    s = server.signup()
    uid = s["user"]["id"]
    good = forge({"alg": "HS256", "typ": "JWT"}, claims(uid))
    assert server.request("GET", "/api/auth/me", token=good).status == 200
    signing = good.rsplit(".", 1)[0]
    now = int(time.time())
    forged = {
        "alg none": forge({"alg": "none", "typ": "JWT"}, claims(uid), signature=""),
        "alg none, signed": forge({"alg": "none"}, claims(uid)),
        "RS256 header": forge({"alg": "RS256", "typ": "JWT"}, claims(uid)),
        "HS512": forge({"alg": "HS512"}, claims(uid)),
        "other key": forge({"alg": "HS256"}, claims(uid), key=b"some-other-key-0123456789"),
        "empty key": forge({"alg": "HS256"}, claims(uid), key=b""),
        "tampered payload": signing.split(".")[0] + "." +
        b64(json.dumps(claims("000000000000000000000000")).encode()) + "." +
        good.rsplit(".", 1)[1],
        "expired": forge({"alg": "HS256"}, claims(uid, iat=now - 1000, exp=now - 10)),
        "wrong issuer": forge({"alg": "HS256"}, claims(uid, iss="evil")),
        "no issuer": forge({"alg": "HS256"}, {k: v for k, v in claims(uid).items() if k != "iss"}),
        "exp as string": forge({"alg": "HS256"}, claims(uid, exp=str(now + 600))),
        "sub injection": forge({"alg": "HS256"}, claims({"$ne": None})),
        "truncated": good[:-5],
        "garbage": "not.a.token",
    }
    for name, token in forged.items():
        r = server.request("GET", "/api/auth/me", token=token)
        assert r.status == 401, (name, r)
        assert error_of(r)["code"] == "unauthorized", name
    for header in ("Basic abc", "Bearer", "Token " + good, good):
        r = server.request("GET", "/api/auth/me", headers={"Authorization": header})
        assert r.status == 401, (header, r)


# ---- refresh and logout ----

def test_refresh_rotates_and_reuse_revokes_the_family(server):
    s = server.signup()
    r1 = server.request("POST", "/api/auth/refresh", {"refresh_token": s["refresh_token"]})
    assert r1.status == 200, r1
    s1 = r1.json()
    assert_session(s1, s["user"]["email"])
    assert s1["refresh_token"] != s["refresh_token"]
    assert server.request("GET", "/api/auth/me", token=s1["access_token"]).status == 200
    r2 = server.request("POST", "/api/auth/refresh", {"refresh_token": s1["refresh_token"]})
    assert r2.status == 200, r2
    s2 = r2.json()
    # The first token again: reuse. 401, and the whole login is revoked...
    reuse = server.request("POST", "/api/auth/refresh", {"refresh_token": s["refresh_token"]})
    assert_error(reuse, 401, "unauthorized")
    # ...including the newest token of that family, and the login's access
    # tokens, whichever refresh issued them.
    after = server.request("POST", "/api/auth/refresh", {"refresh_token": s2["refresh_token"]})
    assert_error(after, 401, "unauthorized")
    for t in (s["access_token"], s1["access_token"], s2["access_token"]):
        assert_error(server.request("GET", "/api/auth/me", token=t), 401, "unauthorized")
    # Another login of the same user is a different family and still works.
    other = server.request("POST", "/api/auth/login",
                           {"email": s["user"]["email"], "password": "correct horse battery"})
    assert other.status == 200, other
    r = server.request("POST", "/api/auth/refresh", {"refresh_token": other.json()["refresh_token"]})
    assert r.status == 200, r
    assert server.request("GET", "/api/auth/me", token=r.json()["access_token"]).status == 200


def test_refresh_rejects_bad_input(server):
    for value in INJECTIONS:
        r = server.request("POST", "/api/auth/refresh", {"refresh_token": value})
        assert_error(r, 400, "validation_failed", "refresh_token")
    assert_error(server.request("POST", "/api/auth/refresh", {}), 400, "validation_failed",
                 "refresh_token")
    for value in ("unknown", b64(uuid.uuid4().bytes * 2), "A" * 43):
        r = server.request("POST", "/api/auth/refresh", {"refresh_token": value})
        assert_error(r, 401, "unauthorized")


def test_logout_revokes_the_refresh_token(server):
    s = server.signup()
    # Used before: the server remembers the verified token (its token cache);
    # logout must still end it on the very next request.
    for _ in range(3):
        assert server.request("GET", "/api/conversations", token=s["access_token"]).status == 200
    r = server.request("POST", "/api/auth/logout", {"refresh_token": s["refresh_token"]})
    assert r.status == 204, r
    assert r.body == b""
    r = server.request("POST", "/api/auth/refresh", {"refresh_token": s["refresh_token"]})
    assert_error(r, 401, "unauthorized")
    # The login's access token ends with it (its "sid" is the login).
    assert_error(server.request("GET", "/api/conversations", token=s["access_token"]), 401,
                 "unauthorized")
    assert_error(server.request("GET", "/api/auth/me", token=s["access_token"]), 401,
                 "unauthorized")
    # Logging out twice, or with an unknown token, is harmless.
    assert server.request("POST", "/api/auth/logout",
                          {"refresh_token": s["refresh_token"]}).status == 204
    assert server.request("POST", "/api/auth/logout", {"refresh_token": "nope"}).status == 204
    for value in INJECTIONS:
        assert_error(server.request("POST", "/api/auth/logout", {"refresh_token": value}), 400,
                     "validation_failed", "refresh_token")


# ---- rate limits ----

def test_login_rate_limit_per_email_reaches_429_and_recovers(start_server):
    env = dict(FAST, PARLEY_AUTH_RATE_PER_EMAIL="30")
    server = start_server(env=env)
    email = new_email()
    statuses = [server.request("POST", "/api/auth/login",
                               {"email": email, "password": "wrong password"}).status
                for _ in range(30)]
    assert statuses == [401] * 30
    r = server.request("POST", "/api/auth/login", {"email": email, "password": "wrong password"})
    assert_error(r, 429, "rate_limited")
    retry = int(r.header("Retry-After"))
    assert 1 <= retry <= 3, retry  # one attempt every 2 s
    # The case of the email does not give a fresh bucket.
    r = server.request("POST", "/api/auth/login",
                       {"email": email.upper(), "password": "wrong password"})
    assert r.status == 429, r
    # Other emails from the same address are not affected (per-IP limit is high).
    r = server.request("POST", "/api/auth/login",
                       {"email": new_email(), "password": "wrong password"})
    assert r.status == 401, r
    time.sleep(retry + 0.2)
    r = server.request("POST", "/api/auth/login", {"email": email, "password": "wrong password"})
    assert r.status == 401, r


def test_rate_limit_per_address_covers_signup_and_login(start_server):
    env = dict(FAST, PARLEY_AUTH_RATE_PER_IP="12")
    server = start_server(env=env)
    statuses = []
    for i in range(12):
        if i % 2:
            r = server.request("POST", "/api/auth/login",
                               {"email": new_email(), "password": "wrong password"})
        else:
            r = server.request("POST", "/api/auth/signup",
                               {"email": new_email(), "password": "password123", "name": "R"})
        statuses.append(r.status)
    assert statuses == [201, 401] * 6
    r = server.request("POST", "/api/auth/signup",
                       {"email": new_email(), "password": "password123", "name": "R"})
    assert_error(r, 429, "rate_limited")
    assert int(r.header("Retry-After")) >= 1
    # A limited client still reaches the rest of the API.
    assert server.request("GET", "/healthz").status == 200
