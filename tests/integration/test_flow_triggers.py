"""Flow triggers of issue 19 end to end, from Meta's webhook shapes through the
fake Graph API: a comment answered by a private reply (recipient comment_id)
and a public one, story replies and mentions, a postback and a quick reply
(never a keyword), a referral; priority, run once and cooldown with the
choice recorded on the run; malformed shapes acknowledged."""
import copy
import json
import time

import pytest

from fakegraph import FakeGraph
from igutil import (ACCOUNT, CONTACT, connect, fixture_json, ig_env, post_webhook, text_event,
                    wait_until)


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


def owner(srv):
    s = srv.signup()
    connect(srv, s["access_token"])
    return s["access_token"]


def create(srv, tok, flow):
    r = srv.request("POST", "/api/flows", flow, token=tok)
    assert r.status == 201, r
    return r.json()["flow"]


def runs_of(srv, tok, fid):
    return srv.request("GET", f"/api/flows/{fid}/runs", token=tok).json()["runs"]


def done_runs(srv, tok, fid):
    return wait_until(lambda: [r for r in runs_of(srv, tok, fid) if r["status"] == "completed"])


def now_event(name, **changes):
    """A fixture with its timestamps set to now (inside the messaging window)."""
    ev = fixture_json(name)
    for entry in ev["entry"]:
        for item in entry.get("messaging", []):
            item["timestamp"] = int(time.time() * 1000)
            for k, v in changes.items():
                item[k] = v
    return ev


def reply_flow(name, trigger, text, **extra):
    return dict({"name": name, "status": "active", "trigger": trigger, "start": "m",
                 "nodes": [{"id": "m", "type": "message", "data": {"text": text}}], "edges": []},
                **extra)


def sent_texts(fake):
    return [r["json"]["message"].get("text") for r in fake.sends()]


def test_comment_private_and_public_reply(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    f = create(srv, tok, reply_flow(
        "comments", {"type": "comment", "media_ids": ["17900000000000001"], "keywords": ["link"],
                     "public_reply": "Sent you a DM, @{{contact.username}}!"},
        "Here is the link: https://shop.example/mug"))
    # Another post's comment, and a comment without the keyword: nothing.
    other = fixture_json("comment.json")
    other["entry"][0]["changes"][0]["value"]["media"]["id"] = "17900000000000009"
    other["entry"][0]["changes"][0]["value"]["id"] = "17910000000000009"
    assert post_webhook(srv, other).status == 200
    assert post_webhook(srv, fixture_json("comment.json")).status == 200
    assert fake.wait_for(lambda reqs: any(r["path"].endswith("/replies") for r in reqs)
                         and any(r["path"].endswith("/messages") for r in reqs))
    private = fake.sends()
    assert len(private) == 1
    assert private[0]["path"] == f"/v21.0/{ACCOUNT}/messages"
    assert private[0]["json"]["recipient"] == {"comment_id": "17910000000000001"}
    assert private[0]["json"]["message"] == {"text": "Here is the link: https://shop.example/mug"}
    public = [r for r in fake.requests if r["path"].endswith("/replies")]
    assert len(public) == 1 and public[0]["path"] == "/v21.0/17910000000000001/replies"
    assert public[0]["json"]["message"].startswith("Sent you a DM, @")
    run = done_runs(srv, tok, f["id"])[0]
    assert run["start"]["event"]["kind"] == "comment"
    assert run["start"]["public_reply"]["ok"] is True
    # Meta's retry of the same comment answers nothing twice.
    assert post_webhook(srv, fixture_json("comment.json")).status == 200
    time.sleep(0.5)
    assert len(fake.sends()) == 1


def test_story_reply_and_mention(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    create(srv, tok, reply_flow("reply", {"type": "story_reply"}, "Thanks for replying to our story"))
    create(srv, tok, reply_flow("mention", {"type": "story_mention"}, "Thanks for the mention"))
    assert post_webhook(srv, now_event("story_reply.json")).status == 200
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) == 1)
    assert post_webhook(srv, now_event("story_mention.json")).status == 200
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) == 2)
    assert sorted(sent_texts(fake)) == ["Thanks for replying to our story", "Thanks for the mention"]


