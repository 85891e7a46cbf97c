"""The shared team inbox and human takeover (issue 16, items 5 and 6): agents
added and removed by the owner, who see and answer the owner's Instagram
conversations with read positions of their own, assignment and the inbox's
filter, live delivery to agents (also across two instances on Redis), access
gone at once on removal (its sessions told, on any instance); a pause or
resume by hand reaching everyone live; a person's reply pausing a contact's automation
(flows do not start, delayed steps wait and resume), resumed by hand or by
time, persisted across restarts."""
import asyncio
import json
import os
import time
import uuid

import pytest
import websockets

from conftest import mongo_uri
from fakegraph import FakeGraph
from igutil import CONTACT, connect, ig_env, post_webhook, text_event, wait_until


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


@pytest.fixture
def ig(start_server, fake):
    return start_server(env=ig_env(fake))


def mid():
    return "mid-team-" + uuid.uuid4().hex[:12]


def team(srv):
    """An owner with a connected account, an agent of it and an outsider."""
    owner = srv.signup(name="Olive Owner")
    connect(srv, owner["access_token"])
    agent = srv.signup(name="Andy Agent")
    outsider = srv.signup(name="Otto Outsider")
    r = srv.request("POST", "/api/instagram/agents", {"user_id": agent["user"]["id"]},
                    token=owner["access_token"])
    assert r.status == 201, r
    return owner, agent, outsider


def inbox(srv, sess, assigned=None):
    path = "/api/messages/instagram" + (f"?assigned={assigned}" if assigned else "")
    r = srv.request("GET", path, token=sess["access_token"])
    assert r.status == 200, r
    return r.json()["conversations"]


def inbound(srv, owner, text):
    """A contact's message, once it is in the owner's inbox: its conversation."""
    assert post_webhook(srv, text_event(text, mid())).status == 200

    def landed():
        for c in inbox(srv, owner):
            r = srv.request("GET", f"/api/messages/instagram/{c['id']}", token=owner["access_token"])
            if any(m["text"] == text for m in r.json()["messages"]):
                return c
    return wait_until(landed)


def test_agents_are_added_once_listed_and_removed(ig):
    owner, agent, outsider = team(ig)
    tok = owner["access_token"]
    aid = agent["user"]["id"]
    again = ig.request("POST", "/api/instagram/agents", {"user_id": aid}, token=tok)
    assert again.status == 200 and again.json()["agent"]["id"] == aid
    listed = ig.request("GET", "/api/instagram/agents", token=tok).json()["agents"]
    assert [(a["id"], a["name"]) for a in listed] == [(aid, "Andy Agent")]
    assert listed[0]["added_at"].endswith("Z")
    for body, field in (({"user_id": "0" * 24}, "user_id"), ({"user_id": owner["user"]["id"]}, "user_id"),
                        ({}, "user_id"), ({"user_id": 7}, "user_id"), ({"user_id": "x" * 65}, "user_id")):
        r = ig.request("POST", "/api/instagram/agents", body, token=tok)
        assert r.status == 400 and r.json()["error"] == {**r.json()["error"], "code": "validation_failed",
                                                         "field": field}, (body, r.json())
    # Only the owner of a connected account manages agents.
    r = ig.request("POST", "/api/instagram/agents", {"user_id": outsider["user"]["id"]},
                   token=agent["access_token"])
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
    assert ig.request("GET", "/api/instagram/agents", token=agent["access_token"]).json() == {"agents": []}
    assert ig.request("DELETE", f"/api/instagram/agents/{aid}", token=agent["access_token"]).status == 404
    assert len(ig.request("GET", "/api/instagram/agents", token=tok).json()["agents"]) == 1
    assert ig.request("DELETE", f"/api/instagram/agents/{aid}", token=tok).status == 204
    assert ig.request("DELETE", f"/api/instagram/agents/{aid}", token=tok).status == 404
    assert ig.request("GET", "/api/instagram/agents", token=tok).json() == {"agents": []}
    assert ig.request("GET", "/api/instagram/agents").status == 401


