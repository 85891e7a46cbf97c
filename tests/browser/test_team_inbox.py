"""The team inbox's screens: the owner adds an agent in Instagram settings and removes
it; the agent's inbox has the Mine / Unassigned / All tabs; the conversation header's
assign control and the automation control (paused until a time after a reply, resumed
by hand). Screenshots: team-settings, team-inbox, team-chat-paused."""
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
        ap.find("[data-test=automation-toggle]").click()
        ap.wait(lambda: "Automation on" in ap.find("[data-test=automation-state]").text, what="resumed")
        ap.open("/inbox/instagram")
        ap.find("[data-test=assigned-me]").click()
        ap.wait(lambda: len(ap.all("[data-test=conv-row]")) == 1, what="mine")
        ap.shot("team-inbox")

        assert not ap.severe(), ap.severe()

        # The owner removes the agent.
        page.find("[data-test=remove-agent]").click()
        page.find("[data-test=no-agents]")
        assert app.api("GET", "/api/instagram/agents", token=owner["access_token"])[1]["agents"] == []
        assert not page.severe()
        # The removed agent's open page may still ask for what it no longer sees (404s).
        assert not [e for e in ap.severe() if " 404 " not in e["message"]], ap.severe()
    finally:
        graph.stop()
