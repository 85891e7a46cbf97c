"""The runner holds each account's active flows and a run's counters in memory
(issue 21): a change of flows takes effect on the next message, here and on
another instance (the bus tells it), and the counters waiting at shutdown are
stored before the server exits."""
import os
import uuid

import pytest

from fakegraph import FakeGraph
from messaging_helpers import metric
from igutil import CONTACT, connect, ig_conversations, ig_env, post_webhook, text_event, wait_until

OTHER = "6543210987650003"


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def reply(text, name="answer", status="active"):
    return {
        "name": name, "status": status, "trigger": {"type": "any_message"}, "start": "m",
        "nodes": [{"id": "m", "type": "message", "data": {"text": text}}], "edges": [],
    }


def sent_texts(fake):
    return [r["json"]["message"]["text"] for r in fake.sends()]


def sent_after(fake, n, text):
    """Waits for send number n + 1 and says whether it is text."""
    assert fake.wait_for(lambda reqs: len([x for x in reqs if x["path"].endswith("/messages")]) > n,
                         timeout=10), sent_texts(fake)
    return sent_texts(fake)[n] == text


def test_a_change_of_flows_takes_effect_on_the_next_message(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    connect(srv, tok)
    r = srv.request("POST", "/api/flows", reply("one"), token=tok)
    assert r.status == 201, r
    fid = r.json()["flow"]["id"]
    assert post_webhook(srv, text_event("hi", "mid-c-1")).status == 200
    assert sent_after(fake, 0, "one")
    # Edited and republished: the next message runs the new graph.
    assert srv.request("PUT", f"/api/flows/{fid}", reply("two"), token=tok).status == 200
    assert post_webhook(srv, text_event("hi", "mid-c-2")).status == 200
    assert sent_after(fake, 1, "two")
    # A version restored is live at once too.
    assert srv.request("POST", f"/api/flows/{fid}/versions/1/restore", token=tok).status == 200
    assert srv.request("POST", f"/api/flows/{fid}/publish", token=tok).status == 200
    assert post_webhook(srv, text_event("hi", "mid-c-3")).status == 200
    assert sent_after(fake, 2, "one")
    # A second flow of higher priority, created: it wins.
    hi = dict(reply("three", name="first"), settings={"priority": 5})
    r = srv.request("POST", "/api/flows", hi, token=tok)
    assert r.status == 201, r
    assert post_webhook(srv, text_event("hi", "mid-c-4")).status == 200
    assert sent_after(fake, 3, "three")
    # Deleted, then the other deactivated: nothing runs.
    assert srv.request("DELETE", f"/api/flows/{r.json()['flow']['id']}", token=tok).status == 204
    assert post_webhook(srv, text_event("hi", "mid-c-5")).status == 200
    assert sent_after(fake, 4, "one")
    assert srv.request("PUT", f"/api/flows/{fid}", reply("one", status="draft"), token=tok).status == 200
    assert post_webhook(srv, text_event("bye", "mid-c-6")).status == 200
    assert no_run_after(srv, tok, fid, 4, "bye")
    assert len(sent_texts(fake)) == 5


def no_run_after(srv, tok, fid, runs, text):
    """The message is stored (its event processed) and, a moment later, has
    started no run: the flow's runs are still the runs given."""
    assert wait_until(lambda: any(m["text"] == text for m in all_messages(srv, tok)))
    got = lambda: srv.request("GET", f"/api/flows/{fid}/runs", token=tok).json()["runs"]
    assert not wait_until(lambda: len(got()) != runs, timeout=0.3), got()
    return len(got()) == runs


def all_messages(srv, tok):
    out = []
    for c in ig_conversations(srv, tok):
        r = srv.request("GET", f"/api/messages/instagram/{c['id']}", token=tok)
        assert r.status == 200, r
        out += r.json()["messages"]
    return out


def test_an_edit_on_one_instance_takes_effect_on_the_other_at_once(start_server, fake, redis_url,
                                                                   tmp_path):
    env = dict(ig_env(fake), PARLEY_SECRET_KEY="ab" * 32, PARLEY_REDIS_URL=redis_url)
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        from conftest import mongo_uri
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_fc_{uuid.uuid4().hex[:10]}")
        one, two = start_server(env=env), start_server(env=env)
    else:
        one = start_server(env=env, data_dir=str(tmp_path))
        two = start_server(env=env, data_dir=str(tmp_path))
    tok = one.signup()["access_token"]
    connect(one, tok)
    r = one.request("POST", "/api/flows", reply("one"), token=tok)
    assert r.status == 201, r
    fid = r.json()["flow"]["id"]
    # The second instance runs it (and now holds the account's flows).
    assert post_webhook(two, text_event("hi", "mid-x-1")).status == 200
    assert sent_after(fake, 0, "one")
    assert post_webhook(two, text_event("hi", "mid-x-2")).status == 200
    assert sent_after(fake, 1, "one")
    # Edited on the first: as soon as the bus brings the second the change, its
    # next message runs the new graph (without the bus it would hold the old
    # one for 30 s). The test waits for the hearing: Redis's delivery and the
    # webhook race on a loaded machine.
    heard = metric(two, "parley_flow_changes_heard_total")
    assert one.request("PUT", f"/api/flows/{fid}", reply("two"), token=tok).status == 200
    assert wait_until(lambda: metric(two, "parley_flow_changes_heard_total") > heard, timeout=5)
    assert post_webhook(two, text_event("hi", "mid-x-3")).status == 200
    assert sent_after(fake, 2, "two")
    # Deactivated on the first: the second starts no run.
    heard = metric(two, "parley_flow_changes_heard_total")
    assert one.request("PUT", f"/api/flows/{fid}", reply("two", status="archived"),
                       token=tok).status == 200
    assert wait_until(lambda: metric(two, "parley_flow_changes_heard_total") > heard, timeout=5)
    assert post_webhook(two, text_event("bye", "mid-x-4")).status == 200
    runs = lambda: one.request("GET", f"/api/flows/{fid}/runs", token=tok).json()["runs"]
    assert wait_until(lambda: len([x for x in runs() if x["status"] == "completed"]) == 3)
    assert no_run_after(one, tok, fid, 3, "bye")
    assert len(sent_texts(fake)) == 3


def test_counters_waiting_at_shutdown_are_stored(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    connect(srv, tok)
    fid = srv.request("POST", "/api/flows", reply("one"), token=tok).json()["flow"]["id"]
    for i, who in enumerate((CONTACT, OTHER, CONTACT)):
        assert post_webhook(srv, text_event("hi", f"mid-z-{i}", contact=who)).status == 200
    runs = lambda: srv.request("GET", f"/api/flows/{fid}/runs", token=tok).json()["runs"]
    assert wait_until(lambda: len([x for x in runs() if x["status"] == "completed"]) == 3,
                      interval=0.005)
    # Stopped at once: the last run's counters were still in memory.
    assert srv.stop() == 0
    srv.start()
    s = srv.request("GET", f"/api/flows/{fid}/stats", token=tok).json()["stats"]
    assert s["runs"]["started"] == 3 and s["runs"]["completed"] == 3, s
    assert [(n["node_id"], n["runs"], n["reached"], n["sent"]) for n in s["nodes"]] == [("m", 3, 2, 3)]


def test_tags_and_variables_in_a_row_are_stored_before_the_next_send(start_server, fake):
    """The runner holds a run's tag and set_variable actions in a row and stores
    them in one update before its next send; the send's template already sees
    them on the contact, and the contact keeps every one."""
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    connect(srv, tok)
    act = lambda i, data: {"id": i, "type": "action", "data": data}
    flow = {
        "name": "held", "status": "active", "trigger": {"type": "any_message"}, "start": "a",
        "nodes": [
            act("a", {"action": "set_variable", "variable": "size", "value": "L"}),
            act("b", {"action": "tag_customer", "tag": "vip"}),
            act("c", {"action": "set_variable", "variable": "size", "value": "XL"}),
            act("d", {"action": "tag_customer", "tag": "vip"}),
            {"id": "m", "type": "message",
             "data": {"text": "{{contact.variables.size}} {{vars.size}} {{contact.username}}"}},
            act("e", {"action": "tag_customer", "tag": "after"}),
        ],
        "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "d"},
                  {"from": "d", "to": "m"}, {"from": "m", "to": "e"}],
    }
    fid = srv.request("POST", "/api/flows", flow, token=tok).json()["flow"]["id"]
    assert post_webhook(srv, text_event("hi", "mid-h-1")).status == 200
    assert fake.wait_for(lambda reqs: any(x["path"].endswith("/messages") for x in reqs), timeout=10)
    assert sent_texts(fake)[0].startswith("XL XL"), sent_texts(fake)
    runs = lambda: srv.request("GET", f"/api/flows/{fid}/runs", token=tok).json()["runs"]
    assert wait_until(lambda: [x for x in runs() if x["status"] == "completed"])
    c = srv.request("GET", "/api/contacts", token=tok).json()["contacts"][0]
    assert c["tags"] == ["vip", "after"] and c["variables"] == {"size": "XL"}, c


def test_a_question_asked_on_one_instance_is_answered_through_the_other(start_server, fake,
                                                                        redis_url, tmp_path):
    """An instance holds the contacts no ask waits for (SCHED_TAKE_WAIT found
    none): an ask stored on another instance must reach it through the bus, or
    the answer would start flows instead of resuming the run."""
    env = dict(ig_env(fake), PARLEY_SECRET_KEY="ab" * 32, PARLEY_REDIS_URL=redis_url)
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        from conftest import mongo_uri
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_fw_{uuid.uuid4().hex[:10]}")
        one, two = start_server(env=env), start_server(env=env)
    else:
        one = start_server(env=env, data_dir=str(tmp_path))
        two = start_server(env=env, data_dir=str(tmp_path))
    tok = one.signup()["access_token"]
    connect(one, tok)
    ping = dict(reply("pong", name="ping"), trigger={"type": "keyword", "keywords": ["ping"]})
    ask = {
        "name": "ask", "status": "active", "trigger": {"type": "keyword", "keywords": ["subscribe"]},
        "start": "a",
        "nodes": [{"id": "a", "type": "ask", "data": {"text": "Your e-mail?", "check": "email",
                                                     "variable": "email", "timeout_seconds": 600}},
                  {"id": "ok", "type": "message", "data": {"text": "Thanks, {{vars.email}}"}}],
        "edges": [{"from": "a", "to": "ok"}],
    }
    for f in (ping, ask):
        assert one.request("POST", "/api/flows", f, token=tok).status == 201
    # The second instance learns that no ask waits for the contact: its "ping"
    # found none before it started the flow that answered "pong".
    assert post_webhook(two, text_event("ping", "mid-w-1")).status == 200
    assert sent_after(fake, 0, "pong")
    # The first asks; the second hears of it.
    heard = metric(two, "parley_flow_waits_heard_total")
    assert post_webhook(one, text_event("subscribe", "mid-w-2")).status == 200
    assert sent_after(fake, 1, "Your e-mail?")
    assert wait_until(lambda: metric(two, "parley_flow_waits_heard_total") > heard, timeout=5)
    # The answer comes through the second: it resumes the run asked on the first.
    assert post_webhook(two, text_event("mia@example.com", "mid-w-3")).status == 200
    assert sent_after(fake, 2, "Thanks, mia@example.com")