def test_agent_sees_answers_and_keeps_its_own_read_position(ig):
    owner, agent, outsider = team(ig)
    conv = inbound(ig, owner, "hello team")
    cid = conv["id"]
    # The agent sees it through the account, not as a participant.
    mine = inbox(ig, agent)
    assert [c["id"] for c in mine] == [cid]
    assert mine[0]["unread_count"] == 1
    assert agent["user"]["id"] not in [p["id"] for p in mine[0]["participants"]]
    assert [(a["id"], a["name"]) for a in mine[0]["agents"]] == [(agent["user"]["id"], "Andy Agent")]
    assert mine[0]["agents"][0]["last_read_seq"] == 0  # positions are shown since issue 17
    assert mine[0]["owner_id"] == owner["user"]["id"] and mine[0]["assignee_id"] is None
    all_convs = ig.request("GET", "/api/conversations", token=agent["access_token"]).json()["conversations"]
    assert cid in [c["id"] for c in all_convs]
    atok = agent["access_token"]
    assert ig.request("GET", f"/api/conversations/{cid}", token=atok).status == 200
    hist = ig.request("GET", f"/api/messages/instagram/{cid}", token=atok)
    assert hist.status == 200 and [m["text"] for m in hist.json()["messages"]] == ["hello team"]
    # Its read position is its own.
    assert ig.request("POST", f"/api/conversations/{cid}/read", {"seq": 1}, token=atok).status == 204
    assert inbox(ig, agent)[0]["unread_count"] == 0
    assert inbox(ig, owner)[0]["unread_count"] == 1
    # Its reply records who sent it.
    r = ig.request("POST", f"/api/conversations/{cid}/messages", {"text": "agent here", "client_id": "a-1"},
                   token=atok)
    assert r.status == 201, r
    assert r.json()["message"]["sender_id"] == agent["user"]["id"]
    assert inbox(ig, agent)[0]["unread_count"] == 0
    assert inbox(ig, owner)[0]["unread_count"] == 2
    # A user who is not an agent sees none of it.
    otok = outsider["access_token"]
    assert inbox(ig, outsider) == []
    for method, path, body in (("GET", f"/api/conversations/{cid}", None),
                               ("GET", f"/api/messages/instagram/{cid}", None),
                               ("GET", f"/api/conversations/{cid}/messages", None),
                               ("POST", f"/api/conversations/{cid}/messages", {"text": "sneaky"}),
                               ("POST", f"/api/conversations/{cid}/read", {"seq": 1}),
                               ("POST", f"/api/conversations/{cid}/assign", {"user_id": None}),
                               ("GET", f"/api/contacts/{conv['contact_id']}", None),
                               ("PATCH", f"/api/contacts/{conv['contact_id']}", {"tags": ["x"]})):
        r = ig.request(method, path, body, token=otok)
        assert r.status == 404 and r.json()["error"]["code"] == "not_found", (path, r)
    # The agent reads and edits the contact it answers, as the owner does.
    contact = f"/api/contacts/{conv['contact_id']}"
    r = ig.request("GET", contact, token=atok)
    assert r.status == 200 and r.json()["contact"]["id"] == conv["contact_id"], r
    r = ig.request("PATCH", contact, {"tags": ["vip"], "variables": {"plan": "pro"}}, token=atok)
    assert r.status == 200 and r.json()["contact"]["tags"] == ["vip"], r
    seen = ig.request("GET", contact, token=owner["access_token"]).json()["contact"]
    assert seen["tags"] == ["vip"] and seen["variables"] == {"plan": "pro"}
    # An agent is no member: it cannot rename, add members or leave.
    assert ig.request("PATCH", f"/api/conversations/{cid}", {"name": "x"}, token=atok).status == 403
    assert ig.request("DELETE", f"/api/conversations/{cid}/members/{agent['user']['id']}",
                      token=atok).status == 404


