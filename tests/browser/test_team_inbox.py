"""The team inbox's screens: the owner adds an agent in Instagram settings and removes
it; the agent's inbox has the Mine / Unassigned / All tabs; the conversation header's
assign control and the automation control (paused until a time after a reply, resumed
by hand), and the header at 375 px. Screenshots: team-settings, team-inbox, team-chat-paused,
team-chat-375."""
import time
import uuid

from conftest import bulk
from fakegraph import FakeGraph
from igutil import connect, ig_env, post_webhook, text_event, wait_until


def test_team_inbox_screens(app_factory, browser_factory):
    graph = FakeGraph()
    graph.start()
    try:
        app = app_factory(ig_env(graph))
        owner = app.signup("Mia Manager")
        agent = app.signup("Andy Agent")
        connect(app.server, owner["access_token"])
        assert post_webhook(app.server, text_event("Do you ship to Lisbon?", "mid.team." + uuid.uuid4().hex)).status == 200
        wait_until(lambda: app.api("GET", "/api/contacts", token=owner["access_token"])[1]["contacts"], timeout=10)

        # Settings: the owner finds the agent by name and adds it.
        page = browser_factory(app=app)
        page.login_token(owner)
        page.open("/settings")
        page.find("[data-test=no-agents]")
        page.find("[data-test=agent-q]").send_keys("Andy")
        page.find("[data-test=team] form button[type=submit]").click()
        page.find("[data-test=add-agent]").click()
        page.wait(lambda: [a.text for a in page.all("[data-test=agent]")] and "Andy Agent" in page.all("[data-test=agent]")[0].text,
                  what="the agent listed")
        assert [a["id"] for a in app.api("GET", "/api/instagram/agents", token=owner["access_token"])[1]["agents"]] == [agent["user"]["id"]]
        page.shot("team-settings")

        # The agent's inbox: the account's conversation under All and Unassigned, not Mine.
        ap = browser_factory(app=app)
        ap.login_token(agent)
        ap.open("/inbox/instagram")
        ap.find("[data-test=assigned-tabs]")
        ap.wait(lambda: len(ap.all("[data-test=conv-row]")) == 1, what="the account's conversation")
        ap.find("[data-test=assigned-me]").click()
        ap.wait(lambda: len(ap.all("[data-test=conv-row]")) == 0, what="nothing assigned to the agent")
        ap.find("[data-test=assigned-none]").click()
        ap.wait(lambda: len(ap.all("[data-test=conv-row]")) == 1, what="unassigned")
        ap.find("[data-test=assigned-all]").click()
        ap.wait(lambda: len(ap.all("[data-test=conv-row]")) == 1, what="all")
        ap.all("[data-test=conv-row]")[0].click()
        ap.find("[data-test=chat-title]")
        ap.shot("team-chat")
        # Assign to itself from the header; Mine now holds it.
        ap.find("[data-test=assign]")
        ap.js("const s = document.querySelector('[data-test=assign]');"
              "s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true}));", agent["user"]["id"])
        ap.wait(lambda: ap.find("[data-test=assign]").get_attribute("value") == agent["user"]["id"], what="assigned")
        convs = app.api("GET", "/api/messages/instagram?assigned=me", token=agent["access_token"])[1]["conversations"]
        assert len(convs) == 1
        # A reply pauses automation; the header shows until when; resume by hand.
        ap.find("[data-test=automation-state]")
        assert "Automation on" in ap.find("[data-test=automation-state]").text
        # The agent reads the contact, so it sees the reply window as the owner does.
        ap.wait(lambda: "Reply window open" in ap.find("[data-test=ig-window]").text,
                what="the agent's reply window")
        ap.find("[data-test=composer]").send_keys("Yes, we ship to Lisbon in 3 days.")
        ap.find("[data-test=send]").click()
        ap.wait(lambda: "paused until" in ap.find("[data-test=automation-state]").text, what="paused after the reply")
        ap.shot("team-chat-paused")
        # The owner has the chat open too: the agent's resume by hand reaches it live.
        cid = convs[0]["id"]
        page.open(f"/c/{cid}")
        page.wait(lambda: "paused until" in page.find("[data-test=automation-state]").text, what="the owner sees the pause")
        narrow = browser_factory(375, 740, app=app)
        narrow.login_token(owner)
        narrow.open(f"/c/{cid}")
        narrow.wait(lambda: "paused until" in narrow.find("[data-test=automation-state]").text,
                    what="the pause at 375 px")
        narrow.shot("team-chat-375")
        # At 375 px the team controls take a row of their own under the name, which is
        # whole, and nothing in the header runs past its edge.
        title = narrow.chat_header_fits(375)
        assert narrow.find("[data-test=team-controls]").rect["y"] >= title.rect["y"] + title.rect["height"]
        ap.find("[data-test=automation-toggle]").click()
        ap.wait(lambda: "Automation on" in ap.find("[data-test=automation-state]").text, what="resumed")
        page.wait(lambda: "Automation on" in page.find("[data-test=automation-state]").text,
                  what="the owner sees the resume live")
        ap.open("/inbox/instagram")
        ap.find("[data-test=assigned-me]").click()
        ap.wait(lambda: len(ap.all("[data-test=conv-row]")) == 1, what="mine")
        ap.shot("team-inbox")

        assert not ap.severe(), ap.severe()

        # The owner removes the agent while the agent has the chat open: it is told at
        # once, and the conversation leaves its inbox.
        ap.open(f"/c/{cid}")
        ap.find("[data-test=chat-title]")
        page.open("/settings")
        page.find("[data-test=remove-agent]").click()
        page.find("[data-test=no-agents]")
        assert app.api("GET", "/api/instagram/agents", token=owner["access_token"])[1]["agents"] == []
        ap.wait(lambda: "removed from the team inbox" in ap.find("[data-test=chat-gone]").text,
                what="the removed agent told")
        ap.shot("team-agent-removed")
        ap.find("a[href='/inbox']").click()
        ap.wait(lambda: len(ap.all("[data-test=conv-row]")) == 0, what="the inbox without the account's conversation")
        assert not page.severe()
        # The removed agent's open page may still ask for what it no longer sees (404s).
        assert not [e for e in ap.severe() if " 404 " not in e["message"]], ap.severe()
    finally:
        graph.stop()


