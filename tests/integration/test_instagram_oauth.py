"""Continue with Instagram end to end against the fake Graph API (issue 19,
point 6): the authorize URL with a state bound to the session, the redirect,
the code exchanged for a short-lived then a long-lived token, the account
verified (/me) and subscribed to the webhook fields, its token stored sealed
and used for sends; a state from another session, a forged or missing one, a
refused code and a failed subscription connect nothing."""
import glob
import os
import urllib.parse
import urllib.request

import pytest

from fakegraph import FakeGraph
from igutil import ACCOUNT, ig_env, post_webhook, text_event, wait_until


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def oauth_env(fake):
    return dict(ig_env(fake), PARLEY_IG_APP_ID="990001",
                PARLEY_IG_OAUTH_AUTHORIZE_URL=fake.base_url + "/oauth/authorize",
                PARLEY_IG_OAUTH_TOKEN_URL=fake.base_url + "/oauth/access_token",
                PARLEY_IG_OAUTH_LONG_LIVED_URL=fake.base_url + "/access_token",
                PARLEY_PUBLIC_URL="https://chat.example.test/")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def authorize(url):
    """What the browser does at Instagram: the person agrees, Instagram
    redirects back. Returns the query of the redirect."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url)
        raise AssertionError("no redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 302
        location = e.headers["Location"]
    assert location.startswith("https://chat.example.test/instagram/connect?"), location
    q = urllib.parse.urlparse(location).query
    return {k: v[0] for k, v in urllib.parse.parse_qs(q).items()}


def start(srv, tok):
    r = srv.request("GET", "/api/instagram/oauth/start", token=tok)
    assert r.status == 200, r
    return r.json()


def test_continue_with_instagram(start_server, fake):
    srv = start_server(env=oauth_env(fake))
    tok = srv.signup()["access_token"]
    s = start(srv, tok)
    u = urllib.parse.urlparse(s["url"])
    q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
    assert s["url"].startswith(fake.base_url + "/oauth/authorize?")
    assert q["client_id"] == "990001" and q["response_type"] == "code"
    assert q["redirect_uri"] == "https://chat.example.test/instagram/connect"
    assert "instagram_business_manage_messages" in q["scope"].split(",")
    assert q["state"] == s["state"]
    back = authorize(s["url"])
    assert back["state"] == s["state"]
    r = srv.request("POST", "/api/instagram/oauth/finish", {"code": back["code"], "state": back["state"]},
                    token=tok)
    assert r.status == 200, r
    account = r.json()["account"]
    assert account["ig_user_id"] == ACCOUNT and account["username"] == "parley_shop"
    assert "token_cipher" not in account
    # The exchanges carried the app's id, secret and redirect URI.
    ex = [x for x in fake.requests if x["path"] == "/oauth/access_token"][0]
    form = urllib.parse.parse_qs(ex["body"].decode())
    assert form["client_id"] == ["990001"] and form["redirect_uri"] == [q["redirect_uri"]]
    assert form["code"] == [back["code"]]
    ll = [x for x in fake.requests if x["path"].startswith("/access_token?")][0]["path"]
    assert "grant_type=ig_exchange_token" in ll
    # Subscribed to the fields Parley handles, with the long-lived token.
    assert len(fake.subscriptions) == 1
    sub_token, fields = fake.subscriptions[0]
    assert sub_token == f"IGQ-test-{ACCOUNT}"
    assert {"messages", "messaging_postbacks", "messaging_reactions", "comments"} <= set(fields.split(","))
    st = srv.request("GET", "/api/instagram/status", token=tok).json()
    assert st["connected"] is True, st
    # The token is stored sealed: never as text in the store's file.
    for path in glob.glob(os.path.join(srv.data_dir, "*.db*")):
        with open(path, "rb") as f:
            assert b"IGQ-test-" not in f.read(), path
    # And it works: a contact's message gets the reply a flow sends with it.
    flow = {"name": "hi", "status": "active", "trigger": {"type": "any_message"}, "start": "m",
            "nodes": [{"id": "m", "type": "message", "data": {"text": "welcome"}}], "edges": []}
    assert srv.request("POST", "/api/flows", flow, token=tok).status == 201
    assert post_webhook(srv, text_event("hello", "mid-oauth-1")).status == 200
    assert fake.wait_for(lambda reqs: any(x["path"].endswith("/messages") for x in reqs), timeout=10)
    send = fake.sends()[0]
    assert send["headers"]["Authorization"] == f"Bearer IGQ-test-{ACCOUNT}"
    # The state works once, within its 10 minutes too: replayed (with its code
    # or any other) it is refused before anything reaches Instagram.
    exchanges = len([x for x in fake.requests if x["path"] == "/oauth/access_token"])
    for code in (back["code"], "another-code"):
        r = srv.request("POST", "/api/instagram/oauth/finish", {"code": code, "state": back["state"]},
                        token=tok)
        assert r.status == 400 and r.json()["error"]["field"] == "state", r
        assert "used already" in r.json()["error"]["message"], r
    assert len([x for x in fake.requests if x["path"] == "/oauth/access_token"]) == exchanges


def test_state_is_bound_to_the_session(start_server, fake):
    srv = start_server(env=oauth_env(fake))
    victim = srv.signup()["access_token"]
    attacker = srv.signup(email="mallory@example.com")["access_token"]
    s = start(srv, attacker)
    back = authorize(s["url"])
    # The attacker's redirect replayed in the victim's session: refused.
    r = srv.request("POST", "/api/instagram/oauth/finish", {"code": back["code"], "state": back["state"]},
                    token=victim)
    assert r.status == 400 and r.json()["error"]["field"] == "state", r
    # Another login of the same user is another session too.
    r = srv.request("POST", "/api/auth/login", {"email": "mallory@example.com",
                                                "password": "correct horse battery"})
    assert r.status == 200, r
    r = srv.request("POST", "/api/instagram/oauth/finish", {"code": back["code"], "state": back["state"]},
                    token=r.json()["access_token"])
    assert r.status == 400 and r.json()["error"]["field"] == "state", r
    expiry, nonce, mac = s["state"].split(".")
    forged = [f"{int(expiry) + 1}.{nonce}.{mac}", f"{expiry}.{nonce}.{'0' * 64}", "x", s["state"] + "0",
              f"{expiry}.{nonce}"]
    for state in forged:
        r = srv.request("POST", "/api/instagram/oauth/finish", {"code": back["code"], "state": state},
                        token=attacker)
        assert r.status == 400 and r.json()["error"]["field"] == "state", (state, r)
    for body, field in (({"state": s["state"]}, "code"), ({"code": back["code"]}, "state"),
                        ({"code": 5, "state": s["state"]}, "code")):
        r = srv.request("POST", "/api/instagram/oauth/finish", body, token=attacker)
        assert r.status == 400 and r.json()["error"]["field"] == field, (body, r)
    assert not [x for x in fake.requests if x["path"] == "/oauth/access_token"]
    for tok in (victim, attacker):
        assert srv.request("GET", "/api/instagram/status", token=tok).json()["connected"] is False
    # The attacker's own session still finishes its own authorization.
    r = srv.request("POST", "/api/instagram/oauth/finish", {"code": back["code"], "state": back["state"]},
                    token=attacker)
    assert r.status == 200, r
    assert srv.request("GET", "/api/instagram/oauth/start").status == 401


def test_refused_code_and_failed_subscription_connect_nothing(start_server, fake):
    srv = start_server(env=oauth_env(fake))
    tok = srv.signup()["access_token"]
    s = start(srv, tok)
    r = srv.request("POST", "/api/instagram/oauth/finish", {"code": "made-up", "state": s["state"]}, token=tok)
    assert r.status == 400 and r.json()["error"]["field"] == "code", r
    fake.subscribe_status = 403
    back = authorize(start(srv, tok)["url"])
    r = srv.request("POST", "/api/instagram/oauth/finish", {"code": back["code"], "state": back["state"]},
                    token=tok)
    assert r.status == 502 and r.json()["error"]["code"] == "upstream_error", r
    assert srv.request("GET", "/api/instagram/status", token=tok).json()["connected"] is False
    # The manual form still connects.
    r = srv.request("POST", "/api/instagram/connect", {"access_token": f"IGQ-test-{ACCOUNT}"}, token=tok)
    assert r.status == 200, r


def test_not_configured(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    r = srv.request("GET", "/api/instagram/oauth/start", token=tok)
    assert r.status == 503 and r.json()["error"]["code"] == "unavailable", r
    r = srv.request("POST", "/api/instagram/oauth/finish", {"code": "c", "state": "s"}, token=tok)
    assert r.status == 503, r
