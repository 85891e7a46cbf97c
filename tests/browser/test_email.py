"""E-mail in the web client (issue 17, item 6), against a local SMTP sink: the code
screen after signup (optional verification, then required: the code first, then the
login), and "forgot your password" from the login screen through the mailed code to
a new password that logs in while the old login elsewhere is signed out."""
import uuid

import pytest

from conftest import PASSWORD, retype
from smtp_sink import SmtpSink, reset_mail, verify_code, reset_code

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


def mail_env(sink, **extra):
    env = {"PARLEY_SMTP_URL": sink.url, "PARLEY_SMTP_TLS": "off",
           "PARLEY_PUBLIC_URL": "http://parley.test"}
    env.update(extra)
    return env


def new_email(tag):
    return f"{tag}.{uuid.uuid4().hex[:8]}@example.com"


def unexpected(page, *expected):
    """Console errors but the 400s of the wrong codes the test typed on purpose."""
    return [e for e in page.severe()
            if not any(f"{path} - Failed to load resource: the server responded with a status of 400"
                       in e["message"] for path in expected)]


def type_into(page, css, text):
    retype(page.find(css), text)


def test_signup_then_verify_with_the_mailed_code(app_factory, browser_factory, sink):
    app = app_factory(mail_env(sink))
    page = browser_factory(app=app)
    email = new_email("verify")
    page.signup_ui("Vera Fy", email)
    # Verification optional: signup goes straight to the inbox, which offers the code.
    page.wait(lambda: "/inbox" in page.d.current_url, what="the inbox after signup")
    banner = page.find("[data-test=verify-banner]")
    assert email in banner.text
    page.shot("verify_email_banner")
    page.find("[data-test=verify-banner-open]").click()
    page.wait(lambda: "/verify-email" in page.d.current_url, what="the code screen")
    assert email in page.find("[data-test=verify-intro]").text
    code = verify_code(sink.wait_for(email)[0])
    type_into(page, "[data-test=verify-code]", "000000" if code != "000000" else "111111")
    page.find("form[aria-label='Verify e-mail'] button[type=submit]").click()
    assert "wrong, expired" in page.find("#verify-error").text
    page.shot("verify_email_wrong_code")
    # A new code: the old one is dead.
    page.find("[data-test=resend]").click()
    page.wait(lambda: "new code" in page.find("[data-test=verify-note]").text, what="the resend note")
    code = verify_code(sink.wait_for(email, 2)[1])
    type_into(page, "[data-test=verify-code]", code)
    page.shot("verify_email")
    page.find("form[aria-label='Verify e-mail'] button[type=submit]").click()
    page.wait(lambda: "/inbox" in page.d.current_url, what="the inbox after verifying")
    assert not page.all("[data-test=verify-banner]")
    page.open("/settings")
    page.find("#profile-email")
    assert not page.all("[data-test=email-unverified]")
    assert not unexpected(page, "/api/auth/verify-email"), page.severe()


def test_required_verification_logs_in_after_the_code(app_factory, browser_factory, sink):
    app = app_factory(mail_env(sink, PARLEY_EMAIL_VERIFICATION="required"))
    page = browser_factory(app=app)
    email = new_email("required")
    page.signup_ui("Req Uired", email)
    page.wait(lambda: "/verify-email" in page.d.current_url, what="the code screen")
    assert page.js("return localStorage.getItem('parley.session')") is None
    assert not page.all("[data-test=verify-later]")  # no way around it
    code = verify_code(sink.wait_for(email)[0])
    type_into(page, "[data-test=verify-code]", code)
    page.find("form[aria-label='Verify e-mail'] button[type=submit]").click()
    page.wait(lambda: "/inbox" in page.d.current_url, what="logged in after verifying")
    # Later, a login goes straight in.
    page.js("localStorage.clear()")
    page.login_ui(email)
    assert not page.severe(), page.severe()


def test_forgot_password_from_the_login_screen(app_factory, browser_factory, sink):
    app = app_factory(mail_env(sink))
    email = new_email("forgot")
    st, s = app.api("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "For Got"})
    assert st == 201
    other = browser_factory(app=app)
    other.login_token(s)
    other.open("/inbox")
    other.wait(lambda: "/inbox" in other.d.current_url, what="the other browser in")
    page = browser_factory(app=app)
    page.open("/login")
    page.find("[data-test=forgot]").click()
    page.wait(lambda: "/forgot-password" in page.d.current_url, what="the reset screen")
    type_into(page, "#reset-email", email)
    page.shot("forgot_password")
    page.find("form[aria-label='Ask for a reset code'] button[type=submit]").click()
    assert email in page.find("[data-test=reset-sent]").text
    code = reset_code(reset_mail(sink, email))
    type_into(page, "#reset-code", code[:-1] + ("X" if code[-1] != "X" else "Y"))
    type_into(page, "#reset-password", NEW_PASSWORD)
    page.find("form[aria-label='Choose a new password'] button[type=submit]").click()
    assert "wrong, expired" in page.find("#reset-code-error").text
    type_into(page, "#reset-code", code)
    page.shot("reset_password")
    page.find("form[aria-label='Choose a new password'] button[type=submit]").click()
    page.wait(lambda: "/inbox" in page.d.current_url, what="logged in with the new password")
    # The browser that was logged in before is signed out.
    other.wait(lambda: "/login" in other.d.current_url, what="the other browser signed out")
    assert app.api("POST", "/api/auth/login", {"email": email, "password": PASSWORD})[0] == 401
    assert not unexpected(page, "/api/auth/password-reset/confirm"), page.severe()


def test_the_mailed_link_opens_the_reset_with_the_code(app_factory, browser_factory, sink):
    app = app_factory(mail_env(sink))
    email = new_email("link")
    assert app.api("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "Lin K"})[0] == 201
    assert app.api("POST", "/api/auth/password-reset", {"email": email})[0] == 202
    mail = reset_mail(sink, email)
    link = next(line.strip() for line in mail["body"].splitlines() if "reset-password?code=" in line)
    page = browser_factory(app=app)
    page.open(link.replace("http://parley.test", ""))
    assert page.find("#reset-code").get_attribute("value") == reset_code(mail).replace("-", "")
    type_into(page, "#reset-password", NEW_PASSWORD)
    page.find("form[aria-label='Choose a new password'] button[type=submit]").click()
    assert "every device was signed out" in page.find("[data-test=reset-done]").text
    page.shot("reset_password_done")
    page.login_ui(email, NEW_PASSWORD)
    assert not page.severe(), page.severe()
