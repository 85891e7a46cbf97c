"""Every query the MongoDB backend sends is served by an index it creates
(issue 21). The stand-in (tests/mongo_server) scans in Python and cannot show
a query's cost as data grows, so it records the shape of every query and
every createIndexes ({parleyQueryShapes: 1} on the server's database), and
mongo_index_check applies MongoDB's prefix rule to them after a workload of
the common calls: sign-up, login and refresh, conversations of each kind and
their inbox pages, messages with client ids (and retries), history pages
and sync, read markers, mentions, edits, reactions, deletions, user search,
channels and logouts. A real mongod keeps no such record: the test skips."""
import os

import pytest

from mongo_index_check import unserved
from messaging_helpers import api, create_direct, create_group, post_message, uid

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


def test_every_query_is_served_by_an_index(server):
    client = pymongo.MongoClient(os.environ["PARLEY_TEST_MONGO_URI"],
                                 serverSelectionTimeoutMS=5000)
    try:
        if client.admin.command("buildInfo").get("gitVersion") != "parley-mongomock-test-server":
            pytest.skip("the record of queries is the stand-in's (tests/mongo_server)")
        workload(server)
        db = server.env["PARLEY_MONGO_URI"].split("/")[3].split("?")[0]
        shapes = client[db].command("parleyQueryShapes")
    finally:
        client.close()
    assert len(shapes["queries"]) > 20 and "messages" in shapes["indexes"], shapes
    bad = unserved(shapes)
    assert not bad, "queries no index serves (add one, or an exception with its reason):\n" + \
        "\n".join(map(str, bad))