def test_postback_and_quick_reply_fire_postback_not_keywords(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    kw = create(srv, tok, reply_flow("kw", {"type": "keyword", "keywords": ["bags", "shoes"]}, "keyword"))
    pb = create(srv, tok, reply_flow("pb", {"type": "postback", "payloads": ["CATEGORY_BAGS", "CATEGORY_SHOES"]},
                                     "You picked {{message.text}}"))
    assert post_webhook(srv, now_event("quick_reply.json")).status == 200
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) == 1)
    assert post_webhook(srv, now_event("postback.json")).status == 200
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) == 2)
    assert sorted(sent_texts(fake)) == ["You picked Bags", "You picked Shoes"]
    assert runs_of(srv, tok, kw["id"]) == []
    runs = wait_until(lambda: len(done_runs(srv, tok, pb["id"])) == 2 and done_runs(srv, tok, pb["id"]))
    kinds = sorted(r["start"]["event"]["payload"] for r in runs)
    assert kinds == ["CATEGORY_BAGS", "CATEGORY_SHOES"]


def test_referral(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    create(srv, tok, reply_flow("ref", {"type": "referral", "refs": ["spring_sale"]}, "Spring sale: 20% off"))
    other = now_event("referral.json", referral={"ref": "autumn", "source": "IGME_SOURCE_LINK", "type": "OPEN_THREAD"})
    assert post_webhook(srv, other).status == 200
    assert post_webhook(srv, now_event("referral.json")).status == 200
    assert fake.wait_for(lambda reqs: any(r["path"].endswith("/messages") for r in reqs))
    time.sleep(0.3)
    assert sent_texts(fake) == ["Spring sale: 20% off"]


def test_priority_run_once_and_cooldown(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    fallback = create(srv, tok, reply_flow("fallback", {"type": "any_message"}, "fallback"))
    time.sleep(0.01)
    once = create(srv, tok, reply_flow("once", {"type": "keyword", "keywords": ["hi"]}, "welcome",
                                       settings={"priority": 10, "run_once": True}))
    time.sleep(0.01)
    cool = create(srv, tok, reply_flow("cool", {"type": "keyword", "keywords": ["hi"]}, "cooling",
                                       settings={"priority": 5, "cooldown_seconds": 3600}))
    for i, want in enumerate(["welcome", "cooling", "fallback"]):
        assert post_webhook(srv, text_event("hi there", f"mid-prio-{i}")).status == 200
        assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) == i + 1)
        time.sleep(0.2)
        assert sent_texts(fake)[-1] == want, sent_texts(fake)
    assert len(fake.sends()) == 3  # exactly one flow per message
    first = done_runs(srv, tok, once["id"])[0]["start"]
    assert first["matched"] == [once["id"], cool["id"], fallback["id"]] and first["priority"] == 10
    last = wait_until(lambda: done_runs(srv, tok, fallback["id"]))[0]["start"]
    assert last["skipped"] == [{"flow_id": once["id"], "reason": "run_once"},
                               {"flow_id": cool["id"], "reason": "cooldown"}]


def test_bad_settings_and_triggers(start_server, fake):
    srv = start_server(env=ig_env(fake))
    tok = srv.signup()["access_token"]
    for trigger, settings, field in [
            ({"type": "postback"}, None, "trigger"),
            ({"type": "comment", "media_ids": "1"}, None, "trigger"),
            ({"type": "any_message"}, {"priority": 1.5}, "settings"),
            ({"type": "any_message"}, {"cooldown_seconds": -1}, "settings"),
            ({"type": "button_click"}, None, "trigger")]:
        flow = reply_flow("bad", trigger, "x")
        if settings is not None:
            flow["settings"] = settings
        r = srv.request("POST", "/api/flows", flow, token=tok)
        assert r.status == 400 and r.json()["error"]["field"] == field, r.json()
    f = create(srv, tok, reply_flow("good", {"type": "any_message"}, "x", settings={"priority": 3}))
    assert srv.request("GET", f"/api/flows/{f['id']}", token=tok).json()["flow"]["settings"] == {"priority": 3}


