"""Flows cannot be turned against the server or its neighbours: rendered text is
bounded in the engine (live runs and the dry run alike) while /healthz stays
fast, customer text is percent-encoded into api_call URLs and cannot choose the
host, and another user's runs answer 404."""
import threading
import time

import pytest

from fakegraph import FakeGraph
from igutil import connect, ig_env, post_webhook, text_event, wait_until


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def owner(server):
    s = server.signup()
    connect(server, s["access_token"])
    return s["access_token"]


def create(server, tok, flow):
    r = server.request("POST", "/api/flows", flow, token=tok)
    assert r.status == 201, r.json()
    return r.json()["flow"]


def runs_of(server, tok, flow_id):
    r = server.request("GET", f"/api/flows/{flow_id}/runs", token=tok)
    assert r.status == 200, r
    return r.json()["runs"]


DOUBLING = {
    "name": "double", "status": "active", "trigger": {"type": "any_message"}, "start": "a",
    "nodes": [
        {"id": "a", "type": "action",
         "data": {"action": "set_variable", "variable": "x", "value": "{{vars.x}}{{vars.x}}"}},
        {"id": "m", "type": "message", "data": {"text": "{{vars.x}}"}},
    ],
    "edges": [{"from": "a", "to": "m"}, {"from": "m", "to": "a"}],
}


def healthz_latencies(server, stop):
    seen = []
    while not stop.is_set():
        t = time.monotonic()
        assert server.request("GET", "/healthz").status == 200
        seen.append(time.monotonic() - t)
    return seen


def test_dry_run_of_a_doubling_variable_ends_at_the_output_limit(start_server):
    srv = start_server()
    tok = srv.signup()["access_token"]
    f = create(srv, tok, DOUBLING)
    # The template is as large as validation allows, every placeholder the same
    # big variable: the engine must stop at its bound, not build gigabytes.
    big = dict(DOUBLING, name="big", nodes=[
        {"id": "a", "type": "message", "data": {"text": "{{vars.x}}" * 400}}], edges=[], start="a")
    fb = create(srv, tok, big)
    stop = threading.Event()
    lat = []
    t = threading.Thread(target=lambda: lat.extend(healthz_latencies(srv, stop)))
    t.start()
    try:
        for _ in range(5):
            r = srv.request("POST", f"/api/flows/{f['id']}/test",
                            {"text": "hi", "contact": {"variables": {"x": "ab" * 2000}}}, token=tok)
            assert r.status == 200, r.json()
            out = r.json()
            assert out["status"] == "output_limit"
            assert out["trace"][-1]["result"] == {"error": "output_limit"}
            assert sum(len(o) for o in out["outputs"]) <= 64 * 1024
            r = srv.request("POST", f"/api/flows/{fb['id']}/test",
                            {"text": "hi", "contact": {"variables": {"x": "y" * 20000}}}, token=tok)
            assert r.status == 200 and r.json()["status"] == "output_limit", r.json()
            assert r.json()["outputs"] == []
    finally:
        stop.set()
        t.join()
    assert lat and max(lat) < 0.5, max(lat)


def test_live_run_of_a_doubling_variable_is_recorded_as_output_limit(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    seed = {"id": "s", "type": "action",
            "data": {"action": "set_variable", "variable": "x", "value": "{{message.text}}"}}
    flow = dict(DOUBLING, start="s", nodes=DOUBLING["nodes"] + [seed],
                edges=DOUBLING["edges"] + [{"from": "s", "to": "a"}])
    f = create(srv, tok, flow)
    assert post_webhook(srv, text_event("hello", "mid-double-1")).status == 200
    runs = wait_until(lambda: [r for r in runs_of(srv, tok, f["id"]) if r["status"] != "running"])
    assert runs[0]["status"] == "output_limit", runs[0]
    assert srv.request("GET", "/healthz").status == 200
    assert len(fake.sends()) < 20


def test_customer_text_is_encoded_into_api_call_urls(start_server, fake):
    fake.routes["/items/..%2F..%2Fadmin%2Fdelete?q=x%26admin%3D1"] = (200, {"ok": True})
    env = dict(ig_env(fake), PARLEY_API_CALL_ALLOW=f"127.0.0.1:{fake.port}")
    srv = start_server(env=env)
    tok = owner(srv)
    flow = {
        "name": "enc", "status": "active", "trigger": {"type": "any_message"}, "start": "a",
        "nodes": [{"id": "a", "type": "action", "data": {
            "action": "api_call", "method": "GET", "save_as": "r",
            "url": fake.base_url + "/items/{{message.text}}?q={{vars.q}}"}}],
        "edges": [],
    }
    f = create(srv, tok, flow)
    # vars.q is not set for the contact: an empty value; the path value is the text.
    assert post_webhook(srv, text_event("../../admin/delete", "mid-enc-1")).status == 200
    assert fake.wait_for(lambda reqs: any(q["path"].startswith("/items/") for q in reqs))
    paths = [q["path"] for q in fake.requests if q["path"].startswith("/items/")]
    assert paths == ["/items/..%2F..%2Fadmin%2Fdelete?q="], paths
    assert not any("/admin" == q["path"][:6] for q in fake.requests)
    wait_until(lambda: [r for r in runs_of(srv, tok, f["id"]) if r["status"] == "completed"])


@pytest.mark.parametrize("url", ["https://{{vars.host}}/x", "http://example.com:{{vars.port}}/",
                                 "https://user:{{vars.p}}@example.com/"])
def test_templates_cannot_choose_the_host(start_server, url):
    srv = start_server()
    tok = srv.signup()["access_token"]
    flow = {"name": "h", "trigger": {"type": "any_message"}, "start": "a", "edges": [],
            "nodes": [{"id": "a", "type": "action", "data": {"action": "api_call", "url": url}}]}
    r = srv.request("POST", "/api/flows", flow, token=tok)
    assert r.status == 400
    err = r.json()["error"]
    assert err["code"] == "validation_failed" and "node a" in err["message"]
    assert srv.request("GET", "/api/flows", token=tok).json()["flows"] == []


def test_another_users_runs_answer_404(start_server):
    srv = start_server()
    a = srv.signup()["access_token"]
    b = srv.signup()["access_token"]
    f = create(srv, a, DOUBLING)
    assert srv.request("GET", f"/api/flows/{f['id']}/runs", token=a).status == 200
    r = srv.request("GET", f"/api/flows/{f['id']}/runs", token=b)
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    assert srv.request("GET", "/api/flows/nope/runs", token=a).status == 404
