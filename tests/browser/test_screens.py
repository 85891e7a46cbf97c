"""Every main screen with data in it, captured as a screenshot (desktop, 375 px and dark),
and what is done on them: a group renamed, grown, shrunk and left, with the other
member's browser following live; a message edited, reacted to, unreacted and deleted;
the dashboard's counts; contacts; settings; logging out and back in."""
import uuid

from selenium.webdriver.common.keys import Keys

from conftest import PASSWORD, bulk, retype
from fakegraph import FakeGraph
from igutil import connect, ig_env, post_webhook, text_event, wait_until


def dark(page):
    page.d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})


def test_group_admin_and_member_live(app, browser_factory):
    admin = app.signup("Ada Admin")
    member = app.signup("Max Member")
    extra = app.signup("Eve Extra")
    conv = bulk(app, admin["access_token"], [("POST", "/api/conversations", {
        "type": "group", "name": "Launch team", "participant_ids": [member["user"]["id"]]})])[0]["conversation"]
    bulk(app, member["access_token"], [("POST", f"/api/conversations/{conv['id']}/messages",
                                        {"text": "Morning all", "client_id": uuid.uuid4().hex})])
    a, m = browser_factory(), browser_factory(375, 740)
    a.login_token(admin)
    m.login_token(member)
    a.open(f"/c/{conv['id']}")
    m.open(f"/c/{conv['id']}")
    a.wait(lambda: "Morning all" in a.texts("[data-test=bubble]"), what="the group's message")
    assert "Max Member" in a.texts(".sender"), "sender names show in groups"

    a.find("[data-test=details]").click()
    panel = a.find("[data-test=group-panel]")
    assert "admin" in panel.text.lower()
    box = a.find("#group-rename")
    retype(box, "Launch crew" + Keys.ENTER)
    m.wait(lambda: m.find("[data-test=chat-title]").text == "Launch crew", what="the rename, live")

    add = [b for b in a.all("[data-test=group-panel] button") if b.text == "Add members"][0]
    add.click()
    a.find("[data-test=user-search]").send_keys("Eve Extra")
    a.find("[data-test=pick-user]").click()
    a.wait(lambda: len(a.all("[data-test=member]")) == 3, what="three members")
    m.wait(lambda: "3 members" in m.find(".chat-head").text, what="the new member, live")
    a.shot("group-panel")
    m.shot("chat-375")
    # At 375 px the name has the room (the header's Details is an icon there, still
    # called Details), and nothing in the header runs past its edge.
    m.chat_header_fits(375)
    details = m.find("[data-test=details]")
    assert details.accessible_name == "Details" and details.text == ""
    assert m.find("[data-test=details-icon]").is_displayed()

    remove = a.find("[data-test=group-panel] button[aria-label='Remove Eve Extra']")
    remove.click()
    a.wait(lambda: len(a.all("[data-test=member]")) == 2, what="two members")

    # The member leaves: the conversation goes from their inbox.
    m.find("[data-test=details]").click()
    m.js("window.confirm = () => true")
    [b for b in m.all("[data-test=group-panel] button") if b.text == "Leave group"][0].click()
    m.wait(lambda: "/inbox" in m.d.current_url, what="back in the inbox")
    m.wait(lambda: not m.all("[data-test=conv-row]"), what="the group gone")
    a.wait(lambda: len(a.all("[data-test=member]")) == 1, what="the admin alone")

    # A new group from the user search; it appears in the member's inbox live.
    a.find("[data-test=new-chat]").click()
    a.find("[data-test=group-mode]").click()
    a.find("#group-name").send_keys("Second team")
    a.find(".dialog [data-test=user-search]").send_keys("Max Member")
    a.find(".dialog [data-test=pick-user]").click()
    a.wait(lambda: "Max Member" in a.find(".dialog").text, what="Max picked")
    [b for b in a.all(".dialog button") if b.text == "Create group"][0].click()
    a.wait(lambda: a.find("[data-test=chat-title]").text == "Second team", what="the new group open")
    m.wait(lambda: any("Second team" in t for t in m.texts("[data-test=conv-row]")), what="the group in Max's inbox")
    assert not a.severe(), a.severe()
    assert not m.severe(), m.severe()


