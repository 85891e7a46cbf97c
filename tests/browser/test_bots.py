"""Bots in the web client (issue 20, point 3): Settings › Bots creates a bot and shows
its token and signing secret once, the group panel adds it as a member, a webhook that
keeps failing shows "disabled after failures" live (the bot.disabled frame), and
"Enable again", "New token" and "Delete" work from the row."""
from bot_receiver import Receiver
from conftest import retype  # tests/integration, on the path through conftest


def test_bot_created_added_disabled_and_enabled(app_factory, browser_factory):
    receiver = Receiver()
    try:
        receiver.plans["/browser"] = [500] * 20
        app = app_factory({"PARLEY_API_CALL_ALLOW": f"127.0.0.1:{receiver.port}",
                           "PARLEY_BOT_BACKOFF_MS": "20", "PARLEY_BOT_BACKOFF_MAX_MS": "40",
                           "PARLEY_BOT_MAX_FAILURES": "2", "PARLEY_BOT_POLL_MS": "50"})
        ann = app.signup("Ann Owner")
        ben = app.signup("Ben Friend")
        st, body = app.api("POST", "/api/conversations", {"type": "group", "name": "Bot lab",
                                                          "participant_ids": [ben["user"]["id"]]},
                           token=ann["access_token"])
        assert st == 201
        cid = body["conversation"]["id"]
        p = browser_factory(app=app)
        p.login_token(ann)
        p.open("/settings")
        p.find("[data-test=bots]")
        # A refused webhook URL: the field is marked, nothing is created.
        p.find("#bot-name").send_keys("Echo")
        p.find("#bot-url").send_keys("http://10.0.0.1/hook")
        p.find("[data-test=bot-create] button[type=submit]").click()
        p.wait(lambda: p.all("[data-test=bot-error]"), what="the refused URL")
        assert p.find("#bot-url").get_attribute("aria-invalid") == "true"
        assert not p.all("[data-test=bot]")
        url = p.find("#bot-url")
        retype(url, receiver.url("/browser"))
        p.find("[data-test=bot-create] button[type=submit]").click()
        token = p.find("[data-test=bot-token]").text
        assert len(token) == 43 and len(p.find("[data-test=bot-secret]").text) == 64
        assert p.find("[data-test=bot-status]").text.lower() == "active"
        bot_id = p.find("[data-test=bot]").get_attribute("data-bot-id")
        receiver.secrets[bot_id] = p.find("[data-test=bot-secret]").text
        p.shot("bots-created")
        # Shown once: gone after Done and a reload.
        [b for b in p.all("[data-test=bot-shown] button") if b.text == "Done"][0].click()
        p.open("/settings")
        p.find("[data-test=bot]")
        assert not p.all("[data-test=bot-token]") and token not in p.d.page_source

        # The group panel adds it.
        p.open(f"/c/{cid}")
        p.find("[data-test=details]").click()
        p.find("[data-test=add-bot] button[type=submit]").click()
        p.wait(lambda: "Echo" in " ".join(p.texts("[data-test=member]")), what="the bot as a member")
        p.shot("group-bot-added")

        # Ben writes; the webhook fails twice; the open settings page says so live.
        p.open("/settings")
        p.find("[data-test=bot]")
        st, _ = app.api("POST", f"/api/conversations/{cid}/messages", {"text": "/help me"},
                        token=ben["access_token"])
        assert st == 201
        p.wait(lambda: p.find("[data-test=bot-status]").text.lower() == "disabled after failures",
               what="the bot disabled live")
        note = p.find("[data-test=bot-disabled-note]").text
        assert "2 failed attempts" in note and "500" in note, note
        p.js("arguments[0].scrollIntoView({block: 'center'})", p.find("[data-test=bot]"))
        p.shot("bots-disabled")
        assert len(receiver.at("/browser")) == 2
        assert all(g["signed"] for g in receiver.at("/browser"))  # with the secret shown once

        # Enabled again: the kept delivery goes out and the row is active.
        receiver.plans["/browser"] = []
        p.find("[data-test=bot-enable]").click()
        p.wait(lambda: p.find("[data-test=bot-status]").text.lower() == "active", what="enabled again")
        p.wait(lambda: [g for g in receiver.at("/browser") if g["status"] == 200], what="the delivery")
        ok = [g for g in receiver.at("/browser") if g["status"] == 200]
        assert ok[0]["body"]["command"]["name"] == "help"

        # A new token replaces the old one; delete removes the row.
        p.js("window.confirm = () => true;")
        p.find("[data-test=bot-rotate]").click()
        new = p.find("[data-test=bot-token]").text
        assert new != token and len(new) == 43
        r = app.server.request("GET", f"/api/conversations/{cid}/messages",
                               headers={"Authorization": f"Bot {token}"})
        assert r.status == 401
        r = app.server.request("GET", f"/api/conversations/{cid}/messages",
                               headers={"Authorization": f"Bot {new}"})
        assert r.status == 200
        p.find("[data-test=bot-delete]").click()
        p.wait(lambda: not p.all("[data-test=bot]"), what="the bot deleted")
        # The one failed request is the refused URL's 400.
        assert not [e for e in p.severe() if "/api/bots - " not in e["message"]
                    or "status of 400" not in e["message"]], p.severe()
    finally:
        receiver.close()


