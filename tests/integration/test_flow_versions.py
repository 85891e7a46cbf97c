"""Flow versions, analytics and InstantChat's JSON end to end (issue 19, points
4, 5 and 7): a run waiting in a delay finishes on the version it started on
after the flow is edited and republished; versions are listed, read, restored
into the draft and bounded; counters per flow and version, button clicks over
sends; InstantChat's React
Flow JSON saved through /api/flow/save runs as a Parley flow."""
import time

import pytest

from fakegraph import FakeGraph
from igutil import CONTACT, connect, fixture_json, ig_env, post_webhook, text_event, wait_until

OTHER = "6543210987650002"  # a second contact


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def owner(server):
    s = server.signup()
    connect(server, s["access_token"])
    return s["access_token"]


def delayed(text, seconds=2, name="later"):
    return {
        "name": name, "status": "active", "trigger": {"type": "any_message"}, "start": "d",
        "nodes": [
            {"id": "d", "type": "delay", "data": {"seconds": seconds}},
            {"id": "m", "type": "message", "data": {"text": text}},
        ],
        "edges": [{"from": "d", "to": "m"}],
    }


def runs_of(srv, tok, fid):
    r = srv.request("GET", f"/api/flows/{fid}/runs", token=tok)
    assert r.status == 200, r
    return r.json()["runs"]


def sent_texts(fake):
    return [r["json"]["message"]["text"] for r in fake.sends()]


