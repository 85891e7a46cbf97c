"""Receipts in the web client (issue 17, item 2): a sender's ticks go sent, then
delivered when the other side's client holds the message (before it is opened), then
read; they survive a reload; in a group, a message's "Read by" lists who read it and
who only received it."""
from selenium.webdriver.common.keys import Keys


def send(page, text):
    box = page.find("[data-test=composer]")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def own_tick(page):
    ticks = page.all("[data-test=msg].own [data-test^=tick-]")
    return ticks[-1].get_attribute("data-test") if ticks else None


def test_direct_ticks_sent_delivered_read(app, browser_factory):
    a = app.server.signup(name="Alice Tick")
    b = app.server.signup(name="Bob Tick")
    st, body = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": b["user"]["id"]},
                       token=a["access_token"])
    assert st == 201
    cid = body["conversation"]["id"]
    alice, bob = browser_factory(), browser_factory()
    alice.login_token(a)
    alice.open(f"/c/{cid}")
    alice.find("[data-test=composer]")
    send(alice, "Are you there?")
    alice.wait(lambda: own_tick(alice) == "tick-sent", what="sent tick")
    # Bob's client gets the message in the inbox, without opening it: delivered.
    bob.login_token(b)
    bob.open("/inbox")
    bob.wait(lambda: "Are you there?" in bob.find("[data-test=conv-row]").text, what="Bob's inbox")
    alice.wait(lambda: own_tick(alice) == "tick-delivered", what="delivered tick")
    alice.shot("receipts-delivered")
    # Opening it reads it.
    bob.find("[data-test=conv-row]").click()
    alice.wait(lambda: own_tick(alice) == "tick-read", what="read tick")
    # The positions come with the conversation: a reload keeps the tick.
    alice.d.refresh()
    alice.wait(lambda: own_tick(alice) == "tick-read", what="read tick after a reload")
    assert not alice.severe(), alice.severe()
    assert not bob.severe(), bob.severe()


def test_group_read_by(app, browser_factory):
    a = app.server.signup(name="Ann Group")
    b = app.server.signup(name="Ben Group")
    c = app.server.signup(name="Cat Group")
    st, body = app.api("POST", "/api/conversations",
                       {"type": "group", "name": "Receipts team",
                        "participant_ids": [b["user"]["id"], c["user"]["id"]]}, token=a["access_token"])
    assert st == 201
    gid = body["conversation"]["id"]
    ann = browser_factory()
    ann.login_token(a)
    ann.open(f"/c/{gid}")
    ann.find("[data-test=composer]")
    send(ann, "Standup at ten")
    ann.wait(lambda: own_tick(ann) == "tick-sent", what="sent tick")
    # Both received it, only Ben read it: delivered (a group message is read when all have).
    for who in (b, c):
        app.api("POST", f"/api/conversations/{gid}/delivered", {"seq": 1}, token=who["access_token"])
    app.api("POST", f"/api/conversations/{gid}/read", {"seq": 1}, token=b["access_token"])
    ann.wait(lambda: own_tick(ann) == "tick-delivered", what="delivered tick")
    ann.js("arguments[0].scrollIntoView()", ann.find("[data-test=msg].own"))
    ann.find("[data-test=msg].own [data-test=read-by-open]").click()
    panel = ann.find("[data-test=read-by]")
    ann.wait(lambda: "Read by Ben Group" in panel.text and "Delivered to Cat Group" in panel.text,
             what="read by list")
    ann.shot("receipts-read-by")
    app.api("POST", f"/api/conversations/{gid}/read", {"seq": 1}, token=c["access_token"])
    ann.wait(lambda: own_tick(ann) == "tick-read", what="read by all")
    ann.find("[data-test=read-by] button").click()
    ann.find("[data-test=msg].own [data-test=read-by-open]").click()
    ann.wait(lambda: "Read by Ben Group, Cat Group" in ann.find("[data-test=read-by]").text,
             what="both readers")
    assert not ann.severe(), ann.severe()
