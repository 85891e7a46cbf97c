"""Every webhook shape Meta sends, each from its signed fixture in
tests/fixtures/instagram/: none is answered 500 and none is lost. Unsend and
edit reach the owner live (the unsend is not taken for a retry of the original
mid, and one that arrives before its original still wins), reactions and
unreactions, read positions that survive a reload, postbacks and quick replies
recorded and handed to flows, referrals, every attachment type, and unknown
shapes stored as `unsupported` with their raw type."""
import asyncio
import json
import time

import pytest
import websockets

from fakegraph import FakeGraph
from igutil import (ACCOUNT, CONTACT, connect, fixture, fixture_json, ig_conversations, ig_env,
                    ig_messages, post_webhook, text_event, wait_until)

TEXT_MID = fixture_json("message_text.json")["entry"][0]["messaging"][0]["message"]["mid"]


@pytest.fixture
def fake():
    f = FakeGraph().start()
    yield f
    f.stop()


@pytest.fixture
def ig(start_server, fake):
    return start_server(env=ig_env(fake))


def owner(server):
    s = server.signup()
    connect(server, s["access_token"])
    return s


def post(server, name):
    r = post_webhook(server, fixture(name))
    assert r.status == 200 and r.body == b"EVENT_RECEIVED", (name, r)


def by_mid(server, tok, mid):
    """The stored message with this Instagram mid, or None."""
    for m in ig_messages(server, tok):
        if m.get("external_id") == mid:
            return m
    return None


def with_type(server, tok, kind):
    return [m for m in ig_messages(server, tok) if any(a["type"] == kind for a in m["attachments"])]


def test_edit_then_unsend_live(ig):
    s = owner(ig)
    tok = s["access_token"]

    async def run():
        async with websockets.connect(f"{ig.ws_url}?token={tok}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
            frames = []

            async def until(pred):
                while True:
                    f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    frames.append(f)
                    if pred(f):
                        return f
            post(ig, "message_text.json")
            new = await until(lambda f: f["type"] == "message.new")
            assert new["message"]["text"] == "Hi! What is the price of the blue mug?"
            post(ig, "message_edit.json")
            edited = await until(lambda f: f["type"] == "message.updated")
            post(ig, "message_unsend.json")
            unsent = await until(lambda f: f["type"] == "message.updated" and f["message"]["deleted"])
            return new["message"], edited["message"], unsent["message"]
    new, edited, unsent = asyncio.run(run())
    assert edited["id"] == new["id"] and edited["text"] == "Hi! What is the price of the red mug?"
    assert edited["edited_at"] and not edited["deleted"]
    assert unsent["id"] == new["id"] and unsent["text"] is None and unsent["deleted"] is True
    # After a reload: one message, deleted; a retried unsend or edit changes nothing.
    post(ig, "message_unsend.json")
    post(ig, "message_edit.json")
    time.sleep(0.3)
    msgs = ig_messages(ig, tok)
    assert len(msgs) == 1 and msgs[0]["deleted"] is True and msgs[0]["text"] is None


def test_unsend_before_its_message_keeps_it_deleted(ig):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, "message_unsend.json")
    # Stored, then deleted at once: two store calls, so a read between them
    # sees the message not yet deleted (and clients get message.new, then
    # message.updated). Wait for the end state.
    m = wait_until(lambda: (lambda m: m if m and m["deleted"] else None)(by_mid(ig, tok, TEXT_MID)))
    assert m and m["deleted"] is True and m["text"] is None
    post(ig, "message_text.json")  # the original, late: a duplicate of what is stored
    time.sleep(0.3)
    msgs = ig_messages(ig, tok)
    assert len(msgs) == 1 and msgs[0]["deleted"] is True and msgs[0]["text"] is None


def test_edit_before_its_message_keeps_the_edit(ig):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, "message_edit.json")
    m = wait_until(lambda: by_mid(ig, tok, TEXT_MID))
    assert m and m["text"] == "Hi! What is the price of the red mug?"
    post(ig, "message_text.json")
    time.sleep(0.3)
    assert [m["text"] for m in ig_messages(ig, tok)] == ["Hi! What is the price of the red mug?"]


