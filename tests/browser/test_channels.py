"""Channels in the web client: an admin creates a public and a private channel from the
Channels page, posts, makes an invite link; a reader browses public channels and
joins one, sees the read-only composer and the posts arriving live, opens the member
list (paged: 60 members, 50 a page) and leaves; another joins the private one by its
link, and a revoked link says so. Screenshots: channels-browse, channel-admin,
channel-reader, channel-members, channel-join-revoked."""
import uuid

from conftest import bulk


def test_channel_screens(app, browser_factory):
    admin = app.signup("Nora News")
    reader = app.signup("Rita Reader")
    guest = app.signup("Gus Guest")
    tag = uuid.uuid4().hex[:6]

    # The admin creates a public channel from the Channels page and posts in it.
    a = browser_factory()
    a.login_token(admin)
    a.open("/channels")
    a.find("[data-test=channels-page]")
    a.find("[data-test=new-channel-button]").click()
    a.find("#channel-name").send_keys(f"Release notes {tag}")
    a.find("[data-test=channel-public]").click()
    a.find("[data-test=create-channel]").click()
    a.wait(lambda: "/c/" in a.d.current_url, what="the new channel opened")
    assert a.find("[data-test=chat-title]").text == f"Release notes {tag}"
    assert a.find("[data-test=member-count]").text == "1 member"
    a.find("[data-test=composer]").send_keys("Version 2.0 is out.\n")
    a.wait(lambda: any("Version 2.0 is out." in t for t in a.texts("[data-test=messages]")), what="the post")
    cid = a.d.current_url.rsplit("/c/", 1)[1]

    # 60 members (by id, as an admin may add them), so the member list pages.
    extra = [app.signup(f"Member {i:02d}") for i in range(58)]
    bulk(app, admin["access_token"],
         [("POST", f"/api/conversations/{cid}/members", {"user_ids": [u["user"]["id"] for u in extra]})])

    # The reader browses public channels and joins it.
    r = browser_factory()
    r.login_token(reader)
    r.open("/channels")
    r.wait(lambda: any(f"Release notes {tag}" in t for t in r.texts("[data-test=channel]")), what="the channel listed")
    r.shot("channels-browse")
    row = [e for e in r.all("[data-test=channel]") if f"Release notes {tag}" in e.text][0]
    row.find_element("css selector", "[data-test=join-channel]").click()
    r.wait(lambda: f"/c/{cid}" in r.d.current_url, what="joined and opened")
    r.find("[data-test=read-only]")
    assert not r.all("[data-test=composer]"), "a member gets no composer"
    r.wait(lambda: any("Version 2.0 is out." in t for t in r.texts("[data-test=messages]")), what="history")
    r.wait(lambda: r.find("[data-test=member-count]").text == "60 members", what="60 members")

    # A new post reaches the reader live.
    a.find("[data-test=composer]").send_keys("Patch 2.0.1 fixes the login loop.\n")
    r.wait(lambda: any("Patch 2.0.1" in t for t in r.texts("[data-test=messages]")), what="the live post")
    r.shot("channel-reader")

    # The member list: one page of 50, then the rest.
    r.find("[data-test=details]").click()
    r.wait(lambda: len(r.all("[data-test=channel-members] [data-test=member]")) == 50, what="the first page")
    r.find("[data-test=more-members]").click()
    r.wait(lambda: len(r.all("[data-test=channel-members] [data-test=member]")) == 60, what="the second page")
    assert not r.all("[data-test=more-members]")
    assert not r.all("[data-test=toggle-role]"), "a member cannot change roles"
    r.shot("channel-members")

    # The admin makes the channel's invite link; the guest opens it and joins.
    a.find("[data-test=details]").click()
    a.find("[data-test=make-invite]").click()
    link = a.wait(lambda: a.find("[data-test=invite-link]").get_attribute("value"), what="the link")
    assert "/join/" in link
    a.wait(lambda: any("Rita Reader" in t for t in a.texts("[data-test=channel-members] [data-test=member]")),
           what="the reader among the members")
    a.shot("channel-admin")
    # Promoted from the panel, the reader gets a composer live; demoted, loses it.
    rita = [e for e in a.all("[data-test=channel-members] [data-test=member]") if "Rita Reader" in e.text][0]
    rita.find_element("css selector", "[data-test=toggle-role]").click()
    r.find("[data-test=composer]")
    rita = [e for e in a.all("[data-test=channel-members] [data-test=member]") if "Rita Reader" in e.text][0]
    assert "ADMIN" in rita.text.upper()
    rita.find_element("css selector", "[data-test=toggle-role]").click()
    r.find("[data-test=read-only]")
    g = browser_factory()
    g.login_token(guest)
    g.open(link.split(app.url, 1)[1])
    g.wait(lambda: f"/c/{cid}" in g.d.current_url, what="joined by link")
    g.find("[data-test=read-only]")

    # The reader leaves: the channel goes from the inbox.
    r.d.execute_script("window.confirm = () => true")
    r.find("[data-test=leave-channel]").click()
    r.wait(lambda: r.d.current_url.endswith("/inbox"), what="back in the inbox")
    status, body = app.api("GET", f"/api/conversations/{cid}", token=reader["access_token"])
    assert status == 404

    # A revoked link says so.
    a.find("[data-test=revoke-invite]").click()
    a.find("[data-test=make-invite]")
    r.open(link.split(app.url, 1)[1])
    assert "does not work" in r.find("[data-test=join-error]").text
    r.shot("channel-join-revoked")

    # The revoked link's 404 is the answer the page shows; nothing else went wrong.
    for p in (a, r, g):
        errors = [e for e in p.severe() if "/api/channels/join" not in e["message"] or p is not r]
        assert not errors, errors
