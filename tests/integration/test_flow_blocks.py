"""Flow blocks of issue 19 end to end through the fake Graph API, on either
store: messages with quick replies, buttons and media sent in Meta's format;
ask and save answered (also by a quick reply, and after a restart), refused
and timed out; the randomizer's choice on the run; conditions in the
account's time zone; remove_tag, clear_variable, api_call headers and map;
notify_agent as a live event; handover pausing automation. Bad blocks: 400
naming the node and the field."""
import asyncio
import copy
import json
import time

import pytest
import websockets

from fakegraph import FakeGraph
from igutil import CONTACT, connect, fixture_json, ig_env, post_webhook, text_event, wait_until


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def owner(srv):
    s = srv.signup()
    connect(srv, s["access_token"])
    return s


def create(srv, tok, flow, status=201):
    r = srv.request("POST", "/api/flows", flow, token=tok)
    assert r.status == status, r
    return r.json()


def runs_of(srv, tok, fid):
    return srv.request("GET", f"/api/flows/{fid}/runs", token=tok).json()["runs"]


def contact_of(srv, tok):
    return srv.request("GET", "/api/contacts", token=tok).json()["contacts"][0]


def n_sends(fake, n):
    return fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) >= n)


def flow(nodes, edges, trigger=None, name="f"):
    return {"name": name, "status": "active", "trigger": trigger or {"type": "any_message"},
            "start": nodes[0]["id"], "nodes": nodes, "edges": edges}


def test_messages_go_out_in_metas_format(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)["access_token"]
    create(srv, tok, flow([
        {"id": "m1", "type": "message", "data": {
            "text": "Which one?", "media": {"type": "image", "url": "https://cdn.example/mugs.jpg"},
            "quick_replies": [{"title": "Blue", "payload": "MUG_BLUE"}, {"title": "Red", "payload": "MUG_RED"}]}},
        {"id": "m2", "type": "message", "data": {"text": "Or browse", "buttons": [
            {"type": "postback", "title": "Talk to us", "payload": "HUMAN"},
            {"type": "url", "title": "Shop", "url": "https://shop.example/mugs"}]}},
        {"id": "m3", "type": "message", "data": {"media": {"type": "video", "url": "https://cdn.example/a.mp4"}}},
    ], [{"from": "m1", "to": "m2"}, {"from": "m2", "to": "m3"}]))
    assert post_webhook(srv, text_event("hi", "mid-rich-1")).status == 200
    assert n_sends(fake, 4)
    got = [s["json"]["message"] for s in fake.sends()]
    assert got == [
        {"attachment": {"type": "image", "payload": {"url": "https://cdn.example/mugs.jpg"}}},
        {"text": "Which one?", "quick_replies": [
            {"content_type": "text", "title": "Blue", "payload": "MUG_BLUE"},
            {"content_type": "text", "title": "Red", "payload": "MUG_RED"}]},
        {"attachment": {"type": "template", "payload": {"template_type": "button", "text": "Or browse", "buttons": [
            {"type": "postback", "title": "Talk to us", "payload": "HUMAN"},
            {"type": "web_url", "url": "https://shop.example/mugs", "title": "Shop"}]}}},
        {"attachment": {"type": "video", "payload": {"url": "https://cdn.example/a.mp4"}}},
    ]
    assert all(s["json"]["recipient"] == {"id": CONTACT} for s in fake.sends())


