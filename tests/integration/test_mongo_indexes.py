"""Every query the MongoDB backend sends is served by an index it creates
(issue 21). The stand-in (tests/mongo_server) scans in Python and cannot show
a query's cost as data grows, so it records the shape of every query and
every createIndexes ({parleyQueryShapes: 1} on the server's database), and
mongo_index_check applies MongoDB's prefix rule to them after a workload of
the common calls: sign-up, login and refresh, conversations of each kind and
their inbox pages, messages with client ids (and retries), history pages
and sync, read markers, mentions, edits, reactions, deletions, user search,
channels and logouts; and an agent's Instagram inbox (the team inbox's
pages and filters). A real mongod keeps no such record: the test skips."""
import os
import uuid

import pytest

from mongo_index_check import unserved
from messaging_helpers import api, create_direct, create_group, post_message, uid
from fakegraph import FakeGraph
from igutil import connect, ig_env, post_webhook, text_event, wait_until

pytestmark = pytest.mark.skipif(os.environ.get("PARLEY_TEST_STORE") != "mongo",
                                reason="the MongoDB store only (PARLEY_TEST_STORE=mongo)")

pymongo = pytest.importorskip("pymongo")


def workload(srv):
    ann, bob, cat = srv.signup(name="Ann Index"), srv.signup(), srv.signup()
    dm = create_direct(srv, ann, bob)
    group = create_group(srv, ann, [bob, cat])
    for i in range(3):
        assert post_message(srv, ann, dm["id"], f"hi {i}", client_id=f"c-{i}").status == 201
    assert post_message(srv, ann, dm["id"], "hi 0", client_id="c-0").status in (200, 201)
    r = api(srv, "POST", f"/api/conversations/{group['id']}/messages", bob,
            {"text": "@ann look", "mentions": [uid(ann)], "client_id": "m-1"})
    assert r.status == 201, r
    mid = r.json()["message"]["id"]
    for path in (f"/api/conversations/{dm['id']}/messages?limit=2",
                 f"/api/conversations/{dm['id']}/messages?limit=2&before_seq=3",
                 f"/api/conversations/{dm['id']}/messages?limit=2&after_seq=1",
                 "/api/conversations?limit=1", "/api/users/search?q=Ann",
                 f"/api/conversations/{group['id']}/messages/{mid}/reads"):
        assert api(srv, "GET", path, ann).status == 200, path
    page = api(srv, "GET", "/api/conversations?limit=1", ann).json()
    assert api(srv, "GET", "/api/conversations?limit=1&cursor=" + page["next_cursor"],
               ann).status == 200
    assert api(srv, "POST", f"/api/conversations/{group['id']}/read", ann, {"seq": 1}).status == 204
    assert api(srv, "PATCH", f"/api/messages/{mid}", bob,
               {"text": "edited"}).status == 200
    assert api(srv, "POST", f"/api/messages/{mid}/reactions", ann,
               {"emoji": "👍"}).status in (200, 201)
    assert api(srv, "DELETE", f"/api/messages/{mid}",
               bob).status in (200, 204)
    r = api(srv, "POST", "/api/conversations", ann, {"type": "channel", "name": "news",
                                                      "public": True})
    assert r.status == 201, r
    chan = r.json()["conversation"]
    assert api(srv, "POST", "/api/channels/join", cat,
               {"conversation_id": chan["id"]}).status == 201
    assert api(srv, "GET", "/api/channels?limit=5", cat).status == 200
    assert post_message(srv, ann, chan["id"], "news").status == 201
    assert api(srv, "GET", "/api/conversations?limit=5", cat).status == 200
    r = srv.request("POST", "/api/auth/refresh", {"refresh_token": bob["refresh_token"]})
    assert r.status == 200, r
    assert srv.request("POST", "/api/auth/logout",
                       {"refresh_token": r.json()["refresh_token"]}).status == 204


def team_workload(srv):
    """An owner's Instagram account with two contacts' conversations, an agent
    who reads the inbox a page at a time, by each assignee filter."""
    owner, agent = srv.signup(name="Olive Index"), srv.signup(name="Andy Index")
    connect(srv, owner["access_token"])
    r = srv.request("POST", "/api/instagram/agents", {"user_id": uid(agent)},
                    token=owner["access_token"])
    assert r.status == 201, r
    for contact in ("7000000000000001", "7000000000000002"):
        event = text_event("hello", "mid-index-" + uuid.uuid4().hex[:12], contact=contact)
        assert post_webhook(srv, event).status == 200

    def both():
        r = api(srv, "GET", "/api/messages/instagram", agent)
        return r.status == 200 and len(r.json()["conversations"]) == 2 and r.json()
    wait_until(both)
    page = api(srv, "GET", "/api/messages/instagram?limit=1", agent).json()
    assert page["next_cursor"], page
    conv = page["conversations"][0]["id"]
    r = api(srv, "POST", f"/api/conversations/{conv}/assign", agent,
            {"user_id": uid(agent)})
    assert r.status == 200, r
    for path in ("/api/messages/instagram?limit=1&cursor=" + page["next_cursor"],
                 "/api/messages/instagram?assigned=me", "/api/messages/instagram?assigned=none",
                 "/api/conversations?limit=5"):
        assert api(srv, "GET", path, agent).status == 200, path


def shapes_of(srv, work):
    """The stand-in's record of srv's queries after work(srv)."""
    client = pymongo.MongoClient(os.environ["PARLEY_TEST_MONGO_URI"],
                                 serverSelectionTimeoutMS=5000)
    try:
        if client.admin.command("buildInfo").get("gitVersion") != "parley-mongomock-test-server":
            pytest.skip("the record of queries is the stand-in's (tests/mongo_server)")
        work(srv)
        db = srv.env["PARLEY_MONGO_URI"].split("/")[3].split("?")[0]
        return client[db].command("parleyQueryShapes")
    finally:
        client.close()


def test_the_agent_inbox_is_served_by_an_index(start_server):
    fake = FakeGraph().start()
    try:
        shapes = shapes_of(start_server(env=ig_env(fake)), team_workload)
    finally:
        fake.stop()
    # The agent's list was recorded: an $or with a branch on the owners' conversations.
    agents = [q for q in shapes["queries"] if q["collection"] == "conversations" and
              any("creator_id" in b["eq"] for branches in q["or"] for b in branches)]
    assert agents, shapes["queries"]
    bad = unserved(shapes)
    assert not bad, "queries no index serves (add one, or an exception with its reason):\n" + \
        "\n".join(map(str, bad))


def test_every_query_is_served_by_an_index(server):
    shapes = shapes_of(server, workload)
    assert len(shapes["queries"]) > 20 and "messages" in shapes["indexes"], shapes
    bad = unserved(shapes)
    assert not bad, "queries no index serves (add one, or an exception with its reason):\n" + \
        "\n".join(map(str, bad))
