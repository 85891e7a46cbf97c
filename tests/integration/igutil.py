"""Helpers for the Instagram and flow tests: signing webhook bodies as Meta does,
the fixtures, a server wired to a fake Graph API, polling."""
import copy
import hashlib
import hmac
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures", "instagram")
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCOUNT = "17841400000000001"
CONTACT = "6543210987654321"


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def fixture_json(name):
    return json.loads(fixture(name))


def sign(body, secret=APP_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(server, body, signature=None, headers=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    h = {"Content-Type": "application/json"}
    if signature is not False:
        h["X-Hub-Signature-256"] = signature or sign(body)
    h.update(headers or {})
    return server.request("POST", "/api/webhook/instagram", raw_body=body, headers=h)


def text_event(text, mid, contact=CONTACT, account=ACCOUNT, ts_ms=None):
    ev = fixture_json("message_text.json")
    item = ev["entry"][0]["messaging"][0]
    ev["entry"][0]["id"] = account
    item["sender"]["id"] = contact
    item["recipient"]["id"] = account
    item["message"]["mid"] = mid
    item["message"]["text"] = text
    item["timestamp"] = ts_ms if ts_ms is not None else int(time.time() * 1000)
    return ev


def ig_env(fake):
    return {"PARLEY_IG_APP_SECRET": APP_SECRET, "PARLEY_IG_VERIFY_TOKEN": VERIFY_TOKEN,
            "PARLEY_GRAPH_API_BASE": fake.base_url + "/v21.0"}


def connect(server, token, ig_user_id=ACCOUNT, access_token=None):
    """Connects ig_user_id with a token the fake Graph API vouches for."""
    r = server.request("POST", "/api/instagram/connect",
                       {"ig_user_id": ig_user_id,
                        "access_token": access_token or f"IGQ-test-{ig_user_id}"}, token=token)
    assert r.status == 200, r
    return r.json()["account"]


def wait_until(fn, timeout=10.0, interval=0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    return last


def ig_conversations(server, token):
    r = server.request("GET", "/api/messages/instagram", token=token)
    assert r.status == 200, r
    return r.json()["conversations"]


def ig_messages(server, token):
    convs = ig_conversations(server, token)
    if not convs:
        return []
    r = server.request("GET", f"/api/messages/instagram/{convs[0]['id']}", token=token)
    assert r.status == 200, r
    return r.json()["messages"]


def deep(o):
    return copy.deepcopy(o)
