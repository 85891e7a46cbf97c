"""The Contacts screen and Instagram message rendering in a real browser: contacts
named and pictured from their Instagram profiles, searched and filtered by the
server, tags and variables edited by hand (with the bounds explained before the
server is asked); the inbox row and chat header with the contact's name and picture;
and a conversation holding every shape Meta sends: an edited message, an unsent one,
a photo, a story mention, a postback, a quick reply, a referral, an unsupported event,
and a reply the customer reacted to and has seen."""
import base64
import json
import time

from conftest import retype
from fakegraph import FakeGraph
from igutil import CONTACT, connect, fixture_json, ig_env, post_webhook, text_event, wait_until


def svg_pic(color, letter):
    """A profile picture the page can show under its CSP (a data: URL)."""
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'>"
           f"<rect width='64' height='64' fill='{color}'/><circle cx='32' cy='26' r='12' fill='#fff'/>"
           f"<rect x='14' y='42' width='36' height='20' rx='10' fill='#fff'/>"
           f"<text x='4' y='14' font-size='12' fill='#fff'>{letter}</text></svg>")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


PEOPLE = {
    CONTACT: {"name": "Mia Rossi", "username": "mia.rossi", "profile_pic": svg_pic("#c2255c", "M")},
    "7000000000000001": {"name": "Noah Park", "username": "noahp", "profile_pic": svg_pic("#2b8a3e", "N")},
    "7000000000000002": {"name": "Olivia Chen", "username": "liv.chen", "profile_pic": svg_pic("#3b5bdb", "O")},
}


def now_ms():
    return int(time.time() * 1000)


def fresh(name, **item_changes):
    """A fixture with its timestamp now (inside the reply window)."""
    body = fixture_json(name)
    item = body["entry"][0]["messaging"][0]
    item["timestamp"] = now_ms()
    for path, value in item_changes.items():
        node = item
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return body


def seed(app, graph, token):
    """The three contacts, then Mia's conversation with every shape."""
    graph.profiles.update(PEOPLE)
    for i, igsid in enumerate(PEOPLE):
        if igsid != CONTACT:
            assert post_webhook(app.server, text_event(f"Hello from {PEOPLE[igsid]['name'].split()[0]}", f"mid.c.{i}", contact=igsid)).status == 200
    bodies = [
        text_event("Hi! Do you ship to Rome?", "mid.b.1"),
        fresh("message_edit.json", message_edit__mid="mid.b.1", message_edit__text="Hi! Do you ship to Milan?"),
        text_event("oops, wrong chat", "mid.b.2"),
        fresh("message_unsend.json", message__mid="mid.b.2"),
        fresh("message_attachment.json", message__mid="mid.b.3",
              message__attachments=[{"type": "image", "payload": {"url": svg_pic("#e8590c", "mug")}}]),
        fresh("story_mention.json"),
        fresh("postback.json"),
        fresh("quick_reply.json"),
        fresh("referral.json"),
        fresh("unsupported.json"),
        fresh("message_echo.json"),
        fresh("reaction.json"),
        fresh("seen.json"),
    ]
    for b in bodies:
        assert post_webhook(app.server, b).status == 200

    def ready():
        cs = app.api("GET", "/api/contacts", token=token)[1]["contacts"]
        return len(cs) == 3 and all(c["name"] for c in cs)
    assert wait_until(ready, timeout=20), "three named contacts"

    def conv_done():
        convs = app.api("GET", "/api/messages/instagram", token=token)[1]["conversations"]
        mia = [c for c in convs if c["contact"]["ig_user_id"] == CONTACT]
        return mia and mia[0]["contact"]["last_read_seq"] > 0 and mia[0]
    mia = wait_until(conv_done, timeout=20)
    assert mia, "Mia's conversation with her read position"
    return mia


def names(page):
    """The contact names shown (read in one script: rows re-render as answers arrive)."""
    return page.js("return [...document.querySelectorAll('[data-test=contact-name]')].map((e) => e.textContent)")


