"""Automation flows end to end: the builder API and its validation, a keyword
flow answering a signed webhook through the fake Graph API and tagging the
contact, echoes running nothing, api_call with the address guard, delays that
resume (also across a restart), the dry run, and the seed SPA's aliases."""
import copy
import signal
import time

import pytest

from fakegraph import FakeGraph
from igutil import (ACCOUNT, CONTACT, connect, fixture, ig_env, post_webhook, text_event, wait_until)

PRICE_FLOW = {
    "name": "price", "status": "active",
    "trigger": {"type": "keyword", "keywords": ["price"], "match": "contains"},
    "start": "m1",
    "nodes": [
        {"id": "m1", "type": "message", "data": {"text": "Hi {{contact.username}}! You asked: {{message.text}}"}},
        {"id": "t1", "type": "action", "data": {"action": "tag_customer", "tag": "price-asked"}},
    ],
    "edges": [{"from": "m1", "to": "t1"}],
}


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def make_owner(server):
    s = server.signup()
    connect(server, s["access_token"])
    return s


def create(server, tok, flow, status=201):
    r = server.request("POST", "/api/flows", flow, token=tok)
    assert r.status == status, r
    return r.json().get("flow")


def runs_of(server, tok, flow_id):
    r = server.request("GET", f"/api/flows/{flow_id}/runs", token=tok)
    assert r.status == 200, r
    return r.json()["runs"]


def test_crud_validation_and_visibility(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    f = create(srv, tok, PRICE_FLOW)
    assert f["id"] and f["status"] == "active" and f["created_at"].endswith("Z")
    assert srv.request("GET", f"/api/flows/{f['id']}", token=tok).json()["flow"]["name"] == "price"
    changed = dict(PRICE_FLOW, name="price2", status="draft")
    r = srv.request("PUT", f"/api/flows/{f['id']}", changed, token=tok)
    assert r.status == 200 and r.json()["flow"]["name"] == "price2"
    assert [x["id"] for x in srv.request("GET", "/api/flows", token=tok).json()["flows"]] == [f["id"]]
    other = srv.signup()["access_token"]
    assert srv.request("GET", f"/api/flows/{f['id']}", token=other).status == 404
    assert srv.request("DELETE", f"/api/flows/{f['id']}", token=other).status == 404
    bad = copy.deepcopy(PRICE_FLOW)
    bad["nodes"][1]["type"] = "teleport"
    r = srv.request("POST", "/api/flows", bad, token=tok)
    assert r.status == 400 and "t1" in r.json()["error"]["message"]
    bad = copy.deepcopy(PRICE_FLOW)
    bad["edges"] = [{"from": "m1", "to": "zz"}]
    r = srv.request("POST", "/api/flows", bad, token=tok)
    assert r.status == 400 and "m1" in r.json()["error"]["message"]
    bad = copy.deepcopy(PRICE_FLOW)
    del bad["start"]
    assert srv.request("POST", "/api/flows", bad, token=tok).status == 400
    bad = copy.deepcopy(PRICE_FLOW)
    bad["nodes"].append({"id": "c", "type": "condition", "data": {"kind": "tag", "tag": "x"}})
    bad["edges"].append({"from": "c", "to": "m1", "label": "true"})
    r = srv.request("POST", "/api/flows", bad, token=tok)
    assert r.status == 400 and "c" in r.json()["error"]["message"]
    assert srv.request("DELETE", f"/api/flows/{f['id']}", token=tok).status == 204
    assert srv.request("GET", f"/api/flows/{f['id']}", token=tok).status == 404


def test_aliases_round_trip(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    r = srv.request("POST", "/api/flow/save", PRICE_FLOW, token=tok)
    assert r.status == 201
    fid = r.json()["flow"]["id"]
    r = srv.request("POST", "/api/flow/save", dict(PRICE_FLOW, status="archived"), token=tok)
    assert r.status == 200 and r.json()["flow"]["id"] == fid and r.json()["flow"]["status"] == "archived"
    assert srv.request("GET", "/api/flow/get/price", token=tok).json()["flow"]["id"] == fid
    assert [f["id"] for f in srv.request("GET", "/api/flow/user", token=tok).json()["flows"]] == [fid]
    assert srv.request("DELETE", f"/api/flow/{fid}", token=tok).status == 204
    assert srv.request("GET", "/api/flow/get/price", token=tok).status == 404


def test_keyword_flow_replies_and_tags(start_server, fake):
    srv = start_server(env=ig_env(fake))
    s = make_owner(srv)
    tok = s["access_token"]
    f = create(srv, tok, PRICE_FLOW)
    fake.profiles[CONTACT] = {"name": "Mia Rossi", "username": "mia.r", "profile_pic": "https://x/p.jpg"}
    assert post_webhook(srv, text_event("what is the price?", "mid-flow-1")).status == 200
    assert fake.wait_for(lambda reqs: any(r["path"].endswith("/messages") for r in reqs))
    send = fake.sends()[0]
    assert send["json"]["recipient"]["id"] == CONTACT
    # The first message's flow waits for the contact's profile: the username renders.
    assert send["json"]["message"]["text"] == "Hi mia.r! You asked: what is the price?"
    contact = wait_until(lambda: [c for c in srv.request("GET", "/api/contacts", token=tok).json()["contacts"]
                                  if "price-asked" in c["tags"]])
    assert contact
    runs = wait_until(lambda: [r for r in runs_of(srv, tok, f["id"]) if r["status"] == "completed"])
    assert runs[0]["trace"][0]["node_id"] == "m1"
    # an echo runs nothing; a message that does not match runs nothing
    assert post_webhook(srv, fixture("message_echo.json")).status == 200
    assert post_webhook(srv, text_event("hello there", "mid-flow-2")).status == 200
    time.sleep(0.5)
    assert len(fake.sends()) == 1
    assert len(runs_of(srv, tok, f["id"])) == 1


def test_runs_send_with_the_accounts_current_token(start_server, fake):
    # The runner opens an account's token once (keyed by its sealed form): a
    # reconnect with another token seals a new one, and the next run sends with it.
    srv = start_server(env=ig_env(fake))
    s = make_owner(srv)
    tok = s["access_token"]
    create(srv, tok, PRICE_FLOW)
    assert post_webhook(srv, text_event("price one", "mid-tok-1")).status == 200
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) >= 1)
    assert fake.sends()[0]["headers"]["Authorization"] == f"Bearer IGQ-test-{ACCOUNT}"
    fake.tokens["IGQ-second"] = (ACCOUNT, "shop")
    connect(srv, tok, access_token="IGQ-second")
    assert post_webhook(srv, text_event("price two", "mid-tok-2")).status == 200
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) >= 2)
    assert fake.sends()[1]["headers"]["Authorization"] == "Bearer IGQ-second"