def test_assignment_and_the_inbox_filter(ig):
    owner, agent, outsider = team(ig)
    first = inbound(ig, owner, "first contact")
    assert post_webhook(ig, text_event("second contact", mid(), contact="1112223334445556")).status == 200
    wait_until(lambda: len(inbox(ig, owner)) == 2)
    cid = first["id"]
    atok, tok = agent["access_token"], owner["access_token"]
    r = ig.request("POST", f"/api/conversations/{cid}/assign", {"user_id": agent["user"]["id"]}, token=tok)
    assert r.status == 200 and r.json()["conversation"]["assignee_id"] == agent["user"]["id"], r
    assert [c["id"] for c in inbox(ig, agent, "me")] == [cid]
    assert cid not in [c["id"] for c in inbox(ig, agent, "none")] and len(inbox(ig, agent, "none")) == 1
    assert len(inbox(ig, agent, "all")) == 2 and len(inbox(ig, owner, "all")) == 2
    assert inbox(ig, owner, "me") == []
    # The owner may be assigned too; someone who is neither is refused.
    r = ig.request("POST", f"/api/conversations/{cid}/assign", {"user_id": outsider["user"]["id"]}, token=atok)
    assert r.status == 400 and r.json()["error"]["field"] == "user_id"
    for bad in ({}, {"user_id": 5}, {"user_id": ""}):
        assert ig.request("POST", f"/api/conversations/{cid}/assign", bad, token=atok).status == 400
    r = ig.request("POST", f"/api/conversations/{cid}/assign", {"user_id": owner["user"]["id"]}, token=atok)
    assert r.status == 200 and r.json()["conversation"]["assignee_id"] == owner["user"]["id"]
    assert [c["id"] for c in inbox(ig, owner, "me")] == [cid]
    r = ig.request("POST", f"/api/conversations/{cid}/assign", {"user_id": None}, token=tok)
    assert r.status == 200 and r.json()["conversation"]["assignee_id"] is None
    assert len(inbox(ig, owner, "none")) == 2
    r = ig.request("GET", "/api/messages/instagram?assigned=someone", token=tok)
    assert r.status == 400 and r.json()["error"]["field"] == "assigned"
    # Only instagram conversations are assigned.
    d = ig.request("POST", "/api/conversations", {"type": "direct", "participant_id": agent["user"]["id"]},
                   token=tok).json()["conversation"]
    assert ig.request("POST", f"/api/conversations/{d['id']}/assign", {"user_id": None}, token=tok).status == 400
    # Removing the agent clears its assignment.
    ig.request("POST", f"/api/conversations/{cid}/assign", {"user_id": agent["user"]["id"]}, token=tok)
    assert ig.request("DELETE", f"/api/instagram/agents/{agent['user']['id']}", token=tok).status == 204
    assert all(c["assignee_id"] is None for c in inbox(ig, owner))


async def next_frame(ws, kind, timeout=10):
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        assert left > 0, f"no {kind} frame"
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        if frame["type"] == kind:
            return frame


async def ready(url, sess):
    ws = await websockets.connect(f"{url}?token={sess['access_token']}")
    assert (await next_frame(ws, "ready"))["type"] == "ready"
    return ws


def test_live_delivery_to_agents_stops_when_removed(ig):
    owner, agent, _ = team(ig)
    inbound(ig, owner, "warm up")
    tok = owner["access_token"]
    d = ig.request("POST", "/api/conversations", {"type": "direct", "participant_id": agent["user"]["id"]},
                   token=tok).json()["conversation"]

    async def run():
        aws, ows = await ready(ig.ws_url, agent), await ready(ig.ws_url, owner)
        try:
            assert post_webhook(ig, text_event("live to agent", mid())).status == 200
            got = await next_frame(aws, "message.new")
            assert got["message"]["text"] == "live to agent"
            assert ig.request("DELETE", f"/api/instagram/agents/{agent['user']['id']}", token=tok).status == 204
            # The agent's session hears it at once, in one frame naming the account's owner.
            gone = await next_frame(aws, "instagram.access_removed")
            assert gone == {"type": "instagram.access_removed", "owner_id": owner["user"]["id"]}
            assert post_webhook(ig, text_event("after removal", mid())).status == 200
            while (await next_frame(ows, "message.new"))["message"]["text"] != "after removal":
                pass
            # A later message in a conversation the agent is in arrives; the
            # Instagram one before it never did.
            ig.request("POST", f"/api/conversations/{d['id']}/messages", {"text": "marker"}, token=tok)
            got = await next_frame(aws, "message.new")
            assert got["message"]["text"] == "marker", got
        finally:
            await aws.close()
            await ows.close()
    asyncio.run(run())
    assert inbox(ig, agent) == []