def test_reaction_unreaction_and_read_position(ig):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, "message_text.json")
    post(ig, "message_echo.json")
    echo_mid = fixture_json("message_echo.json")["entry"][0]["messaging"][0]["message"]["mid"]
    echo = wait_until(lambda: by_mid(ig, tok, echo_mid))
    assert echo and echo["sender_id"] == s["user"]["id"]
    post(ig, "reaction.json")
    reacted = wait_until(lambda: (by_mid(ig, tok, echo_mid) or {}).get("reactions"))
    assert reacted == [{"emoji": "\u2764", "user_ids": [f"ig:{CONTACT}"]}]
    post(ig, "unreaction.json")  # Meta names no emoji: the contact's own goes
    assert wait_until(lambda: by_mid(ig, tok, echo_mid)["reactions"] == [])
    assert ig_conversations(ig, tok)[0]["contact"]["last_read_seq"] == 0
    post(ig, "seen.json")
    conv = wait_until(lambda: [c for c in ig_conversations(ig, tok) if c["contact"]["last_read_seq"] == echo["seq"]])
    assert conv
    one = ig.request("GET", f"/api/conversations/{conv[0]['id']}", token=tok).json()["conversation"]
    assert one["contact"]["last_read_seq"] == echo["seq"]
    # A read of an older message never moves the position back.
    older = fixture_json("seen.json")
    older["entry"][0]["messaging"][0]["read"]["mid"] = TEXT_MID
    older["entry"][0]["messaging"][0]["timestamp"] += 1
    assert post_webhook(ig, older).status == 200
    time.sleep(0.4)
    assert ig_conversations(ig, tok)[0]["contact"]["last_read_seq"] == echo["seq"]


def test_read_is_live(ig):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, "message_echo.json")
    wait_until(lambda: ig_messages(ig, tok))

    async def run():
        async with websockets.connect(f"{ig.ws_url}?token={tok}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
            post(ig, "seen.json")
            while True:
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if f["type"] == "read":
                    return f
    frame = asyncio.run(run())
    assert frame["user_id"] == f"ig:{CONTACT}" and frame["seq"] == 1


@pytest.mark.parametrize("name,kind", [
    ("message_attachment.json", "image"), ("attachment_video.json", "video"),
    ("attachment_audio.json", "audio"), ("attachment_file.json", "file"),
    ("attachment_share.json", "share"), ("story_mention.json", "story_mention"),
])
def test_attachments_keep_type_and_url(ig, name, kind):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, name)
    msgs = wait_until(lambda: ig_messages(ig, tok))
    want = fixture_json(name)["entry"][0]["messaging"][0]["message"]["attachments"][0]
    # The attachments' shape (issue 18): Meta's URL is shown (and kept as
    # source_url) until the medium is in storage; lookaside.fbsbx.com is not
    # reachable here, so it stays pending.
    att = msgs[0]["attachments"]
    assert len(att) == 1 and len(att[0]["id"]) == 24, att
    assert {k: v for k, v in att[0].items() if k != "id"} == {
        "type": kind, "url": want["payload"]["url"], "source_url": want["payload"]["url"],
        "name": f"instagram-{kind}", "content_type": None, "size": None, "fetch": "pending"}
    assert msgs[0]["text"] is None and msgs[0]["sender_id"] == f"ig:{CONTACT}"


def test_story_reply_postback_quick_reply_referral(ig):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, "story_reply.json")
    story = wait_until(lambda: with_type(ig, tok, "story_reply"))
    assert story[0]["text"] == "Love this!"
    att = story[0]["attachments"][0]
    assert att["story_id"] == "17890000000000002" and "asset_id=17890000000000002" in att["url"]
    post(ig, "postback.json")
    pb = wait_until(lambda: with_type(ig, tok, "postback"))
    assert pb[0]["text"] == "Shoes"
    assert pb[0]["attachments"] == [{"type": "postback", "title": "Shoes", "payload": "CATEGORY_SHOES"}]
    post(ig, "quick_reply.json")
    qr = wait_until(lambda: with_type(ig, tok, "quick_reply"))
    assert qr[0]["text"] == "Bags"
    assert qr[0]["attachments"] == [{"type": "quick_reply", "payload": "CATEGORY_BAGS"}]
    post(ig, "referral.json")
    ref = wait_until(lambda: with_type(ig, tok, "referral"))
    assert ref[0]["attachments"] == [{"type": "referral", "ref": "spring_sale",
                                      "source": "IGME_SOURCE_LINK", "referral_type": "OPEN_THREAD"}]
    # Retries of each add nothing.
    for name in ["story_reply.json", "postback.json", "quick_reply.json", "referral.json"]:
        post(ig, name)
    time.sleep(0.4)
    assert len(ig_messages(ig, tok)) == 4


