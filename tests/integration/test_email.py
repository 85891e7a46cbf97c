"""E-mail (issue 17, item 6) against a local SMTP sink: the address verified by
a six-digit code mailed at signup (optional or required), a forgotten password
reset by a code that expires, works once and ends every login, codes dead after
too many wrong tries, answers that never tell which addresses have accounts,
rate limits, retries when the SMTP server is away, and the files written when
no SMTP server is configured."""
import asyncio
import glob
import os
import time
import uuid

import pytest

from smtp_sink import SmtpSink, free_port, reset_code, reset_mail, verify_code
from test_auth import FAST, assert_error
from test_ws_auth import closed_with, in_executor, ready_session, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


def mail_env(sink, **extra):
    env = dict(FAST, PARLEY_SMTP_URL=sink.url, PARLEY_SMTP_TLS="off",
               PARLEY_SMTP_FROM="parley@example.org", PARLEY_PUBLIC_URL="https://chat.example.org")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def new_email():
    return f"mail-{uuid.uuid4().hex[:10]}@example.com"


def signup(server, email, status=201):
    r = server.request("POST", "/api/auth/signup",
                       {"email": email, "password": PASSWORD, "name": "Mail Test"})
    assert r.status == status, r
    return r.json()


def login(server, email, password=PASSWORD):
    return server.request("POST", "/api/auth/login", {"email": email, "password": password})


def test_optional_verification_by_the_mailed_code(start_server, sink):
    server = start_server(env=mail_env(sink))
    email = new_email()
    s = signup(server, email)
    assert s["user"]["email_verified"] is False and s["access_token"]
    mail = sink.wait_for(email)[0]
    assert mail["from"] == "parley@example.org"
    code = verify_code(mail)
    assert code in mail["subject"]
    assert f"https://chat.example.org/verify-email?code={code}" in mail["body"]
    token = s["access_token"]
    wrong = "000000" if code != "000000" else "111111"
    assert_error(server.request("POST", "/api/auth/verify-email", {"code": wrong}, token=token),
                 400, "invalid_code", "code")
    r = server.request("POST", "/api/auth/verify-email", {"code": code}, token=token)
    assert r.status == 200 and r.json()["user"]["email_verified"] is True, r
    assert server.request("GET", "/api/auth/me", token=token).json()["user"]["email_verified"]
    # Used once: the same code again is refused.
    assert_error(server.request("POST", "/api/auth/verify-email", {"code": code}, token=token),
                 400, "invalid_code")
    # Others never see whether an address is verified.
    other = server.signup()
    r = server.request("GET", f"/api/users/{s['user']['id']}", token=other["access_token"])
    assert "email_verified" not in r.json()["user"]


def test_a_code_dies_after_too_many_wrong_tries_and_resend_makes_a_new_one(start_server, sink):
    server = start_server(env=mail_env(sink, PARLEY_CODE_MAX_ATTEMPTS=3))
    email = new_email()
    s = signup(server, email)
    token = s["access_token"]
    code = verify_code(sink.wait_for(email)[0])
    wrong = [c for c in ("123456", "654321", "111111", "222222") if c != code][:3]
    for w in wrong:
        assert_error(server.request("POST", "/api/auth/verify-email", {"code": w}, token=token),
                     400, "invalid_code")
    # Dead now, even with the right code.
    assert_error(server.request("POST", "/api/auth/verify-email", {"code": code}, token=token),
                 400, "invalid_code")
    r = server.request("POST", "/api/auth/verify-email/resend", token=token)
    assert r.status == 202 and r.json() == {}, r
    fresh = verify_code(sink.wait_for(email, 2)[1])
    r = server.request("POST", "/api/auth/verify-email", {"code": f" {fresh[:3]}-{fresh[3:]} "},
                       token=token)
    assert r.status == 200 and r.json()["user"]["email_verified"] is True, r
    # Verified: a resend answers the same and mails nothing.
    assert server.request("POST", "/api/auth/verify-email/resend", token=token).status == 202
    time.sleep(0.3)
    assert len(sink.to(email)) == 2