VIP_FLOW = {
    "name": "vip", "status": "active",
    "trigger": {"type": "keyword", "keywords": ["status"], "match": "contains"},
    "start": "c1",
    "nodes": [
        {"id": "c1", "type": "condition", "data": {"kind": "tag", "tag": "vip"}},
        {"id": "c2", "type": "condition", "data": {"kind": "variable", "name": "city", "equals": "Rome"}},
        {"id": "rome", "type": "message", "data": {"text": "vip in Rome"}},
        {"id": "vip", "type": "message", "data": {"text": "vip"}},
        {"id": "std", "type": "message", "data": {"text": "standard"}},
    ],
    "edges": [{"from": "c1", "to": "c2", "label": "true"}, {"from": "c1", "to": "std", "label": "false"},
              {"from": "c2", "to": "rome", "label": "true"}, {"from": "c2", "to": "vip", "label": "false"}],
}


def test_contact_edits_reach_the_very_next_flow_run(start_server, fake):
    # Each edit through the REST API (tags, variables, the automation pause) is
    # seen by the flow run of the next message, however the contact is cached.
    srv = start_server(env=ig_env(fake))
    s = make_owner(srv)
    tok = s["access_token"]
    create(srv, tok, VIP_FLOW)
    n = [0]

    def reply_to(text):
        n[0] += 1
        before = len(fake.sends())
        assert post_webhook(srv, text_event(text, f"mid-edit-{n[0]}")).status == 200
        assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) > before)
        return fake.sends()[before]["json"]["message"]["text"]

    assert reply_to("status?") == "standard"
    cid = srv.request("GET", "/api/contacts", token=tok).json()["contacts"][0]["id"]

    def patch(body):
        r = srv.request("PATCH", f"/api/contacts/{cid}", body, token=tok)
        assert r.status == 200, r

    patch({"tags": ["vip"]})
    assert reply_to("status?") == "vip"
    patch({"variables": {"city": "Rome"}})
    assert reply_to("status?") == "vip in Rome"
    patch({"variables": {"city": None}})
    assert reply_to("status?") == "vip"
    patch({"tags": []})
    assert reply_to("status?") == "standard"
    r = srv.request("POST", f"/api/contacts/{cid}/automation", {"paused": True}, token=tok)
    assert r.status == 200, r
    before = len(fake.sends())
    assert post_webhook(srv, text_event("status while paused", "mid-edit-paused")).status == 200
    conv = wait_until(lambda: [m for m in ig_texts(srv, tok) if m == "status while paused"])
    assert conv
    time.sleep(0.5)
    assert len(fake.sends()) == before, "a flow ran while automation was paused"
    r = srv.request("POST", f"/api/contacts/{cid}/automation", {"paused": False}, token=tok)
    assert r.status == 200, r
    assert reply_to("status?") == "standard"


