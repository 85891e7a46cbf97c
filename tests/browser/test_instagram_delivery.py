"""Instagram replies in the chat show their delivery (sending, sent, not delivered with
Graph's error) and a failed one is retried with its Retry button, sent once more; the
Instagram settings screen turns to "reconnect needed" live when Graph refuses the
token (error 190), and reconnecting from there makes the account healthy again."""
from fakegraph import FakeGraph
from igutil import ACCOUNT, connect, ig_env, post_webhook, text_event, wait_until


def sends_of(graph, text):
    return [q for q in graph.sends() if (q["json"] or {}).get("message", {}).get("text") == text]


def type_and_send(page, text):
    box = page.find("[data-test=composer]")
    page.wait(lambda: box.is_enabled(), what="the composer open")
    box.send_keys(text)
    page.find("[data-test=send]").click()


FIND = """
for (const m of document.querySelectorAll('[data-test=msg]')) {
  const b = m.querySelector('[data-test=bubble]');
  if (b && b.textContent === arguments[0]) { return m; }
}
return null;"""


def delivery(page, text):
    """The delivery mark of the message with this text: (data-test, its text), read in
    one script so a re-render between reads cannot leave a stale element."""
    return page.js(FIND.replace("return m;", """
    const d = m.querySelector('[data-test=ig-pending],[data-test=ig-sent],[data-test=ig-failed]');
    return d ? [d.dataset.test, d.textContent] : [null, ''];"""), text)


def shows(page, text, kind):
    d = delivery(page, text)
    return d if d and d[0] == kind else None


def test_delivery_status_retry_and_reconnect(app_factory, browser_factory):
    graph = FakeGraph().start()
    try:
        app = app_factory(ig_env(graph))
        me = app.signup("Ivy Agent")
        tok = me["access_token"]
        connect(app.server, tok)
        assert post_webhook(app.server, text_event("Is the blue mug in stock?", "mid.br.1")).status == 200
        conv = wait_until(lambda: app.api("GET", "/api/messages/instagram", token=tok)[1]["conversations"])[0]

        page = browser_factory(app=app)
        page.login_token(me)
        page.open(f"/c/{conv['id']}")
        page.find("[data-test=ig-window]")

        # Meta takes it: the bubble ends "Sent".
        type_and_send(page, "Yes, 12 EUR")
        page.wait(lambda: shows(page, "Yes, 12 EUR", "ig-sent"), what="the reply marked sent")
        assert len(sends_of(graph, "Yes, 12 EUR")) == 1

        # Meta refuses it: Graph's error and a Retry button.
        graph.script = [(400, {"error": {"message": "(#551) This person isn't available right now.",
                                         "code": 551, "type": "OAuthException"}})]
        type_and_send(page, "Shall I reserve one?")
        failed = page.wait(lambda: shows(page, "Shall I reserve one?", "ig-failed"),
                           what="the reply marked not delivered")
        assert "(#551) This person isn't available right now." in failed[1] and "(551)" in failed[1]
        assert "Retry" in failed[1]
        page.shot("chat-instagram-failed")

        # Retry: the same client_id, sent once more, then "Sent".
        assert page.js(FIND.replace("return m;", "m.querySelector('[data-test=ig-retry]').click(); return true;"),
                       "Shall I reserve one?")
        page.wait(lambda: shows(page, "Shall I reserve one?", "ig-sent"), what="the retried reply marked sent")
        assert len(sends_of(graph, "Shall I reserve one?")) == 2
        assert len([m for m in page.all("[data-test=bubble]") if m.text == "Shall I reserve one?"]) == 1
        page.shot("chat-instagram-sent")

        # The token is revoked: the settings screen turns to "reconnect needed" live.
        page.open("/settings")
        page.find("[data-test=ig-connected]")
        graph.revoked.add(f"IGQ-test-{ACCOUNT}")
        r = app.server.request("POST", f"/api/conversations/{conv['id']}/messages",
                               {"text": "token check", "client_id": "br-190"}, token=tok)
        assert r.status == 201
        box = page.find("[data-test=ig-reconnect]", timeout=20)
        assert "Reconnect needed" in box.text
        page.js("arguments[0].scrollIntoView({block: 'center'})", box)
        page.shot("settings-reconnect")
        # The chat says so too when a reply is refused for it.
        graph.revoked.clear()
        page.find("[data-test=ig-retoken]").send_keys(f"IGQ-test-{ACCOUNT}")
        page.find("[data-test=ig-reconnect-btn]").click()
        page.find("[data-test=ig-connected]")
        st = app.api("GET", "/api/instagram/status", token=tok)[1]
        assert st["connected"] is True and st["status"] == "connected"
        assert not page.severe(), page.severe()
    finally:
        graph.stop()