@pytest.fixture
def pair(start_server, redis_url, fake, tmp_path):
    env = dict(ig_env(fake), PARLEY_REDIS_URL=redis_url)
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_team_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_agent_gets_inbound_messages_on_another_instance(pair):
    one, two = pair
    owner, agent, _ = team(one)
    inbound(one, owner, "warm up")

    async def run():
        aws = await ready(two.ws_url, agent)
        try:
            await asyncio.sleep(0.3)  # the fresh subscription settles (as test_multi_instance)
            assert post_webhook(one, text_event("across instances", mid())).status == 200
            got = await next_frame(aws, "message.new")
            # "warm up" was readable before the agent connected, but its fan-out
            # to the agents may still be on its way then: it may come first.
            if got["message"]["text"] == "warm up":
                got = await next_frame(aws, "message.new")
            assert got["message"]["text"] == "across instances"
        finally:
            await aws.close()
    asyncio.run(run())


def test_pause_by_hand_and_removal_reach_an_agent_on_another_instance(pair):
    one, two = pair
    owner, agent, _ = team(one)
    conv = inbound(one, owner, "warm up")
    cid = contact_of(one, owner)["id"]

    async def run():
        aws = await ready(two.ws_url, agent)
        try:
            await asyncio.sleep(0.3)  # the fresh subscription settles (as test_multi_instance)
            r = one.request("POST", f"/api/contacts/{cid}/automation", {"paused": True},
                            token=owner["access_token"])
            assert r.status == 200, r
            until = r.json()["contact"]["automation_paused_until"]
            # (The profile fetched after the first message may rename it first.)
            f = await next_frame(aws, "conversation.updated")
            while not f["conversation"]["automation_paused_until"]:
                f = await next_frame(aws, "conversation.updated")
            assert f["conversation"]["id"] == conv["id"]
            assert f["conversation"]["automation_paused_until"] == until
            assert one.request("DELETE", f"/api/instagram/agents/{agent['user']['id']}",
                               token=owner["access_token"]).status == 204
            gone = await next_frame(aws, "instagram.access_removed")
            assert gone["owner_id"] == owner["user"]["id"]
        finally:
            await aws.close()
    asyncio.run(run())
    assert inbox(two, agent) == []


# ---- human takeover ----

REPLY_FLOW = {
    "name": "auto", "status": "active", "trigger": {"type": "any_message"}, "start": "m",
    "nodes": [{"id": "m", "type": "message", "data": {"text": "automatic answer"}}], "edges": [],
}

DELAY_FLOW = {
    "name": "later", "status": "active", "trigger": {"type": "any_message"}, "start": "m1",
    "nodes": [
        {"id": "m1", "type": "message", "data": {"text": "first step"}},
        {"id": "d", "type": "delay", "data": {"seconds": 1}},
        {"id": "m2", "type": "message", "data": {"text": "after the delay"}},
    ],
    "edges": [{"from": "m1", "to": "d"}, {"from": "d", "to": "m2"}],
}


def texts_sent(fake):
    return [s["json"]["message"].get("text") for s in fake.sends()]


def sent_soon(fake, pred, timeout=10):
    """Waits until pred(texts sent to the Graph API) holds."""
    return wait_until(lambda: pred(texts_sent(fake)), timeout=timeout)


def settled(srv, sess):
    """A restarted server answers (503 "starting up" until it loaded what it needs)."""
    assert wait_until(lambda: srv.request("GET", "/api/auth/me", token=sess["access_token"]).status == 200)
    return srv


def contact_of(srv, sess):
    r = srv.request("GET", "/api/contacts", token=sess["access_token"])
    assert r.status == 200, r
    return next(c for c in r.json()["contacts"] if c["ig_user_id"] == CONTACT)