def test_a_retried_rich_message_goes_out_whole(start_server, fake):
    """Meta refuses a flow's message with quick replies (and one with buttons);
    the retry of its client_id sends Meta's whole message again, not its text."""
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)["access_token"]
    qr = {"id": "m1", "type": "message", "data": {"text": "Which one?", "quick_replies": [
        {"title": "Blue", "payload": "MUG_BLUE"}, {"title": "Red", "payload": "MUG_RED"}]}}
    btn = {"id": "m2", "type": "message", "data": {"text": "Or browse", "buttons": [
        {"type": "postback", "title": "Talk to us", "payload": "HUMAN"}]}}
    create(srv, tok, flow([qr, btn], [{"from": "m1", "to": "m2"}]))
    refusal = (400, {"error": {"message": "(#100) temporarily refused", "code": 100, "type": "OAuthException"}})
    fake.script = [refusal]
    assert post_webhook(srv, text_event("hi", "mid-retry-rich")).status == 200
    assert n_sends(fake, 1)
    first = fake.sends()[0]["json"]["message"]
    assert first["quick_replies"][0]["payload"] == "MUG_BLUE"
    conv = srv.request("GET", "/api/conversations", token=tok).json()["conversations"][0]

    def failed():
        msgs = srv.request("GET", f"/api/conversations/{conv['id']}/messages", token=tok).json()["messages"]
        return next((m for m in msgs if m["text"] == "Which one?" and m.get("status") == "failed"), None)
    m = wait_until(failed, timeout=15)
    assert m and m["client_id"] and m["error"]["code"] == "100"
    assert m["meta_message"] == first  # kept with the message, as sent
    # The run ended with the refusal: the button message never went out.
    assert len(fake.sends()) == 1
    fake.script = [refusal]
    r = srv.request("POST", f"/api/conversations/{conv['id']}/messages",
                    {"text": "Which one?", "client_id": m["client_id"]}, token=tok)
    assert r.status == 200 and r.json()["message"]["id"] == m["id"], r
    assert n_sends(fake, 2)
    assert fake.sends()[1]["json"]["message"] == first
    assert fake.sends()[1]["json"]["recipient"] == {"id": CONTACT}
    # Refused again, retried again by a teammate (an agent of the inbox, with
    # other text): the flow's message is the conversation's, whoever retries
    # it, so it is sent again whole and nothing new is stored.
    assert wait_until(lambda: (x := failed()) and x["id"] == m["id"], timeout=15)
    agent = srv.signup(name="Andy Agent")
    r = srv.request("POST", "/api/instagram/agents", {"user_id": agent["user"]["id"]}, token=tok)
    assert r.status == 201, r
    count = len(srv.request("GET", f"/api/conversations/{conv['id']}/messages", token=tok).json()["messages"])
    r = srv.request("POST", f"/api/conversations/{conv['id']}/messages",
                    {"text": "something else", "client_id": m["client_id"]}, token=agent["access_token"])
    assert r.status == 200 and r.json()["message"]["id"] == m["id"], r
    assert r.json()["message"]["text"] == "Which one?"
    assert n_sends(fake, 3)
    assert fake.sends()[2]["json"]["message"] == first
    msgs = srv.request("GET", f"/api/conversations/{conv['id']}/messages", token=tok).json()["messages"]
    assert len(msgs) == count and not [x for x in msgs if x["text"] == "something else"]

    def sent():
        msgs = srv.request("GET", f"/api/conversations/{conv['id']}/messages", token=tok).json()["messages"]
        return next((x for x in msgs if x["id"] == m["id"] and x["status"] == "sent"), None)
    assert wait_until(sent, timeout=15)