def ig_texts(server, tok):
    convs = server.request("GET", "/api/messages/instagram", token=tok).json()["conversations"]
    if not convs:
        return []
    msgs = server.request("GET", f"/api/messages/instagram/{convs[0]['id']}", token=tok).json()["messages"]
    return [m["text"] for m in msgs]


def api_flow(url, name="api"):
    return {
        "name": name, "status": "active", "trigger": {"type": "any_message"}, "start": "a",
        "nodes": [
            {"id": "a", "type": "action", "data": {"action": "api_call", "url": url, "method": "GET", "save_as": "quote"}},
            {"id": "m", "type": "message", "data": {"text": "Price: {{vars.quote.price}}"}},
        ],
        "edges": [{"from": "a", "to": "m"}],
    }


def test_api_call_allowed_saves_json(start_server, fake):
    fake.routes["/quote"] = (200, {"price": "12 EUR"})
    env = dict(ig_env(fake), PARLEY_API_CALL_ALLOW=f"127.0.0.1:{fake.port}")
    srv = start_server(env=env)
    tok = make_owner(srv)["access_token"]
    create(srv, tok, api_flow(f"{fake.base_url}/quote"))
    assert post_webhook(srv, text_event("hi", "mid-api-1")).status == 200
    assert fake.wait_for(lambda reqs: any(r["path"].endswith("/messages") for r in reqs))
    assert fake.sends()[0]["json"]["message"]["text"] == "Price: 12 EUR"


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/quote", "http://10.0.0.1/quote",
                                 "http://169.254.169.254/latest/meta-data/"])
def test_api_call_refused_addresses(start_server, fake, url):
    fake.routes["/quote"] = (200, {"price": "12 EUR"})
    srv = start_server(env=ig_env(fake))
    tok = make_owner(srv)["access_token"]
    f = create(srv, tok, api_flow(url.format(port=fake.port)))
    assert post_webhook(srv, text_event("hi", "mid-ssrf-1")).status == 200
    runs = wait_until(lambda: [r for r in runs_of(srv, tok, f["id"]) if r["status"] == "failed"])
    assert runs, [(r["status"], r["trace"]) for r in runs_of(srv, tok, f["id"])]
    assert runs[0]["trace"][0]["result"].get("error") == "refused address"
    assert not any(r["path"] == "/quote" for r in fake.requests)
    assert fake.sends() == []


DELAY_FLOW = {
    "name": "later", "status": "active", "trigger": {"type": "any_message"}, "start": "d",
    "nodes": [
        {"id": "d", "type": "delay", "data": {"seconds": 2}},
        {"id": "m", "type": "message", "data": {"text": "two seconds later"}},
    ],
    "edges": [{"from": "d", "to": "m"}],
}


def test_delay_resumes(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = make_owner(srv)["access_token"]
    create(srv, tok, DELAY_FLOW)
    started = time.time()
    assert post_webhook(srv, text_event("hi", "mid-delay-1")).status == 200
    assert fake.wait_for(lambda reqs: any(r["path"].endswith("/messages") for r in reqs), timeout=10)
    assert time.time() - started >= 1.9
    assert fake.sends()[0]["json"]["message"]["text"] == "two seconds later"


def test_delay_resumes_after_restart(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = make_owner(srv)["access_token"]
    f = create(srv, tok, DELAY_FLOW)
    assert post_webhook(srv, text_event("hi", "mid-delay-2")).status == 200
    wait_until(lambda: [r for r in runs_of(srv, tok, f["id"]) if r["status"] == "waiting"])
    assert srv.stop() == 0
    assert fake.sends() == []
    env = ig_env(fake)
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    again = start_server(env=env, data_dir=srv.data_dir)
    assert fake.wait_for(lambda reqs: any(r["path"].endswith("/messages") for r in reqs), timeout=10)
    runs = wait_until(lambda: [r for r in runs_of(again, tok, f["id"]) if r["status"] == "completed"])
    assert runs


def test_dry_run_sends_and_stores_nothing(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = make_owner(srv)["access_token"]
    f = create(srv, tok, PRICE_FLOW)
    r = srv.request("POST", f"/api/flows/{f['id']}/test",
                    {"text": "the price?", "contact": {"username": "ana"}}, token=tok)
    assert r.status == 200, r
    out = r.json()
    assert out["outputs"] == ["Hi ana! You asked: the price?"]
    assert out["status"] == "completed"
    assert [t["node_id"] for t in out["trace"]] == ["m1", "t1"]
    assert fake.sends() == []
    assert runs_of(srv, tok, f["id"]) == []
    assert srv.request("GET", "/api/contacts", token=tok).json()["contacts"] == []
    assert srv.request("POST", f"/api/flows/{f['id']}/test", {"text": 5}, token=tok).status == 400
