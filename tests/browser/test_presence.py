"""Presence in the web client: dots in the sidebar and the chat header (online, away,
do not disturb, offline), "last seen ..." once a user has left, and the status
picker in the user's menu, whose choice others see live (invisible as offline)."""
def dot_of(page, row_name):
    """The presence dot's status on the sidebar row titled row_name, or None."""
    return page.js(
        "for (const r of document.querySelectorAll('[data-test=conv-row]')) {"
        "  if (r.textContent.includes(arguments[0])) {"
        "    const d = r.querySelector('[data-test=presence-dot]');"
        "    return d ? d.dataset.status : null; } }"
        "return undefined;", row_name)


def header_presence(page):
    els = page.all("[data-test=presence]")
    return (els[0].get_attribute("data-status"), els[0].text) if els else (None, "")


def pick_status(page, value):
    page.js("const s = document.querySelector('[data-test=status-picker]');"
            "s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true}));", value)


def test_presence_dots_last_seen_and_status_picker(app, browser_factory):
    alice_s, bob_s, carol_s = app.signup("Alice Presence"), app.signup("Bob Presence"), app.signup("Carol Presence")
    for other in (bob_s, carol_s):
        st, _ = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": other["user"]["id"]},
                        token=alice_s["access_token"])
        assert st in (200, 201)

    alice = browser_factory()
    alice.login_token(alice_s)
    alice.open("/inbox")
    alice.wait(lambda: dot_of(alice, "Bob Presence") == "offline", what="Bob offline in the sidebar")
    assert dot_of(alice, "Carol Presence") == "offline"

    bob = browser_factory()
    bob.login_token(bob_s)
    bob.open("/inbox")
    bob.wait(lambda: not bob.all("[data-test=conn-banner]") and bob.all("[data-test=status-picker]"),
             what="Bob connected")
    alice.wait(lambda: dot_of(alice, "Bob Presence") == "online", what="Bob online in Alice's sidebar")
    # Bob's own menu shows his status and offers the four choices.
    picker = bob.find("[data-test=status-picker]")
    assert [o.get_attribute("value") for o in picker.find_elements("css selector", "option")] == [
        "online", "away", "dnd", "invisible"]
    bob.wait(lambda: bob.find("[data-test=me] [data-test=presence-dot]").get_attribute("data-status") == "online",
             what="Bob's own dot")

    alice.js("for (const r of document.querySelectorAll('[data-test=conv-row]'))"
             " if (r.textContent.includes('Bob Presence')) r.click();")
    alice.wait(lambda: alice.find("[data-test=chat-title]").text == "Bob Presence", what="chat with Bob")
    alice.wait(lambda: header_presence(alice) == ("online", "online"), what="online in the header")

    pick_status(bob, "away")
    alice.wait(lambda: dot_of(alice, "Bob Presence") == "away", what="away in the sidebar")
    alice.wait(lambda: header_presence(alice) == ("away", "away"), what="away in the header")
    bob.wait(lambda: bob.find("[data-test=me] [data-test=presence-dot]").get_attribute("data-status") == "away",
             what="Bob's own dot turns away")
    alice.shot("presence-away")

    pick_status(bob, "dnd")
    alice.wait(lambda: header_presence(alice) == ("dnd", "do not disturb"), what="dnd in the header")
    assert dot_of(alice, "Bob Presence") == "dnd"
    alice.shot("presence-dnd")
    bob.shot("presence-status-menu")

    pick_status(bob, "invisible")
    alice.wait(lambda: header_presence(alice)[0] == "offline", what="invisible shows offline")
    assert dot_of(alice, "Bob Presence") == "offline"
    bob.wait(lambda: bob.find("[data-test=me] [data-test=presence-dot]").get_attribute("data-status") == "offline",
             what="Bob sees himself as others do")
    # The choice is stored: the profile page shows it after a reload.
    bob.open("/settings")
    bob.wait(lambda: bob.find("#profile-status").get_attribute("value") == "invisible", what="profile status")
    pick_status(bob, "online")
    alice.wait(lambda: header_presence(alice) == ("online", "online"), what="back online")

    # Bob leaves: Alice sees when he was last seen.
    bob.d.quit()
    alice.wait(lambda: header_presence(alice) == ("offline", "last seen just now"), timeout=20,
               what="last seen in the header")
    assert dot_of(alice, "Bob Presence") == "offline"
    alice.shot("presence-last-seen")
    # After a reload the snapshot brings last seen back.
    alice.d.refresh()
    alice.wait(lambda: header_presence(alice) == ("offline", "last seen just now"), what="last seen after reload")
    assert not alice.severe(), alice.severe()


def test_leaving_the_page_is_seen_at_once(app, browser_factory):
    """A user who follows a link away (or closes the tab) closes their socket as the page
    goes: the others see them offline within a second or two, not when the browser gets
    round to closing it."""
    import time
    ann_s, ben_s = app.signup("Ann Leaves"), app.signup("Ben Watches")
    st, _ = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": ann_s["user"]["id"]},
                    token=ben_s["access_token"])
    assert st in (200, 201)
    ben = browser_factory()
    ben.login_token(ben_s)
    ben.open("/inbox")
    ann = browser_factory()
    ann.login_token(ann_s)
    ann.open("/inbox")
    ben.wait(lambda: dot_of(ben, "Ann Leaves") == "online", what="Ann online")
    t0 = time.monotonic()
    ann.d.get("data:text/html,<p>elsewhere</p>")
    ben.wait(lambda: dot_of(ben, "Ann Leaves") == "offline", timeout=3, what="Ann offline at once")
    assert time.monotonic() - t0 < 3