def test_unknown_shapes_are_stored_unsupported(ig):
    s = owner(ig)
    tok = s["access_token"]
    post(ig, "unsupported.json")
    post(ig, "comment.json")  # a comment is stored with its text (and triggers flows)
    msgs = wait_until(lambda: len(with_type(ig, tok, "unsupported")) == 1 and with_type(ig, tok, "unsupported"))
    assert msgs[0]["attachments"][0]["raw_type"] == "message_reactions_v2"
    assert msgs[0]["text"] is None and msgs[0]["sender_id"] == f"ig:{CONTACT}"
    comments = wait_until(lambda: with_type(ig, tok, "comment"))
    assert comments[0]["text"] == "Price please? Send me the link"
    assert comments[0]["attachments"][0]["comment_id"] == "17910000000000001"
    post(ig, "unsupported.json")  # a retry
    post(ig, "dashboard_test.json")  # account 0: kept, lands nowhere
    time.sleep(0.4)
    assert len(ig_messages(ig, tok)) == 2


def test_every_fixture_at_once_never_500(ig):
    s = owner(ig)
    tok = s["access_token"]
    names = ["message_text.json", "message_attachment.json", "attachment_video.json",
             "attachment_audio.json", "attachment_file.json", "attachment_share.json",
             "story_mention.json", "story_reply.json", "message_echo.json", "reaction.json",
             "unreaction.json", "seen.json", "postback.json", "quick_reply.json", "referral.json",
             "comment.json", "unsupported.json", "message_edit.json", "message_unsend.json",
             "dashboard_test.json"]
    # One body holding every item, as Meta batches them.
    batch = {"object": "instagram", "entry": []}
    for n in names:
        batch["entry"].extend(fixture_json(n)["entry"])
    r = post_webhook(ig, batch)
    assert r.status == 200
    for n in names:
        assert post_webhook(ig, fixture(n)).status == 200
    # 14 messages: text (then unsent), 6 attachments, story reply, echo,
    # postback, quick reply, referral, comment, unsupported.
    assert wait_until(lambda: len(ig_messages(ig, tok)) == 14, timeout=15)
    text = by_mid(ig, tok, TEXT_MID)
    assert wait_until(lambda: by_mid(ig, tok, TEXT_MID)["deleted"]), text


def test_postback_and_quick_reply_run_flows(ig, fake):
    s = owner(ig)
    tok = s["access_token"]
    flow = {"name": "shoes", "status": "active",
            "trigger": {"type": "postback", "payloads": ["CATEGORY_SHOES", "CATEGORY_BAGS"]},
            "start": "m1",
            "nodes": [{"id": "m1", "type": "message", "data": {"text": "You chose {{message.text}}"}}],
            "edges": []}
    assert ig.request("POST", "/api/flows", flow, token=tok).status == 201
    # A payload is no keyword (issue 19): this flow never runs for them.
    keyword = dict(flow, name="kw", trigger={"type": "keyword", "keywords": ["CATEGORY_SHOES", "Bags"]})
    assert ig.request("POST", "/api/flows", keyword, token=tok).status == 201
    for name in ["postback.json", "quick_reply.json"]:
        body = fixture_json(name)  # now, inside the 24-hour window
        body["entry"][0]["messaging"][0]["timestamp"] = int(time.time() * 1000)
        assert post_webhook(ig, body).status == 200
    assert fake.wait_for(lambda reqs: len([r for r in reqs if r["path"].endswith("/messages")]) >= 2)
    time.sleep(0.3)
    texts = sorted(r["json"]["message"]["text"] for r in fake.sends())
    assert texts == ["You chose Bags", "You chose Shoes"]  # the button's or quick reply's title