def test_required_verification_gates_login(start_server, sink):
    server = start_server(env=mail_env(sink, PARLEY_EMAIL_VERIFICATION="required"))
    email = new_email()
    body = signup(server, email)
    assert set(body) == {"user"} and body["user"]["email_verified"] is False
    code = verify_code(sink.wait_for(email)[0])
    assert_error(login(server, email), 403, "email_unverified")
    assert_error(login(server, email, "not the password"), 401, "invalid_credentials")
    # Without a token the address is named; an unknown one is a wrong code too.
    assert_error(server.request("POST", "/api/auth/verify-email",
                                {"email": new_email(), "code": code}), 400, "invalid_code")
    assert_error(server.request("POST", "/api/auth/verify-email", {"code": code}), 400,
                 "validation_failed", "email")
    # A resend by address: the same answer for an account and for none.
    r1 = server.request("POST", "/api/auth/verify-email/resend", {"email": email})
    r2 = server.request("POST", "/api/auth/verify-email/resend", {"email": new_email()})
    assert (r1.status, r1.body) == (r2.status, r2.body) == (202, b"{}")
    code = verify_code(sink.wait_for(email, 2)[1])
    r = server.request("POST", "/api/auth/verify-email", {"email": email.upper(), "code": code})
    assert r.status == 200 and r.json()["user"]["email_verified"] is True, r
    r = login(server, email)
    assert r.status == 200 and r.json()["user"]["email_verified"] is True, r


def test_password_reset_ends_every_login_and_works_once(start_server, sink):
    server = start_server(env=mail_env(sink))
    email = new_email()
    s = signup(server, email)
    second = login(server, email).json()
    known = server.request("POST", "/api/auth/password-reset", {"email": email})
    unknown = server.request("POST", "/api/auth/password-reset", {"email": new_email()})
    assert (known.status, known.body) == (unknown.status, unknown.body) == (202, b"{}")
    mail = reset_mail(sink, email)
    code = reset_code(mail)
    assert f"https://chat.example.org/reset-password?code={code.replace('-', '')}" in mail["body"]

    async def go():
        ws = await ready_session(server, second["access_token"])
        bad = code[:-1] + ("0" if code[-1] != "0" else "1")
        r = await in_executor(lambda: server.request(
            "POST", "/api/auth/password-reset/confirm", {"code": bad, "password": NEW_PASSWORD}))
        assert_error(r, 400, "invalid_code", "code")
        r = await in_executor(lambda: server.request(
            "POST", "/api/auth/password-reset/confirm",
            {"code": code.lower(), "password": NEW_PASSWORD}))
        assert r.status == 204, r
        assert (await closed_with(ws))[0] == 4003

    run(go())
    assert_error(login(server, email), 401, "invalid_credentials")
    r = login(server, email, NEW_PASSWORD)
    assert r.status == 200 and r.json()["user"]["email_verified"] is True, r
    for sess in (s, second):
        assert_error(server.request("GET", "/api/auth/me", token=sess["access_token"]), 401,
                     "unauthorized")
        assert_error(server.request("POST", "/api/auth/refresh",
                                    {"refresh_token": sess["refresh_token"]}), 401, "unauthorized")
    # Used: the code is dead.
    assert_error(server.request("POST", "/api/auth/password-reset/confirm",
                                {"code": code, "password": "yet another passphrase"}),
                 400, "invalid_code")
    assert login(server, email, NEW_PASSWORD).status == 200


def test_reset_bad_input_and_dead_codes(start_server, sink):
    server = start_server(env=mail_env(sink, PARLEY_CODE_MAX_ATTEMPTS=2))
    email = new_email()
    signup(server, email)
    for bad in ({}, {"email": "not an address"}, {"email": 12}, {"email": {"$gt": ""}}):
        assert_error(server.request("POST", "/api/auth/password-reset", bad), 400,
                     "validation_failed", "email")
    assert server.request("POST", "/api/auth/password-reset", {"email": email}).status == 202
    code = reset_code(reset_mail(sink, email)).replace("-", "")
    confirm = "/api/auth/password-reset/confirm"
    for bad, field in (({"code": code}, "password"),
                       ({"code": code, "password": "short"}, "password"),
                       ({"password": NEW_PASSWORD}, "code"),
                       ({"code": 5, "password": NEW_PASSWORD}, "code")):
        assert_error(server.request("POST", confirm, bad), 400, "validation_failed", field)
    for junk in ("", "!!!!", "U" * 20, code[:-1], code + "0"):
        r = server.request("POST", confirm, {"code": junk, "password": NEW_PASSWORD})
        assert r.status == 400 and r.json()["error"]["code"] in ("invalid_code", "validation_failed"), r
    # Two wrong tries on this code (its first characters name it): dead.
    for last in [c for c in "XYZ" if c != code[-1]][:2]:
        assert_error(server.request("POST", confirm, {"code": code[:-1] + last,
                                                      "password": NEW_PASSWORD}),
                     400, "invalid_code")
    assert_error(server.request("POST", confirm, {"code": code, "password": NEW_PASSWORD}),
                 400, "invalid_code")
    assert login(server, email).status == 200  # nothing changed