def test_the_composer_follows_the_human_agent_window(app_factory, browser_factory):
    """With PARLEY_IG_HUMAN_AGENT_TAG=on a person may reply up to 7 days after the
    customer's last message: the chat says so and the composer stays open on day 2,
    and the reply goes out with the tag. Off (the default) it is closed on day 2.
    Screenshot: ig-human-agent-window."""
    graph = FakeGraph()
    graph.start()
    try:
        two_days_ago = int((time.time() - 2 * 86400) * 1000)
        for tag in ("on", "off"):
            app = app_factory(dict(ig_env(graph), PARLEY_IG_HUMAN_AGENT_TAG=tag))
            owner = app.signup("Mia Manager")
            connect(app.server, owner["access_token"])
            assert post_webhook(app.server, text_event("Still there?", "mid.hat." + uuid.uuid4().hex,
                                                       ts_ms=two_days_ago)).status == 200
            conv = wait_until(lambda: app.api("GET", "/api/messages/instagram", token=owner["access_token"])[1]["conversations"],
                              timeout=10)[0]
            page = browser_factory(app=app)
            page.login_token(owner)
            page.open(f"/c/{conv['id']}")
            page.wait(lambda: "window" in page.find("[data-test=ig-window]").text.lower()
                      and "Checking" not in page.find("[data-test=ig-window]").text, what="the window judged")
            box = page.find("[data-test=composer]")
            if tag == "on":
                page.wait(lambda: "Human agent window" in page.find("[data-test=ig-window]").text,
                          what="the 7-day window explained")
                assert "7 days" in page.find("[data-test=ig-window]").text
                page.wait(lambda: box.is_enabled(), what="the composer open on day 2")
                page.shot("ig-human-agent-window")
                box.send_keys("Yes, the blue mug is back in stock.")
                page.find("[data-test=send]").click()
                sent = wait_until(lambda: [q for q in graph.sends()
                                           if (q["json"] or {}).get("message", {}).get("text") == "Yes, the blue mug is back in stock."])
                assert sent and sent[0]["json"]["tag"] == "HUMAN_AGENT"
            else:
                page.wait(lambda: "closed" in page.find("[data-test=ig-window]").text, what="closed on day 2")
                assert "24 hours" in page.find("[data-test=ig-window]").text
                assert not box.is_enabled()
            assert not page.severe(), page.severe()
    finally:
        graph.stop()