def test_contacts_screen_and_instagram_messages(app_factory, browser_factory):
    graph = FakeGraph().start()
    try:
        app = app_factory(ig_env(graph))
        me = app.signup("Mia Manager")
        tok = me["access_token"]
        connect(app.server, tok)
        mia = seed(app, graph, tok)

        page = browser_factory(app=app)
        page.login_token(me)

        # The inbox: named after the contact, with the picture.
        page.open("/inbox/instagram")
        page.wait(lambda: len(page.all("[data-test=conv-row]")) == 3, what="three Instagram conversations")
        row = [r for r in page.all("[data-test=conv-row]") if r.get_attribute("data-id") == mia["id"]][0]
        assert "Mia Rossi" in row.text
        assert len(page.all("[data-test=conv-row] [data-test=avatar-pic]")) == 3
        page.wait(lambda: page.js("return [...document.querySelectorAll('[data-test=avatar-pic]')].every((i) => i.complete && i.naturalWidth > 0)"),
                  what="the pictures loaded")

        # The conversation: every shape rendered.
        row.click()
        page.wait(lambda: page.all("[data-test=att-unsupported]"), what="the whole conversation")
        assert page.find("[data-test=chat-title]").text == "Mia Rossi"
        assert page.all(".chat-head [data-test=avatar-pic]")
        bubbles = page.texts("[data-test=bubble]")
        assert "Hi! Do you ship to Milan?" in bubbles
        assert "The customer unsent this message" in bubbles
        assert "oops, wrong chat" not in " ".join(bubbles)
        assert page.all("[data-test=edited]")
        assert page.js("const i = document.querySelector('[data-test=att-image] img'); return i && i.complete && i.naturalWidth > 0")
        assert "story" in page.find("[data-test=att-story_mention]").text
        assert "Shoes" in page.find("[data-test=att-postback]").text and "CATEGORY_SHOES" in page.find("[data-test=att-postback]").text
        assert "CATEGORY_BAGS" in page.find("[data-test=att-quick_reply]").text
        assert "spring_sale" in page.find("[data-test=att-referral]").text
        assert "message_reactions_v2" in page.find("[data-test=att-unsupported]").text
        own = [m for m in page.all("[data-test=msg]") if "The blue mug is 12 EUR." in m.text][0]
        assert "\u2764" in own.text  # the customer's reaction
        assert own.find_elements("css selector", "[data-test=tick-read]"), "seen by the customer"
        page.shot("instagram-chat-shapes")
        page.js("document.querySelector('[data-test=messages]').scrollTop = 0")
        page.shot("instagram-chat-shapes-top")

        # Contacts: named, pictured, searched by the server.
        page.open("/contacts")
        page.wait(lambda: len(page.all("[data-test=contact-row]")) == 3, what="three contacts")
        assert sorted(names(page)) == ["Mia Rossi", "Noah Park", "Olivia Chen"]
        assert len(page.all("[data-test=contact-row] [data-test=avatar-pic]")) == 3
        page.find("[data-test=contact-search]").send_keys("LIV")
        page.wait(lambda: names(page) == ["Olivia Chen"], what="the search (username liv.chen)")
        page.find("[data-test=contact-search]").clear()
        page.js("const i = document.querySelector('[data-test=contact-search]'); i.dispatchEvent(new Event('input', {bubbles: true}))")
        page.wait(lambda: len(page.all("[data-test=contact-row]")) == 3, what="all three again")
        page.shot("contacts-list")

        # Edit Mia: a tag and two variables; an over-long tag is explained, not sent.
        mia_row = [r for r in page.all("[data-test=contact-row]") if "Mia Rossi" in r.text][0]
        mia_row.find_element("css selector", "[data-test=contact-edit]").click()
        page.find("[data-test=contact-editor]")
        page.find("[data-test=new-tag]").send_keys("t" * 65)
        page.find("[data-test=add-tag]").click()
        assert "64" in page.find("[data-test=editor-error]").text
        retype(page.find("[data-test=new-tag]"), "vip")
        page.find("[data-test=add-tag]").click()
        page.find("[data-test=new-tag]").send_keys("wholesale")
        page.find("[data-test=add-tag]").click()
        for name, value in (("city", "Milan"), ("size", "M")):
            page.find("[data-test=add-var]").click()
            page.all("[data-test=var-name]")[-1].send_keys(name)
            page.all("[data-test=var-value]")[-1].send_keys(value)
        page.shot("contact-editor")
        page.find("[data-test=save-contact]").click()
        page.wait(lambda: not page.all("[data-test=contact-editor]"), what="the editor closed")
        stored = app.api("GET", f"/api/contacts/{mia['contact']['id']}", token=tok)[1]["contact"]
        assert stored["tags"] == ["vip", "wholesale"] and stored["variables"] == {"city": "Milan", "size": "M"}
        mia_row = [r for r in page.all("[data-test=contact-row]") if "Mia Rossi" in r.text][0]
        assert "vip" in mia_row.text and "city = Milan" in mia_row.text

        # Remove a tag and a variable: the list is replaced, the variable deleted.
        mia_row.find_element("css selector", "[data-test=contact-edit]").click()
        page.find("[aria-label='Remove tag wholesale']").click()
        page.find("[aria-label='Remove variable size']").click()
        page.find("[data-test=save-contact]").click()
        page.wait(lambda: not page.all("[data-test=contact-editor]"), what="the editor closed again")
        stored = app.api("GET", f"/api/contacts/{mia['contact']['id']}", token=tok)[1]["contact"]
        assert stored["tags"] == ["vip"] and stored["variables"] == {"city": "Milan"}

        # The tag filter asks the server.
        page.find("[data-test=contact-tag]").send_keys("vip")
        page.wait(lambda: names(page) == ["Mia Rossi"], what="the vip filter")
        page.shot("contacts-filtered")
        assert not page.severe(), page.severe()
    finally:
        graph.stop()