def test_mail_requests_are_rate_limited_per_address_mailed(start_server, sink):
    server = start_server(env=mail_env(sink, PARLEY_MAIL_RATE_PER_EMAIL=2,
                                       PARLEY_MAIL_RATE_PER_IP=1000))
    email = new_email()
    for _ in range(2):
        assert server.request("POST", "/api/auth/password-reset", {"email": email}).status == 202
    r = server.request("POST", "/api/auth/password-reset", {"email": email})
    assert_error(r, 429, "rate_limited")
    assert int(r.header("Retry-After")) >= 1
    # Another address is not held up.
    assert server.request("POST", "/api/auth/password-reset", {"email": new_email()}).status == 202


def test_mail_is_retried_until_the_smtp_server_answers(start_server):
    port = free_port()
    sink = SmtpSink(port)
    server = start_server(env=mail_env(sink, PARLEY_MAIL_RETRY_MS=300, PARLEY_MAIL_RETRIES=5))
    email = new_email()
    signup(server, email)
    time.sleep(0.5)  # the first attempt or two fail: nothing listens
    sink.start()
    try:
        code = verify_code(sink.wait_for(email, timeout=15)[0])
        assert len(code) == 6
        assert "retry" in server.read_log()
    finally:
        sink.stop()


def test_without_smtp_mail_is_written_to_the_data_directory(start_server):
    server = start_server(env=dict(FAST, PARLEY_LOG_LEVEL="info"))
    assert "no SMTP server configured" in server.read_log()
    email = new_email()
    s = signup(server, email)
    maildir = os.path.join(server.data_dir, "mail")
    deadline = time.time() + 10
    while time.time() < deadline and not glob.glob(os.path.join(maildir, "*.eml")):
        time.sleep(0.02)
    files = glob.glob(os.path.join(maildir, "*.eml"))
    assert len(files) == 1
    assert oct(os.stat(files[0]).st_mode & 0o777) == "0o600"
    with open(files[0], "rb") as f:
        text = f.read().decode()
    assert f"To: {email}\r\n" in text
    code = next(line.strip() for line in text.splitlines() if line.strip().isdigit())
    r = server.request("POST", "/api/auth/verify-email", {"code": code}, token=s["access_token"])
    assert r.status == 200, r
    deadline = time.time() + 5
    while time.time() < deadline and "written to" not in server.read_log():
        time.sleep(0.02)
    assert f"written to {maildir}" in server.read_log()


def test_a_reset_on_one_instance_ends_the_logins_on_another(start_server, redis_url, tmp_path):
    sink = SmtpSink().start()
    try:
        env = dict(mail_env(sink), PARLEY_REDIS_URL=redis_url)
        if os.environ.get("PARLEY_TEST_STORE") == "mongo":
            from conftest import mongo_uri
            env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_{uuid.uuid4().hex[:12]}")
        a = start_server(env=env, data_dir=str(tmp_path))
        b = start_server(env=env, data_dir=str(tmp_path))
        email = new_email()
        s = signup(a, email)
        on_b = login(b, email).json()
        assert a.request("POST", "/api/auth/password-reset", {"email": email}).status == 202
        code = reset_code(reset_mail(sink, email))

        async def go():
            await asyncio.sleep(0.3)  # the bus subscriptions of fresh instances
            ws_b = await ready_session(b, on_b["access_token"])
            ws_b2 = await ready_session(b, s["access_token"])
            r = await in_executor(lambda: a.request(
                "POST", "/api/auth/password-reset/confirm", {"code": code, "password": NEW_PASSWORD}))
            assert r.status == 204, r
            for ws in (ws_b, ws_b2):
                assert (await closed_with(ws))[0] == 4003

        run(go())
        for token in (s["access_token"], on_b["access_token"]):
            assert_error(b.request("GET", "/api/auth/me", token=token), 401, "unauthorized")
        assert login(b, email, NEW_PASSWORD).status == 200
    finally:
        sink.stop()