def test_channel_admin_adds_a_bot_that_gets_posts_and_posts_once_promoted(app_factory, browser_factory):
    """The channel panel's "Add a bot": the bot joins as a member and gets the
    channel's posts; promoted from the member list, it posts with its token."""
    receiver = Receiver()
    try:
        app = app_factory({"PARLEY_API_CALL_ALLOW": f"127.0.0.1:{receiver.port}",
                           "PARLEY_BOT_POLL_MS": "50"})
        ann = app.signup("Ann Editor")
        tok = ann["access_token"]
        st, body = app.api("POST", "/api/bots", {"name": "Digest", "webhook_url": receiver.url("/ch")},
                           token=tok)
        assert st == 201
        bot, bot_token = body["bot"], body["token"]
        receiver.secrets[bot["id"]] = body["signing_secret"]
        st, body = app.api("POST", "/api/conversations", {"type": "channel", "name": "Morning news"},
                           token=tok)
        assert st == 201
        cid = body["conversation"]["id"]
        p = browser_factory(app=app)
        p.login_token(ann)
        p.open(f"/c/{cid}")
        p.find("[data-test=details]").click()
        p.find("[data-test=channel-panel] [data-test=add-bot]")
        p.shot("channel-add-bot")
        assert p.js("return document.querySelector('#channel-add-bot').selectedOptions[0].text") == "Digest"
        p.find("[data-test=channel-panel] [data-test=add-bot] button[type=submit]").click()
        p.wait(lambda: "Digest" in " ".join(p.texts("[data-test=channel-members] [data-test=member]")),
               what="the bot among the members")
        p.wait(lambda: "2 members" in p.find("[data-test=member-count]").text, what="the count")
        assert not p.all("[data-test=channel-panel] [data-test=add-bot]")  # no bot left to add
        st, _ = app.api("POST", f"/api/conversations/{cid}/messages", {"text": "/digest"}, token=tok)
        assert st == 201
        p.wait(lambda: [g for g in receiver.at("/ch") if g["body"]["type"] == "message.new"],
               what="the post delivered to the bot")
        # Promoted from its row, it posts; the post shows in the channel.
        row = [m for m in p.all("[data-test=channel-members] [data-test=member]")
               if m.get_attribute("data-id") == bot["id"]][0]
        row.find_element("css selector", "[data-test=toggle-role]").click()
        p.wait(lambda: "admin" in row.text.lower(), what="the bot promoted")
        r = app.server.request("POST", f"/api/conversations/{cid}/messages",
                               body={"text": "Today: sun, 21°C"},
                               headers={"Authorization": f"Bot {bot_token}"})
        assert r.status == 201, r
        p.wait(lambda: "Today: sun, 21°C" in p.d.page_source, what="the bot's post")
        p.shot("channel-bot-added")
        assert not p.severe(), p.severe()
    finally:
        receiver.close()