def test_bad_blocks_are_refused_naming_node_and_field(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    msg = {"id": "m1", "type": "message", "data": {"text": "x"}}
    four = [{"type": "postback", "title": f"b{i}", "payload": str(i)} for i in range(4)]
    cases = [
        ([{"id": "n9", "type": "carousel", "data": {}}], [], "n9", "unknown node type"),
        ([{"id": "m1", "type": "message", "data": {"text": "x", "buttons": four}}], [], "m1", "buttons: 1 to 3"),
        ([{"id": "m1", "type": "message", "data": {"text": "x", "buttons": [
            {"type": "postback", "title": "a title of 21 chars!!", "payload": "1"}]}}], [], "m1", "buttons[0].title"),
        ([{"id": "m1", "type": "message", "data": {"text": "x", "quick_replies": [
            {"title": f"q{i}", "payload": "p"} for i in range(14)]}}], [], "m1", "quick_replies: 1 to 13"),
        ([{"id": "r1", "type": "randomizer", "data": {"branches": [{"name": "A", "weight": 50},
                                                                 {"name": "B", "weight": 49}]}}, msg],
         [{"from": "r1", "to": "m1", "label": "A"}], "r1", "sum to 99"),
        ([{"id": "a1", "type": "ask", "data": {"text": "?", "variable": "v", "timeout_seconds": 60,
                                              "buttons": [{"type": "postback", "title": "a", "payload": "1"}]}}],
         [], "a1", "an ask sends text"),
    ]
    for nodes, edges, node_id, needle in cases:
        r = srv.request("POST", "/api/flows", flow(nodes, edges), token=tok)
        assert r.status == 400, (node_id, r.json())
        err = r.json()["error"]
        assert err["node_id"] == node_id and err["field"] == "nodes" and needle in err["message"], err
    big = flow([{"id": f"m{i}", "type": "message", "data": {"text": "x"}} for i in range(201)], [])
    r = srv.request("POST", "/api/flows", big, token=tok)
    assert r.status == 400 and r.json()["error"]["field"] == "nodes"
    assert srv.request("GET", "/api/flows", token=tok).json()["flows"] == []


ASK = flow([
    {"id": "a", "type": "ask", "data": {"text": "Your e-mail?", "check": "email", "variable": "email",
                                        "timeout_seconds": 600,
                                        "quick_replies": [{"title": "mia@example.com", "payload": "EMAIL"}]}},
    {"id": "ok", "type": "message", "data": {"text": "Thanks, {{vars.email}}"}},
    {"id": "bad", "type": "message", "data": {"text": "That is no e-mail"}},
    {"id": "late", "type": "message", "data": {"text": "Too late"}},
], [{"from": "a", "to": "ok"}, {"from": "a", "to": "bad", "label": "invalid"},
    {"from": "a", "to": "late", "label": "timeout"}], trigger={"type": "keyword", "keywords": ["subscribe"]})


def test_ask_and_save_survives_a_restart(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)["access_token"]
    f = create(srv, tok, ASK)["flow"]
    assert post_webhook(srv, text_event("subscribe", "mid-ask-1")).status == 200
    assert n_sends(fake, 1)
    assert fake.sends()[0]["json"]["message"]["text"] == "Your e-mail?"
    wait_until(lambda: [r for r in runs_of(srv, tok, f["id"]) if r["status"] == "waiting"])
    assert srv.stop() == 0
    env = ig_env(fake)
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    again = start_server(env=env, data_dir=srv.data_dir)
    # The answer is no keyword of any flow: the waiting ask takes it.
    assert post_webhook(again, text_event("  mia@example.com ", "mid-ask-2")).status == 200
    assert n_sends(fake, 2)
    assert fake.sends()[1]["json"]["message"]["text"] == "Thanks, mia@example.com"
    assert wait_until(lambda: contact_of(again, tok)["variables"].get("email") == "mia@example.com")
    runs = wait_until(lambda: [r for r in runs_of(again, tok, f["id"]) if r["status"] == "completed"])
    assert len(runs_of(again, tok, f["id"])) == 1
    assert runs[0]["trace"][0]["result"]["answer"] == "  mia@example.com "
    # A message now starts flows again (the wait was taken once).
    assert post_webhook(again, text_event("subscribe", "mid-ask-3")).status == 200
    assert n_sends(fake, 3)


def test_ask_answered_by_quick_reply_refused_and_timed_out(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)["access_token"]
    short = copy.deepcopy(ASK)
    f = create(srv, tok, ASK)["flow"]
    assert post_webhook(srv, text_event("subscribe", "mid-q-1")).status == 200
    assert n_sends(fake, 1)
    time.sleep(0.3)
    tap = fixture_json("quick_reply.json")  # a quick-reply tap answers the question
    item = tap["entry"][0]["messaging"][0]
    item["timestamp"] = int(time.time() * 1000)
    item["message"]["text"] = "mia@example.com"
    item["message"]["quick_reply"]["payload"] = "EMAIL"
    assert post_webhook(srv, tap).status == 200
    assert n_sends(fake, 2)
    assert fake.sends()[1]["json"]["message"]["text"] == "Thanks, mia@example.com"
    # The tap on the question's quick reply is a click of the ask (clicks over sends).

    def ask_stats():
        r = srv.request("GET", f"/api/flows/{f['id']}/stats?version=1", token=tok)
        assert r.status == 200, r
        return next(n for n in r.json()["stats"]["nodes"] if n["node_id"] == "a")
    a = wait_until(lambda: (lambda n: n if n["clicks"] == 1 and n["sent"] == 1 else None)(ask_stats()))
    assert a and a["click_through"] == 1.0, ask_stats()
    assert post_webhook(srv, text_event("subscribe", "mid-q-2")).status == 200
    assert n_sends(fake, 3)
    time.sleep(0.3)
    assert post_webhook(srv, text_event("not telling", "mid-q-3")).status == 200
    assert n_sends(fake, 4)
    assert fake.sends()[3]["json"]["message"]["text"] == "That is no e-mail"
    # The timeout branch, on a flow that waits 1 second.
    srv2 = start_server(env=ig_env(fake))
    tok2 = owner(srv2)["access_token"]
    short["nodes"][0]["data"]["timeout_seconds"] = 1
    create(srv2, tok2, short)
    before = len(fake.sends())
    assert post_webhook(srv2, text_event("subscribe", "mid-q-4")).status == 200
    assert n_sends(fake, before + 2)
    assert fake.sends()[-1]["json"]["message"]["text"] == "Too late"


def test_randomizer_actions_and_time_zone(start_server, fake):
    fake.routes["/crm"] = (200, {"data": {"tier": "gold"}, "items": [{"id": 7}]})
    env = dict(ig_env(fake), PARLEY_API_CALL_ALLOW=f"127.0.0.1:{fake.port}")
    srv = start_server(env=env)
    tok = owner(srv)["access_token"]
    assert srv.request("PATCH", "/api/instagram/account", {"timezone": "Mars/Olympus"}, token=tok).status == 400
    assert srv.request("PATCH", "/api/instagram/account", {"timezone": "../etc/passwd"}, token=tok).status == 400
    r = srv.request("PATCH", "/api/instagram/account", {"timezone": "Asia/Tokyo"}, token=tok)
    assert r.status == 200 and r.json()["account"]["timezone"] == "Asia/Tokyo"
    # Tokyo has no daylight saving: UTC+9 all year.
    hour = (time.gmtime().tm_hour + 9) % 24
    window = {"from": f"{hour:02d}:00", "to": f"{(hour + 1) % 24:02d}:00"}
    f = create(srv, tok, flow([
        {"id": "r", "type": "randomizer", "data": {"branches": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]}},
        {"id": "ta", "type": "action", "data": {"action": "tag_customer", "tag": "vip"}},
        {"id": "tb", "type": "action", "data": {"action": "tag_customer", "tag": "vip"}},
        {"id": "rm", "type": "action", "data": {"action": "remove_tag", "tag": "vip"}},
        {"id": "sv", "type": "action", "data": {"action": "set_variable", "variable": "tmp", "value": "x"}},
        {"id": "cv", "type": "action", "data": {"action": "clear_variable", "variable": "tmp"}},
        {"id": "api", "type": "action", "data": {"action": "api_call", "url": f"{fake.base_url}/crm",
                                                 "headers": [{"name": "Authorization", "value": "Bearer crm-key"}],
                                                 "map": {"tier": "data.tier", "first_item": "items.0.id"}}},
        {"id": "c", "type": "condition", "data": dict({"kind": "time"}, **window)},
        {"id": "open", "type": "message", "data": {"text": "open, tier {{vars.tier}}"}},
        {"id": "closed", "type": "message", "data": {"text": "closed"}},
    ], [{"from": "r", "to": "ta", "label": "A"}, {"from": "r", "to": "tb", "label": "B"},
        {"from": "ta", "to": "rm"}, {"from": "tb", "to": "rm"}, {"from": "rm", "to": "sv"},
        {"from": "sv", "to": "cv"}, {"from": "cv", "to": "api"}, {"from": "api", "to": "c"},
        {"from": "c", "to": "open", "label": "true"}, {"from": "c", "to": "closed", "label": "false"}]))["flow"]
    assert post_webhook(srv, text_event("hi", "mid-rand-1")).status == 200
    assert n_sends(fake, 1)
    # The clock may have just crossed the hour: then it is closed, never wrong.
    assert fake.sends()[0]["json"]["message"]["text"] in ("open, tier gold", "closed")
    if (time.gmtime().tm_hour + 9) % 24 == hour:
        assert fake.sends()[0]["json"]["message"]["text"] == "open, tier gold"
    call = [r for r in fake.requests if r["path"] == "/crm"][0]
    assert call["headers"]["Authorization"] == "Bearer crm-key"
    run = wait_until(lambda: [r for r in runs_of(srv, tok, f["id"]) if r["status"] == "completed"])[0]
    assert run["trace"][0]["node_id"] == "r" and run["trace"][0]["result"]["branch"] in ("A", "B")
    assert run["trace"][1]["node_id"] == {"A": "ta", "B": "tb"}[run["trace"][0]["result"]["branch"]]
    c = wait_until(lambda: (lambda c: c["variables"].get("first_item") == 7 and c)(contact_of(srv, tok)))
    assert c["variables"]["tier"] == "gold" and "tmp" not in c["variables"] and "vip" not in c["tags"]