def test_message_edit_react_delete(app, browser_factory):
    me = app.signup("Edith Editor")
    peer = app.signup("Pat Peer")
    conv = bulk(app, me["access_token"], [("POST", "/api/conversations",
                                           {"type": "direct", "participant_id": peer["user"]["id"]})])[0]["conversation"]
    page = browser_factory()
    page.login_token(me)
    page.open(f"/c/{conv['id']}")
    box = page.find("[data-test=composer]")
    box.send_keys("Helo there" + Keys.ENTER)
    page.wait(lambda: page.all("[data-test=tick-sent]"), what="sent")
    msg = page.find("[data-test=msg][data-seq='1']")

    msg.find_element("css selector", "[data-test=edit]").click()
    edit = page.find("[data-test=msg][data-seq='1'] textarea")
    edit.send_keys(Keys.CONTROL, "a")
    edit.send_keys("Hello there" + Keys.ENTER)
    page.wait(lambda: page.texts("[data-test=bubble]") == ["Hello there"], what="the edit")
    page.find("[data-test=edited]")

    # Peer reacts by API: live update. I react and unreact in the page.
    bulk(app, peer["access_token"], [("POST", f"/api/messages/{first_id(app, me, conv)}/reactions", {"emoji": "🎉"})])
    page.wait(lambda: page.all(".reactions button"), what="the peer's reaction")
    page.find("[data-test=msg][data-seq='1'] [data-test=react]").click()
    page.find("[data-test=msg][data-seq='1'] button[aria-label='React 👍']").click()
    page.wait(lambda: any("👍 1" in t for t in page.texts(".reactions button")), what="my reaction")
    page.shot("chat-reactions")
    [b for b in page.all(".reactions button") if "👍" in b.text][0].click()
    page.wait(lambda: not any("👍" in t for t in page.texts(".reactions button")), what="unreacted")

    page.js("window.confirm = () => true")
    page.find("[data-test=msg][data-seq='1'] [data-test=delete]").click()
    page.wait(lambda: page.texts("[data-test=bubble]") == ["This message was deleted"], what="the deletion")
    st, body = app.api("GET", f"/api/conversations/{conv['id']}/messages", token=peer["access_token"])
    assert body["messages"][0]["deleted"] is True
    assert not page.severe(), page.severe()


def first_id(app, me, conv):
    st, body = app.api("GET", f"/api/conversations/{conv['id']}/messages", token=me["access_token"])
    return body["messages"][0]["id"]


