"""What the flow builder needs from the server: validation errors that name the
node (`node_id` beside `field` in the error envelope) and node positions
(`nodes[].position {x, y}`) that round-trip through the store, validated as
numbers. Runs on the store the suite is given (SQLite or MongoDB)."""
import copy

import pytest

FLOW = {
    "name": "builder", "status": "draft",
    "trigger": {"type": "keyword", "keywords": ["hi"], "match": "contains"},
    "start": "m1",
    "nodes": [
        {"id": "m1", "type": "message", "data": {"text": "Hello {{contact.username}}"},
         "position": {"x": 120, "y": -40.5}},
        {"id": "c1", "type": "condition", "data": {"kind": "keyword", "keyword": "price"},
         "position": {"x": 120.25, "y": 200}},
        {"id": "a1", "type": "action", "data": {"action": "tag_customer", "tag": "asked"}},
        {"id": "d1", "type": "delay", "data": {"seconds": 5}, "position": {"x": 0, "y": 0}},
    ],
    "edges": [{"from": "m1", "to": "c1"}, {"from": "c1", "to": "a1", "label": "true"},
              {"from": "c1", "to": "d1", "label": "false"}],
}


def positions(flow):
    return {n["id"]: n.get("position") for n in flow["nodes"]}


def test_positions_round_trip(server):
    tok = server.signup()["access_token"]
    r = server.request("POST", "/api/flows", FLOW, token=tok)
    assert r.status == 201, r
    flow = r.json()["flow"]
    want = {"m1": {"x": 120, "y": -40.5}, "c1": {"x": 120.25, "y": 200}, "a1": None,
            "d1": {"x": 0, "y": 0}}
    assert positions(flow) == want
    got = server.request("GET", f"/api/flows/{flow['id']}", token=tok).json()["flow"]
    assert positions(got) == want
    listed = server.request("GET", "/api/flows", token=tok).json()["flows"]
    assert positions(listed[0]) == want
    moved = copy.deepcopy(FLOW)
    moved["nodes"][2]["position"] = {"x": -300, "y": 75.75}
    del moved["nodes"][0]["position"]
    r = server.request("PUT", f"/api/flows/{flow['id']}", moved, token=tok)
    assert r.status == 200, r
    got = server.request("GET", f"/api/flows/{flow['id']}", token=tok).json()["flow"]
    assert positions(got) == {"m1": None, "c1": {"x": 120.25, "y": 200},
                              "a1": {"x": -300, "y": 75.75}, "d1": {"x": 0, "y": 0}}
    # The alias used by existing SPAs keeps them too.
    r = server.request("POST", "/api/flow/save", dict(moved, name="saved"), token=tok)
    assert r.status == 201 and positions(r.json()["flow"])["a1"] == {"x": -300, "y": 75.75}


@pytest.mark.parametrize("position", [
    {"x": "1", "y": 2}, {"x": 1}, {"x": 1, "y": None}, [1, 2], "1,2", 5,
    {"x": 1, "y": 2, "z": 3}, {"x": 1e9, "y": 0}, {"x": 0, "y": -2000000}, {"x": True, "y": 1},
])
def test_bad_positions_are_refused_naming_the_node(server, position):
    tok = server.signup()["access_token"]
    flow = server.request("POST", "/api/flows", FLOW, token=tok).json()["flow"]
    bad = copy.deepcopy(FLOW)
    bad["nodes"][1]["position"] = position
    for method, path in [("POST", "/api/flows"), ("PUT", f"/api/flows/{flow['id']}")]:
        r = server.request(method, path, bad, token=tok)
        assert r.status == 400, (position, r)
        err = r.json()["error"]
        assert err["code"] == "validation_failed"
        assert err["field"] == "nodes" and err["node_id"] == "c1", err
        assert "position" in err["message"]
    # Nothing changed.
    got = server.request("GET", f"/api/flows/{flow['id']}", token=tok).json()["flow"]
    assert positions(got)["c1"] == {"x": 120.25, "y": 200}
    assert len(server.request("GET", "/api/flows", token=tok).json()["flows"]) == 1


def mutate(change):
    f = copy.deepcopy(FLOW)
    change(f)
    return f


CASES = [
    # (how the flow is broken, field, node_id or None)
    (lambda f: f["nodes"][2].update(type="teleport"), "nodes", "a1"),
    (lambda f: f["nodes"][0]["data"].update(text=""), "nodes", "m1"),
    (lambda f: f["nodes"][3]["data"].update(seconds=86401), "nodes", "d1"),
    (lambda f: f["nodes"][1]["data"].update(kind="mood"), "nodes", "c1"),
    (lambda f: f["nodes"][2].update(data=[]), "nodes", "a1"),
    (lambda f: f["nodes"].append({"id": "m1", "type": "delay", "data": {"seconds": 1}}), "nodes", "m1"),
    (lambda f: f["edges"].__setitem__(0, {"from": "m1", "to": "nowhere"}), "edges", "m1"),
    (lambda f: f["edges"].pop(2), "edges", "c1"),
    (lambda f: f["edges"].append({"from": "m1", "to": "d1"}), "edges", "m1"),
    (lambda f: f["edges"].append({"from": "a1", "to": "d1", "label": "maybe"}), "edges", "a1"),
    # About the flow as a whole: no node_id.
    (lambda f: f["edges"].append({"from": "ghost", "to": "m1"}), "edges", None),
    (lambda f: f.update(start="ghost"), "start", None),
    (lambda f: f.pop("start"), "start", None),
    (lambda f: f.update(name=""), "name", None),
    (lambda f: f.update(trigger={"type": "telepathy"}), "trigger", None),
    (lambda f: f["nodes"][0].pop("id"), "nodes", None),
]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_validation_errors_name_the_node(server, i):
    change, field, node_id = CASES[i]
    tok = server.signup()["access_token"]
    r = server.request("POST", "/api/flows", mutate(change), token=tok)
    assert r.status == 400, r
    err = r.json()["error"]
    assert err["code"] == "validation_failed" and err["field"] == field, err
    if node_id is None:
        assert "node_id" not in err, err
    else:
        assert err["node_id"] == node_id, err
        assert node_id in err["message"]
    assert server.request("GET", "/api/flows", token=tok).json()["flows"] == []