def test_a_reply_pauses_flows_until_resumed_by_hand(ig, fake):
    owner, agent, outsider = team(ig)
    tok = owner["access_token"]
    flow = ig.request("POST", "/api/flows", REPLY_FLOW, token=tok).json()["flow"]
    conv = inbound(ig, owner, "first")
    assert sent_soon(fake, lambda t: t == ["automatic answer"])
    assert conv["automation_paused_until"] is None and contact_of(ig, owner)["automation_paused_until"] is None
    # A person replies: the contact's automation pauses for the configured time.
    before = time.time()
    r = ig.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "a human"}, token=tok)
    assert r.status == 201, r
    paused = wait_until(lambda: contact_of(ig, owner)["automation_paused_until"])
    assert paused, ig.read_log()
    until = time.mktime(time.strptime(paused[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert 1790 <= until - before <= 1810, paused
    assert wait_until(lambda: inbox(ig, agent)[0]["automation_paused_until"]) == paused
    # Flows do not start while paused (no run at all is recorded).
    inbound(ig, owner, "second")
    runs_url = f"/api/flows/{flow['id']}/runs"
    assert len(ig.request("GET", runs_url, token=tok).json()["runs"]) == 1
    # An agent resumes; the next message runs the flow again.
    cid = contact_of(ig, owner)["id"]
    r = ig.request("POST", f"/api/contacts/{cid}/automation", {"paused": False}, token=agent["access_token"])
    assert r.status == 200 and r.json()["contact"]["automation_paused_until"] is None, r
    assert "owner_id" not in r.json()["contact"]
    assert inbox(ig, owner)[0]["automation_paused_until"] is None
    inbound(ig, owner, "third")
    assert sent_soon(fake, lambda t: t.count("automatic answer") == 2)
    # Pausing by hand works the same; bad input and strangers are refused.
    r = ig.request("POST", f"/api/contacts/{cid}/automation", {"paused": True}, token=tok)
    assert r.status == 200 and r.json()["contact"]["automation_paused_until"]
    for bad in ({}, {"paused": "yes"}, {"paused": None}):
        r = ig.request("POST", f"/api/contacts/{cid}/automation", bad, token=tok)
        assert r.status == 400 and r.json()["error"]["field"] == "paused"
    assert ig.request("POST", f"/api/contacts/{cid}/automation", {"paused": False},
                      token=outsider["access_token"]).status == 404
    assert ig.request("POST", "/api/contacts/" + "0" * 24 + "/automation", {"paused": False},
                      token=tok).status == 404
    assert contact_of(ig, owner)["automation_paused_until"]


def test_pause_and_resume_by_hand_reach_everyone_live(ig):
    owner, agent, outsider = team(ig)
    conv = inbound(ig, owner, "pause me")
    cid = contact_of(ig, owner)["id"]

    async def run():
        ows, aws = await ready(ig.ws_url, owner), await ready(ig.ws_url, agent)
        xws = await ready(ig.ws_url, outsider)
        try:
            for who, paused in ((agent, True), (owner, False)):
                r = ig.request("POST", f"/api/contacts/{cid}/automation", {"paused": paused},
                               token=who["access_token"])
                assert r.status == 200, r
                until = r.json()["contact"]["automation_paused_until"]
                assert bool(until) == paused and "conversation_ids" not in r.json()["contact"]
                for ws in (ows, aws):
                    # (The profile fetched after the first message may rename it first.)
                    f = await next_frame(ws, "conversation.updated")
                    while f["conversation"]["automation_paused_until"] != until:
                        f = await next_frame(ws, "conversation.updated")
                    assert f["conversation"]["id"] == conv["id"]
                    assert f["conversation"]["automation_paused_until"] == until, f
                    assert f["conversation"]["contact"]["automation_paused_until"] == until, f
            # Someone who does not see the conversation hears nothing of it.
            with pytest.raises(asyncio.TimeoutError):
                while True:
                    f = json.loads(await asyncio.wait_for(xws.recv(), 0.7))
                    assert f["type"] not in ("conversation.updated",), f
        finally:
            for ws in (ows, aws, xws):
                await ws.close()
    asyncio.run(run())


def test_the_pause_ends_by_itself(start_server, fake):
    srv = start_server(env=dict(ig_env(fake), PARLEY_AUTOMATION_PAUSE_SECONDS="3"))
    owner = srv.signup()
    tok = owner["access_token"]
    connect(srv, tok)
    srv.request("POST", "/api/flows", REPLY_FLOW, token=tok)
    inbound(srv, owner, "one")
    assert sent_soon(fake, lambda t: t == ["automatic answer"])
    assert srv.request("POST", "/api/instagram/send-message", {"recipient_id": CONTACT, "text": "human"},
                       token=tok).status == 201
    assert wait_until(lambda: contact_of(srv, owner)["automation_paused_until"])
    assert wait_until(lambda: contact_of(srv, owner)["automation_paused_until"] is None, timeout=15)
    inbound(srv, owner, "two")
    assert sent_soon(fake, lambda t: t.count("automatic answer") == 2)


def test_delayed_steps_wait_for_the_pause_and_survive_a_restart(start_server, fake):
    srv = start_server(env=ig_env(fake))
    owner = srv.signup()
    tok = owner["access_token"]
    connect(srv, tok)
    flow = srv.request("POST", "/api/flows", DELAY_FLOW, token=tok).json()["flow"]
    inbound(srv, owner, "start")
    assert sent_soon(fake, lambda t: t == ["first step"])
    cid = contact_of(srv, owner)["id"]
    assert srv.request("POST", f"/api/contacts/{cid}/automation", {"paused": True}, token=tok).status == 200
    runs_url = f"/api/flows/{flow['id']}/runs"
    # The step falls due within a second; the pause holds it (the run keeps waiting).
    time.sleep(3)
    assert texts_sent(fake) == ["first step"]
    assert [r["status"] for r in srv.request("GET", runs_url, token=tok).json()["runs"]] == ["waiting"]
    # The pause, the agents and the held step survive a restart.
    assert srv.stop() == 0
    env = ig_env(fake)
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    again = settled(start_server(env=env, data_dir=srv.data_dir), owner)
    assert contact_of(again, owner)["automation_paused_until"]
    assert texts_sent(fake) == ["first step"]
    # Resumed: the held step runs at once, not dropped.
    assert again.request("POST", f"/api/contacts/{cid}/automation", {"paused": False}, token=tok).status == 200
    assert sent_soon(fake, lambda t: t == ["first step", "after the delay"])
    assert wait_until(lambda: [r["status"] for r in again.request("GET", runs_url, token=tok).json()["runs"]]
                      == ["completed"])


def test_team_and_assignment_survive_a_restart(start_server, fake):
    srv = start_server(env=ig_env(fake))
    owner, agent, _ = team(srv)
    conv = inbound(srv, owner, "persist me")
    srv.request("POST", f"/api/conversations/{conv['id']}/assign", {"user_id": agent["user"]["id"]},
                token=owner["access_token"])
    srv.request("POST", f"/api/conversations/{conv['id']}/read", {"seq": 1}, token=agent["access_token"])
    assert srv.stop() == 0
    env = ig_env(fake)
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    again = settled(start_server(env=env, data_dir=srv.data_dir), agent)
    mine = inbox(again, agent, "me")
    assert [c["id"] for c in mine] == [conv["id"]] and mine[0]["unread_count"] == 0
    assert inbox(again, owner)[0]["unread_count"] == 1
    assert [a["id"] for a in again.request("GET", "/api/instagram/agents",
                                           token=owner["access_token"]).json()["agents"]] == [agent["user"]["id"]]


def test_an_agents_reply_on_any_path_pauses_automation(ig, fake):
    owner, agent, _ = team(ig)
    tok, atok = owner["access_token"], agent["access_token"]
    ig.request("POST", "/api/flows", REPLY_FLOW, token=tok)
    conv = inbound(ig, owner, "hi there")
    assert sent_soon(fake, lambda t: t == ["automatic answer"])
    assert contact_of(ig, owner)["automation_paused_until"] is None
    # REST send by an agent.
    r = ig.request("POST", f"/api/conversations/{conv['id']}/messages", {"text": "agent on REST"}, token=atok)
    assert r.status == 201 and r.json()["message"]["sender_id"] == agent["user"]["id"]
    assert wait_until(lambda: inbox(ig, agent)[0]["automation_paused_until"])
    cid = contact_of(ig, owner)["id"]
    assert ig.request("POST", f"/api/contacts/{cid}/automation", {"paused": False}, token=atok).status == 200
    assert contact_of(ig, owner)["automation_paused_until"] is None

    # WebSocket message.send by an agent; the pause reaches the owner live.
    async def run():
        aws, ows = await ready(ig.ws_url, agent), await ready(ig.ws_url, owner)
        try:
            await aws.send(json.dumps({"type": "message.send", "conversation_id": conv["id"],
                                       "text": "agent on ws", "client_id": "ws-1"}))
            ack = await next_frame(aws, "message.ack")
            assert ack["message"]["sender_id"] == agent["user"]["id"]
            while True:
                upd = await next_frame(ows, "conversation.updated")
                if upd["conversation"]["id"] == conv["id"] and upd["conversation"]["automation_paused_until"]:
                    return upd
        finally:
            await aws.close()
            await ows.close()
    asyncio.run(run())
    assert contact_of(ig, owner)["automation_paused_until"]
    # Paused: the contact's next message starts no flow.
    inbound(ig, owner, "anyone there?")
    assert texts_sent(fake).count("automatic answer") == 1