def test_main_pages(app_factory, browser_factory):
    graph = FakeGraph()
    graph.start()
    try:
        app = app_factory(ig_env(graph))
        me = app.signup("Mia Manager")
        friends = [app.signup(n) for n in ("Noah Park", "Olivia Chen", "Liam Rossi")]
        calls = [("POST", "/api/conversations", {"type": "direct", "participant_id": f["user"]["id"]}) for f in friends]
        calls.append(("POST", "/api/conversations", {"type": "group", "name": "Design review",
                                                     "participant_ids": [f["user"]["id"] for f in friends]}))
        convs = [c["conversation"] for c in bulk(app, me["access_token"], calls)]
        for f, c in zip(friends, convs):
            bulk(app, f["access_token"], [("POST", f"/api/conversations/{c['id']}/messages",
                                           {"text": f"Hi Mia, it's {f['user']['name'].split()[0]}", "client_id": uuid.uuid4().hex})])
        for who, text in ((friends[1], "New mock-ups are up"), (friends[0], "The blue header reads better"),
                          (me, "Agreed, let's ship it on Friday")):
            bulk(app, who["access_token"], [("POST", f"/api/conversations/{convs[3]['id']}/messages",
                                             {"text": text, "client_id": uuid.uuid4().hex})])
        connect(app.server, me["access_token"])
        assert post_webhook(app.server, text_event("Do you have this in blue?", "mid.scr.1")).status == 200
        wait_until(lambda: app.api("GET", "/api/contacts", token=me["access_token"])[1]["contacts"], timeout=10)

        page = browser_factory(app=app)
        page.login_token(me)
        page.open("/dashboard")
        page.wait(lambda: page.find("[data-test=stat-unread] .num").text == "4", what="four unread (the group read up to my own message)")
        page.wait(lambda: page.find("[data-test=stat-contacts] .num").text == "1", what="one contact")
        page.wait(lambda: page.find("[data-test=stat-ig-open] .num").text == "1", what="one open window")
        page.shot("dashboard")
        page.open("/inbox")
        page.wait(lambda: len(page.all("[data-test=conv-row]")) == 5, what="five conversations")
        page.shot("inbox-full")
        [r for r in page.all("[data-test=conv-row]") if "Design review" in r.text][0].click()
        page.wait(lambda: len(page.all("[data-test=bubble]")) == 3, what="the group chat")
        page.shot("chat-group")
        # The README's picture: the inbox beside a group chat, at a small size.
        page.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 960, "height": 540, "deviceScaleFactor": 1, "mobile": False})
        page.shot("readme-inbox")
        page.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        page.open("/contacts")
        page.find("[data-test=contacts]")
        page.shot("contacts")
        page.open("/settings")
        page.find("[data-test=ig-connected]")
        assert page.find("[data-test=callback-url]").text.endswith("/api/webhook/instagram")
        page.shot("settings")
        page.open("/flows")
        page.wait(lambda: page.all(".flows"), what="the flow builder's chunk")
        page.shot("flows")
        dark(page)
        page.open("/inbox")
        page.wait(lambda: len(page.all("[data-test=conv-row]")) == 5, what="the inbox, dark")
        page.shot("inbox-dark")

        narrow = browser_factory(375, 740, app=app)
        narrow.login_token(me)
        narrow.open("/inbox")
        narrow.wait(lambda: len(narrow.all("[data-test=conv-row]")) == 5, what="the inbox at 375 px")
        assert narrow.js("return document.documentElement.scrollWidth") <= 375, "nothing overflows sideways"
        narrow.shot("inbox-375")
        # The navigation is a strip that scrolls sideways without a scrollbar: its links
        # fade out at the edge it can scroll towards (a fade that sticks to each edge).
        nav = narrow.find("nav.nav")
        assert narrow.js("return arguments[0].scrollWidth > arguments[0].clientWidth", nav), "the strip scrolls"
        for edge in ("::before", "::after"):
            assert narrow.js("return getComputedStyle(arguments[0], arguments[1]).position", nav, edge) == "sticky", edge
        narrow.js("arguments[0].scrollLeft = arguments[0].scrollWidth", nav)
        narrow.wait(lambda: narrow.js("const n = arguments[0]; return n.scrollLeft + n.clientWidth >= n.scrollWidth - 1", nav),
                    what="the strip scrolled to its end")
        narrow.shot("inbox-375-nav-end")
        dark(narrow)
        narrow.js("arguments[0].scrollLeft = 0", nav)
        narrow.shot("inbox-375-dark")

        # Log out, and back in with the form.
        page.open("/settings")
        page.find("[data-test=logout]").click()
        page.wait(lambda: "/login" in page.d.current_url or page.all("#auth-email"), what="the login page")
        page.shot("login")
        page.login_ui(me["user"]["email"], PASSWORD)
        page.wait(lambda: page.all("[data-test=conv-row]"), what="the inbox again")
        assert not page.severe(), page.severe()
    finally:
        graph.stop()


def test_dashboard_unread_beyond_the_loaded_pages(app, browser_factory):
    """The API gives unread counts per conversation, not a total: while pages of the list
    are unloaded the dashboard says its count is a lower bound, and exact once all are."""
    me = app.signup("Paged Person")
    peer = app.signup("Old Friend")
    old = bulk(app, me["access_token"], [("POST", "/api/conversations", {
        "type": "group", "name": "Old thread", "participant_ids": [peer["user"]["id"]]})])[0]["conversation"]
    bulk(app, peer["access_token"], [("POST", f"/api/conversations/{old['id']}/messages",
                                      {"text": f"old {i}", "client_id": uuid.uuid4().hex}) for i in range(2)])
    newer = bulk(app, me["access_token"], [("POST", "/api/conversations", {
        "type": "group", "name": f"Newer {i:02d}", "participant_ids": [peer["user"]["id"]]}) for i in range(55)])
    bulk(app, peer["access_token"], [("POST", f"/api/conversations/{newer[-1]['conversation']['id']}/messages",
                                      {"text": "fresh", "client_id": uuid.uuid4().hex})])
    page = browser_factory()
    page.login_token(me)
    page.open("/dashboard")
    page.wait(lambda: page.find("[data-test=stat-unread] .num").text == "1+", what="a lower bound of one")
    assert "50 most recent" in page.find("[data-test=stat-unread] [data-test=stat-note]").text
    page.shot("dashboard-unread-partial")
    page.open("/inbox")
    page.wait(lambda: page.all("[data-test=conv-row]"), what="the inbox")
    bottom = "const l = document.querySelector('[data-test=vlist]'); l.scrollTop = l.scrollHeight;"
    page.wait(lambda: page.js(bottom) or page.all("[data-test=conv-row][aria-label^='Old thread']"),
              what="the oldest page")
    page.find("nav a[href='/dashboard']").click()
    page.wait(lambda: page.find("[data-test=stat-unread] .num").text == "3", what="all three unread")
    assert not page.all("[data-test=stat-unread] [data-test=stat-note]")