def test_a_waiting_run_finishes_on_its_version(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    r = srv.request("POST", "/api/flows", delayed("the old graph"), token=tok)
    assert r.status == 201, r
    flow = r.json()["flow"]
    fid = flow["id"]
    assert flow["version"] == 1 and "live" not in flow
    assert post_webhook(srv, text_event("hi", "mid-v-1")).status == 200
    waiting = wait_until(lambda: [x for x in runs_of(srv, tok, fid) if x["status"] == "waiting"])
    assert waiting and waiting[0]["version"] == 1
    # Edit and republish while the run waits in its delay.
    r = srv.request("PUT", f"/api/flows/{fid}", delayed("the new graph", seconds=1), token=tok)
    assert r.status == 200 and r.json()["flow"]["version"] == 2, r
    assert fake.wait_for(lambda reqs: any(x["path"].endswith("/messages") for x in reqs), timeout=10)
    assert sent_texts(fake) == ["the old graph"]
    done = wait_until(lambda: [x for x in runs_of(srv, tok, fid) if x["status"] == "completed"])
    assert done and done[0]["version"] == 1
    # A new run starts on the new version.
    assert post_webhook(srv, text_event("again", "mid-v-2")).status == 200
    assert fake.wait_for(lambda reqs: len([x for x in reqs if x["path"].endswith("/messages")]) == 2,
                         timeout=10)
    assert sent_texts(fake) == ["the old graph", "the new graph"]
    assert {x["version"] for x in runs_of(srv, tok, fid)} == {1, 2}


def test_versions_list_read_restore_publish(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    draft = dict(delayed("one"), status="draft")
    r = srv.request("POST", "/api/flows", draft, token=tok)
    fid = r.json()["flow"]["id"]
    assert r.json()["flow"]["version"] is None
    assert srv.request("GET", f"/api/flows/{fid}/versions", token=tok).json() == {"versions": []}
    r = srv.request("POST", f"/api/flows/{fid}/publish", token=tok)
    assert r.status == 200 and r.json()["flow"]["status"] == "active" and r.json()["flow"]["version"] == 1
    # Publishing the same graph again makes no new version.
    assert srv.request("POST", f"/api/flows/{fid}/publish", token=tok).json()["flow"]["version"] == 1
    r = srv.request("POST", "/api/flow/save", delayed("two"), token=tok)
    assert r.status == 200 and r.json()["flow"]["version"] == 2, r
    vs = srv.request("GET", f"/api/flows/{fid}/versions", token=tok).json()["versions"]
    assert [v["version"] for v in vs] == [2, 1] and all(v["created_at"].endswith("Z") for v in vs)
    v1 = srv.request("GET", f"/api/flows/{fid}/versions/1", token=tok).json()["version"]
    assert v1["version"] == 1 and v1["nodes"][1]["data"]["text"] == "one" and v1["start"] == "d"
    # Restoring puts the version's graph into the draft; the live version stays.
    r = srv.request("POST", f"/api/flows/{fid}/versions/1/restore", token=tok)
    assert r.status == 200, r
    f = r.json()["flow"]
    assert f["nodes"][1]["data"]["text"] == "one" and f["version"] == 2 and f["status"] == "active"
    assert srv.request("GET", f"/api/flows/{fid}", token=tok).json()["flow"]["nodes"][1]["data"]["text"] == "one"
    assert srv.request("POST", f"/api/flows/{fid}/publish", token=tok).json()["flow"]["version"] == 3
    # Bad input and other users' flows.
    for bad in ("0", "x", "-1", "1.5"):
        r = srv.request("GET", f"/api/flows/{fid}/versions/{bad}", token=tok)
        assert r.status == 400 and r.json()["error"]["field"] == "version", (bad, r)
    assert srv.request("POST", f"/api/flows/{fid}/versions/0/restore", token=tok).status == 400
    assert srv.request("GET", f"/api/flows/{fid}/versions/99", token=tok).status == 404
    assert srv.request("POST", f"/api/flows/{fid}/versions/99/restore", token=tok).status == 404
    other = srv.signup()["access_token"]
    for method, path in (("GET", "versions"), ("GET", "versions/1"), ("POST", "versions/1/restore"),
                         ("POST", "publish"), ("GET", "stats")):
        assert srv.request(method, f"/api/flows/{fid}/{path}", token=other).status == 404, path
    assert srv.request("GET", f"/api/flows/{fid}", token=tok).json()["flow"]["version"] == 3


def test_versions_are_bounded_but_a_waiting_run_keeps_its_own(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    fid = srv.request("POST", "/api/flows", delayed("v1", seconds=60), token=tok).json()["flow"]["id"]
    assert post_webhook(srv, text_event("hi", "mid-b-1")).status == 200
    assert wait_until(lambda: [x for x in runs_of(srv, tok, fid) if x["status"] == "waiting"])
    for i in range(2, 26):
        r = srv.request("PUT", f"/api/flows/{fid}", delayed(f"v{i}", seconds=60), token=tok)
        assert r.status == 200 and r.json()["flow"]["version"] == i
    vs = [v["version"] for v in srv.request("GET", f"/api/flows/{fid}/versions", token=tok).json()["versions"]]
    # The 20 most recent, and version 1, which the waiting run started on.
    assert vs == list(range(25, 5, -1)) + [1], vs
    assert srv.request("GET", f"/api/flows/{fid}/versions/5", token=tok).status == 404


def test_stats_count_runs_nodes_and_days(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    flow = {
        "name": "stats", "status": "active", "trigger": {"type": "any_message"}, "start": "c",
        "nodes": [
            {"id": "c", "type": "condition", "data": {"kind": "keyword", "keyword": "mug"}},
            {"id": "yes", "type": "message", "data": {"text": "mugs!"}},
            {"id": "no", "type": "message", "data": {"text": "what?"}},
        ],
        "edges": [{"from": "c", "to": "yes", "label": "true"}, {"from": "c", "to": "no", "label": "false"}],
    }
    fid = srv.request("POST", "/api/flows", flow, token=tok).json()["flow"]["id"]
    # Two contacts: the first writes twice (it reaches c twice, "no" once).
    for i, (text, who) in enumerate([("a mug", CONTACT), ("a cup", CONTACT), ("mug again", OTHER)]):
        assert post_webhook(srv, text_event(text, f"mid-s-{i}", contact=who)).status == 200
        assert wait_until(lambda: len([x for x in runs_of(srv, tok, fid) if x["status"] == "completed"]) == i + 1)

    def stats(q=""):
        r = srv.request("GET", f"/api/flows/{fid}/stats{q}", token=tok)
        assert r.status == 200, r
        return r.json()["stats"]

    s = wait_until(lambda: (lambda s: s if s["runs"]["completed"] == 3 else None)(stats()))
    assert s["runs"] == {"started": 3, "completed": 3, "failed": 0, "step_limit": 0, "output_limit": 0}
    nodes = {n["node_id"]: n for n in s["nodes"]}
    assert [n["node_id"] for n in s["nodes"]] == ["c", "yes", "no"]
    # reached: distinct contacts; runs: the runs that reached the node.
    assert (nodes["c"]["reached"], nodes["yes"]["reached"], nodes["no"]["reached"]) == (2, 2, 1)
    assert (nodes["c"]["runs"], nodes["yes"]["runs"], nodes["no"]["runs"]) == (3, 2, 1)
    assert (nodes["yes"]["sent"], nodes["no"]["sent"], nodes["c"]["sent"]) == (2, 1, 0)
    assert nodes["yes"]["clicks"] == 0 and nodes["yes"]["click_through"] == 0
    assert nodes["c"]["click_through"] is None
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert [d["started"] for d in s["days"] if d["date"] == today] == [3]
    # Per version: a new version starts from zero, the total adds both.
    flow["nodes"][2]["data"]["text"] = "pardon?"
    assert srv.request("PUT", f"/api/flows/{fid}", flow, token=tok).json()["flow"]["version"] == 2
    assert post_webhook(srv, text_event("tea", "mid-s-9")).status == 200
    assert wait_until(lambda: stats("?version=2")["runs"]["completed"] == 1)
    assert stats("?version=1")["runs"]["started"] == 3 and stats("?version=1")["version"] == 1
    assert stats()["runs"]["started"] == 4 and stats()["version"] is None
    assert {n["node_id"]: n["reached"] for n in stats("?version=2")["nodes"]} == {"c": 1, "yes": 0, "no": 1}
    # Over all versions a contact counts once: the first contact reached c and
    # "no" on version 1 already.
    assert {n["node_id"]: n["reached"] for n in stats()["nodes"]} == {"c": 2, "yes": 2, "no": 1}
    assert {n["node_id"]: n["runs"] for n in stats()["nodes"]} == {"c": 4, "yes": 2, "no": 2}
    for bad in ("0", "x", "-3"):
        r = srv.request("GET", f"/api/flows/{fid}/stats?version={bad}", token=tok)
        assert r.status == 400 and r.json()["error"]["field"] == "version", r
    assert srv.request("GET", f"/api/flows/{fid}/stats?version=7", token=tok).status == 404


INSTANTCHAT = {
    "name": "ic welcome",
    "status": "active",
    "nodes": [
        {"id": "1", "type": "conditionNode", "position": {"x": 100, "y": 50},
         "data": {"keyword": "price"}, "width": 180, "height": 60, "selected": False},
        {"id": "2", "type": "messageNode", "position": {"x": 40, "y": 200},
         "data": {"content": "Prices start at 10 euros"}},
        {"id": "3", "type": "messageNode", "position": {"x": 260, "y": 200},
         "data": {"content": "Ask me about prices"}},
        {"id": "4", "type": "actionNode", "position": {"x": 40, "y": 340},
         "data": {"action": "tag_customer", "tag": "price-lead"}},
    ],
    "edges": [
        {"id": "e1-2", "source": "1", "target": "2", "sourceHandle": "true"},
        {"id": "e1-3", "source": "1", "target": "3", "sourceHandle": "false"},
        {"id": "e2-4", "source": "2", "target": "4"},
    ],
}


def test_instantchat_json_saves_and_runs(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    r = srv.request("POST", "/api/flow/save", INSTANTCHAT, token=tok)
    assert r.status == 201, r
    f = r.json()["flow"]
    assert f["trigger"] == {"type": "any_message"} and f["start"] == "1" and f["version"] == 1
    assert f["nodes"][0] == {"id": "1", "type": "condition", "position": {"x": 100, "y": 50},
                             "data": {"kind": "keyword", "keyword": "price"}}
    assert f["nodes"][1]["data"] == {"text": "Prices start at 10 euros"}
    assert f["nodes"][3]["data"] == {"action": "tag_customer", "tag": "price-lead"}
    assert f["edges"] == [{"from": "1", "to": "2", "label": "true"},
                          {"from": "1", "to": "3", "label": "false"}, {"from": "2", "to": "4"}]
    # Kept as Parley's model: the builder's own PUT round-trips it.
    got = srv.request("GET", "/api/flow/get/ic%20welcome", token=tok).json()["flow"]
    assert got["nodes"] == f["nodes"]
    assert post_webhook(srv, text_event("what is the price?", "mid-ic-1")).status == 200
    assert fake.wait_for(lambda reqs: any(x["path"].endswith("/messages") for x in reqs), timeout=10)
    assert sent_texts(fake) == ["Prices start at 10 euros"]
    assert wait_until(lambda: [c for c in srv.request("GET", "/api/contacts", token=tok).json()["contacts"]
                               if c["ig_user_id"] == CONTACT and "price-lead" in c["tags"]])
    # Saving again by name updates the same flow.
    again = dict(INSTANTCHAT, nodes=[dict(n) for n in INSTANTCHAT["nodes"]])
    again["nodes"][2] = dict(again["nodes"][2], data={"content": "Say price"})
    r = srv.request("POST", "/api/flow/save", again, token=tok)
    assert r.status == 200 and r.json()["flow"]["id"] == f["id"] and r.json()["flow"]["version"] == 2


@pytest.mark.parametrize("change,field,node,words", [
    (lambda b: b["nodes"][1].update(data={}), "nodes", "2", "content"),
    (lambda b: b["nodes"][1].update(data={"content": 5}), "nodes", "2", "content"),
    (lambda b: b["nodes"][0].update(data={}), "nodes", "1", "keyword"),
    (lambda b: b["nodes"][3].update(data={"action": "send_email", "tag": "x"}), "nodes", "4", "tag_customer"),
    (lambda b: b["nodes"][3].update(type="videoNode"), "nodes", "4", "videoNode"),
    (lambda b: b["nodes"][1].update(position={"x": "left", "y": 0}), "nodes", "2", "position"),
    (lambda b: b["edges"][0].update(sourceHandle="maybe"), "edges", "1", "sourceHandle"),
    (lambda b: b["edges"][2].update(target="9"), "edges", "2", "9"),
    (lambda b: b["edges"].pop(1), "edges", "1", "false"),
    (lambda b: b["edges"].append({"id": "loop", "source": "4", "target": "1"}), "start", None, "start"),
])
def test_instantchat_bad_shapes_are_refused(start_server, fake, change, field, node, words):
    import copy
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    body = copy.deepcopy(INSTANTCHAT)
    change(body)
    r = srv.request("POST", "/api/flow/save", body, token=tok)
    assert r.status == 400, r
    err = r.json()["error"]
    assert err["code"] == "validation_failed" and err["field"] == field, err
    assert err.get("node_id") == node, err
    assert words in err["message"], err
    assert srv.request("GET", "/api/flow/user", token=tok).json()["flows"] == []


def postback(payload, mid):
    ev = fixture_json("postback.json")
    item = ev["entry"][0]["messaging"][0]
    item["timestamp"] = int(time.time() * 1000)
    item["postback"]["mid"] = mid
    item["postback"]["payload"] = payload
    return ev


def test_button_clicks_count_over_sends(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    menu = {
        "name": "menu", "status": "active",
        "trigger": {"type": "keyword", "keywords": ["menu"], "match": "contains"}, "start": "m",
        "nodes": [{"id": "m", "type": "message", "data": {"text": "Pick one", "buttons": [
            {"type": "postback", "title": "Shoes", "payload": "CATEGORY_SHOES"},
            {"type": "postback", "title": "Bags", "payload": "CATEGORY_BAGS"}]}}],
        "edges": [],
    }
    fid = srv.request("POST", "/api/flows", menu, token=tok).json()["flow"]["id"]
    for i in range(4):
        assert post_webhook(srv, text_event("menu please", f"mid-menu-{i}")).status == 200
        assert fake.wait_for(lambda reqs: len([x for x in reqs if x["path"].endswith("/messages")]) == i + 1,
                             timeout=10)
    # Taps on the flow's buttons count; a payload no button carries does not.
    for i, payload in enumerate(["CATEGORY_SHOES", "CATEGORY_BAGS", "SOMETHING_ELSE"]):
        assert post_webhook(srv, postback(payload, f"mid-pb-{i}")).status == 200

    def node():
        r = srv.request("GET", f"/api/flows/{fid}/stats?version=1", token=tok)
        assert r.status == 200, r
        return r.json()["stats"]["nodes"][0]

    n = wait_until(lambda: (lambda n: n if n["clicks"] == 2 and n["sent"] == 4 else None)(node()))
    assert n, node()
    assert n["click_through"] == 0.5 and n["runs"] == 4 and n["reached"] == 1  # one contact
    time.sleep(0.3)
    assert node()["clicks"] == 2