@pytest.mark.parametrize("body", [
    {"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [{"field": "comments", "value": {"id": "1"}}]}]},
    {"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [{"field": "comments", "value": "??"}]}]},
    {"object": "instagram", "entry": [{"id": ACCOUNT, "changes": [{"field": "live_comments", "value": {"from": {"id": CONTACT}}}]}]},
    {"object": "instagram", "entry": [{"id": ACCOUNT, "messaging": [{"sender": {"id": CONTACT}, "postback": "x"}]}]},
    {"object": "instagram", "entry": [{"id": ACCOUNT, "messaging": [{"sender": {"id": CONTACT}, "referral": {"ref": 5}}]}]},
])
def test_malformed_shapes_are_acknowledged(start_server, fake, body):
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    create(srv, tok, reply_flow("any", {"type": "comment"}, "x"))
    assert post_webhook(srv, body).status == 200
    # and the server goes on answering
    assert post_webhook(srv, text_event("hello", "mid-after-bad")).status == 200
    assert srv.request("GET", "/api/flows", token=tok).status == 200


def test_cooldown_holds_for_messages_at_once(start_server, fake):
    """Five messages from one contact in one delivery race for a flow with a
    cooldown: it runs once (claimed in the store until the cooldown ends), the
    fallback takes the other four."""
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    fallback = create(srv, tok, reply_flow("fallback", {"type": "any_message"}, "fallback"))
    cool = create(srv, tok, reply_flow("cool", {"type": "any_message"}, "welcome",
                                       settings={"priority": 10, "cooldown_seconds": 3600}))
    ev = text_event("hi", "mid-cool-0")
    items = ev["entry"][0]["messaging"]
    for i in range(1, 5):
        item = copy.deepcopy(items[0])
        item["message"]["mid"] = f"mid-cool-{i}"
        items.append(item)
    assert post_webhook(srv, ev).status == 200
    wait_until(lambda: len(runs_of(srv, tok, cool["id"])) + len(runs_of(srv, tok, fallback["id"])) >= 5)
    assert len(runs_of(srv, tok, cool["id"])) == 1
    assert len(runs_of(srv, tok, fallback["id"])) == 4
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) == 5)
    assert sorted(sent_texts(fake)) == ["fallback"] * 4 + ["welcome"]


def test_run_once_holds_for_messages_at_once(start_server, fake):
    """Five messages from one contact in one delivery, each racing the others'
    runs through the store: the run-once flow runs once, the fallback takes
    the other four (exactly one flow per message)."""
    srv = start_server(env=ig_env(fake))
    tok = owner(srv)
    fallback = create(srv, tok, reply_flow("fallback", {"type": "any_message"}, "fallback"))
    once = create(srv, tok, reply_flow("once", {"type": "any_message"}, "welcome",
                                       settings={"priority": 10, "run_once": True}))
    ev = text_event("hi", "mid-race-0")
    items = ev["entry"][0]["messaging"]
    for i in range(1, 5):
        item = copy.deepcopy(items[0])
        item["message"]["mid"] = f"mid-race-{i}"
        items.append(item)
    assert post_webhook(srv, ev).status == 200
    wait_until(lambda: len(runs_of(srv, tok, once["id"])) + len(runs_of(srv, tok, fallback["id"])) >= 5)
    assert len(runs_of(srv, tok, once["id"])) == 1
    assert len(runs_of(srv, tok, fallback["id"])) == 4
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) == 5)
    assert sorted(sent_texts(fake)) == ["fallback"] * 4 + ["welcome"]
