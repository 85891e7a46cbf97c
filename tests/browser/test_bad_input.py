"""Bad input as a person meets it: a taken e-mail shown at its field, a message over
4000 characters refused in the composer, and an Instagram conversation whose 24-hour
reply window has closed, explained, with the composer disabled; an open one takes a
reply that reaches the customer through the Graph API."""
import time
import uuid

from selenium.webdriver.common.keys import Keys

from conftest import PASSWORD, bulk
from fakegraph import FakeGraph
from igutil import connect, ig_env, post_webhook, text_event, wait_until


def test_taken_email_is_shown_at_its_field(app, browser_factory):
    taken = f"taken.{uuid.uuid4().hex[:8]}@example.com"
    app.server.signup(name="First Owner", email=taken, password=PASSWORD)
    page = browser_factory()
    page.signup_ui("Second Person", taken.upper())
    err = page.find("#auth-email-error")
    assert "already has an account" in err.text
    assert page.find("#auth-email").get_attribute("aria-invalid") == "true"
    assert page.find("#auth-email").get_attribute("aria-describedby") == "auth-email-error"
    assert "/signup" in page.d.current_url
    page.shot("signup-email-taken")


def test_long_message_refused_in_composer(app, browser_factory):
    me = app.signup("Writer")
    other = app.signup("Reader")
    conv = bulk(app, me["access_token"], [("POST", "/api/conversations",
                                           {"type": "direct", "participant_id": other["user"]["id"]})])[0]
    page = browser_factory()
    page.login_token(me)
    page.open(f"/c/{conv['conversation']['id']}")
    box = page.find("[data-test=composer]")
    fill = "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}))"
    page.js(fill, box, "é" * 4001)
    err = page.find("[data-test=composer-error]")
    assert "4001" in err.text and "4000" in err.text
    assert not page.find("[data-test=send]").is_enabled()
    box.send_keys(Keys.ENTER)
    page.shot("composer-too-long")
    time.sleep(0.5)
    assert not page.all("[data-test=bubble]"), "nothing was sent"
    st, body = app.api("GET", f"/api/conversations/{conv['conversation']['id']}/messages", token=me["access_token"])
    assert body["messages"] == []
    # At exactly 4000 characters it goes.
    page.js(fill, box, "é" * 4000)
    page.wait(lambda: not page.all("[data-test=composer-error]"), what="the error to clear")
    page.find("[data-test=send]").click()
    page.wait(lambda: page.all("[data-test=tick-sent], [data-test=tick-read]"), what="the message to be sent")
    assert page.find("[data-test=bubble]").text == "é" * 4000


def test_instagram_window_closed_and_open(app_factory, browser_factory):
    graph = FakeGraph()
    graph.start()
    try:
        app = app_factory(ig_env(graph))
        owner = app.signup("Shop Owner")
        connect(app.server, owner["access_token"])
        day = 24 * 3600 * 1000
        now = int(time.time() * 1000)
        old = text_event("Do you ship to Lisbon?", "mid.old.1", contact="1111111111111111", ts_ms=now - 2 * day)
        new = text_event("Is the blue one in stock?", "mid.new.1", contact="2222222222222222", ts_ms=now - 60000)
        for ev in (old, new):
            assert post_webhook(app.server, ev).status == 200

        def ig_convs():
            st, body = app.api("GET", "/api/messages/instagram", token=owner["access_token"])
            convs = body["conversations"]
            return convs if len(convs) == 2 and all(c["last_message"] for c in convs) else None
        convs = wait_until(ig_convs, timeout=15)
        assert convs, "both Instagram conversations were created with their message"

        page = browser_factory(app=app)
        page.login_token(owner)
        page.open("/inbox/instagram")
        page.wait(lambda: len(page.all("[data-test=conv-row]")) == 2, what="two Instagram conversations")
        page.shot("inbox-instagram")
        by_text = {c["last_message"]["text"]: c["id"] for c in convs}

        # Closed: the composer is disabled and the reason is shown.
        page.open(f"/c/{by_text['Do you ship to Lisbon?']}")
        win = page.find("[data-test=ig-window]")
        page.wait(lambda: "closed" in win.text, what="the closed window")
        assert "24 hours" in win.text
        assert not page.find("[data-test=composer]").is_enabled()
        assert page.find("[data-test=source-badge]").text.lower() == "customer"
        page.shot("instagram-window-closed")

        # Open: a reply goes to the customer through the Graph API and shows as the agent's.
        page.open(f"/c/{by_text['Is the blue one in stock?']}")
        page.wait(lambda: "open" in page.find("[data-test=ig-window]").text, what="the open window")
        box = page.find("[data-test=composer]")
        page.wait(lambda: box.is_enabled(), what="the composer")
        box.send_keys("Yes, two left!" + Keys.ENTER)
        page.wait(lambda: "Yes, two left!" in page.texts("[data-test=bubble]"), what="the reply")
        assert graph.wait_for(lambda s: any("Yes, two left!" in str(x) for x in s), timeout=10)
        badges = page.texts("[data-test=source-badge]")
        assert [b.lower() for b in badges] == ["customer", "agent"], badges
        # The contact's name in the header, from the profile the server fetched from Graph
        # (the fake Graph names contact 2222222222222222 "Customer 2222").
        page.wait(lambda: page.find("[data-test=chat-title]").text == "Customer 2222",
                  what="the contact's name")
        # On a wide screen the contact's details sit beside the chat without asking.
        assert "No tags" in page.find("[data-test=ig-panel]").text
        page.shot("instagram-chat")
        assert not page.severe(), page.severe()
    finally:
        graph.stop()


def test_failed_refresh_returns_to_login_with_a_message(app, browser_factory):
    me = app.signup("Sam Stale")
    page = browser_factory()
    page.login_token(me)
    page.open("/inbox")
    page.find("[data-test=new-chat]")
    # Another client uses the refresh token first; the page's copy is then a reused
    # token, which the server refuses (and revokes the login) when the page refreshes.
    st, _ = app.api("POST", "/api/auth/refresh", {"refresh_token": me["refresh_token"]})
    assert st == 200
    page.js("""const s = JSON.parse(localStorage.getItem('parley.session'));
               s.expires_at = Date.now() - 1000;
               localStorage.setItem('parley.session', JSON.stringify(s));""")
    page.d.refresh()
    note = page.find(".auth-page .notice")
    assert "log in again" in note.text.lower()
    assert page.all("#auth-email")
    page.shot("login-session-ended")