async def next_frame(ws, kind, timeout=10):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame


def test_notify_agent_and_handover(start_server, fake):
    srv = start_server(env=ig_env(fake))
    s = owner(srv)
    tok = s["access_token"]
    f = create(srv, tok, flow([
        {"id": "n", "type": "action", "data": {"action": "notify_agent", "text": "{{message.text}} needs a person"}},
        {"id": "m", "type": "message", "data": {"text": "A person will answer you"}},
        {"id": "h", "type": "action", "data": {"action": "handover", "seconds": 3600}},
    ], [{"from": "n", "to": "m"}, {"from": "m", "to": "h"}]))["flow"]

    async def run():
        ws = await websockets.connect(f"{srv.ws_url}?token={tok}")
        try:
            await next_frame(ws, "ready")
            assert post_webhook(srv, text_event("refund", "mid-hand-1")).status == 200
            got = await next_frame(ws, "flow.notify")
            assert got["text"] == "refund needs a person" and got["flow_id"] == f["id"]
            assert got["contact"]["ig_user_id"] == CONTACT
        finally:
            await ws.close()
    asyncio.run(run())
    assert n_sends(fake, 1)
    paused = wait_until(lambda: contact_of(srv, tok)["automation_paused_until"])
    assert paused
    # Automation is paused for the contact: the next message starts nothing.
    assert post_webhook(srv, text_event("hello again", "mid-hand-2")).status == 200
    time.sleep(0.5)
    assert len(fake.sends()) == 1
    assert len(runs_of(srv, tok, f["id"])) == 1
