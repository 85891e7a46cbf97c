"""Replies, mentions and mute in the web client (issue 17, item 3): quoting a message
from its Reply button, @-mention autocomplete in the composer, the quoted preview and
highlighted mentions on messages (the preview outlives the quoted message's deletion),
the mention badge in the inbox, and muting from the conversation menu with its icon."""
from selenium.webdriver.common.keys import Keys


def test_reply_mention_and_mute(app, browser_factory):
    a = app.server.signup(name="Ann Reply")
    b = app.server.signup(name="Ben Reply")
    c = app.server.signup(name="Cat Reply")
    st, body = app.api("POST", "/api/conversations",
                       {"type": "group", "name": "Report crew",
                        "participant_ids": [b["user"]["id"], c["user"]["id"]]}, token=a["access_token"])
    assert st == 201
    gid = body["conversation"]["id"]
    st, q = app.api("POST", f"/api/conversations/{gid}/messages", {"text": "Who has the report?"},
                    token=b["access_token"])
    assert st == 201
    quoted = q["message"]

    ann = browser_factory()
    ann.login_token(a)
    ann.open(f"/c/{gid}")
    msg = ann.find("[data-test=msg]")
    ann.wait(lambda: "Who has the report?" in msg.text, what="Ben's message")
    msg.find_element("css selector", "[data-test=reply]").click()
    bar = ann.find("[data-test=reply-bar]")
    assert "Replying to Ben Reply" in bar.text and "Who has the report?" in bar.text
    box = ann.find("[data-test=composer]")
    box.send_keys("@Be")
    ann.wait(lambda: ann.texts("[data-test=mention-option]") == ["@Ben Reply"], what="mention suggestions")
    ann.shot("replies-composer")
    box.send_keys(Keys.ENTER)  # picks the suggestion
    ann.wait(lambda: box.get_attribute("value") == "@Ben Reply ", what="the mention in the box")
    box.send_keys("here it is")
    box.send_keys(Keys.ENTER)
    ann.wait(lambda: len(ann.all("[data-test=msg].own [data-test=quote]")) == 1, what="the quote on the reply")
    ann.wait(lambda: ann.all("[data-test=msg].own [data-test^=tick-sent], [data-test=msg].own [data-test^=tick-d]"),
             what="the reply stored")
    own = ann.all("[data-test=msg].own")[-1]
    assert "Ben Reply" in own.find_element("css selector", "[data-test=quote]").text
    assert own.find_element("css selector", "[data-test=mention]").text == "@Ben Reply"
    assert not ann.all("[data-test=reply-bar]")

    # Stored as sent: a reply with a preview, a mention counted for Ben only.
    st, page = app.api("GET", f"/api/conversations/{gid}/messages", token=b["access_token"])
    reply = page["messages"][-1]
    assert reply["reply_to"]["id"] == quoted["id"] and reply["mentions"] == [b["user"]["id"]]
    assert app.api("GET", f"/api/conversations/{gid}", token=b["access_token"])[1]["conversation"]["mention_count"] == 1

    # Ben's inbox shows the mention badge; his copy highlights the mention of him.
    ben = browser_factory()
    ben.login_token(b)
    ben.open("/inbox")
    row = ben.find("[data-test=conv-row]")
    ben.wait(lambda: ben.all("[data-test=mention-badge]"), what="mention badge")
    assert "mentioning you" in row.get_attribute("aria-label")
    ben.shot("replies-inbox-mention")
    row.click()
    ben.wait(lambda: ben.all("[data-test=msg].mentions-me .mention.me"), what="highlighted mention")
    ben.wait(lambda: not ben.all("[data-test=mention-badge]"), what="reading clears the badge")
    ben.wait(lambda: app.api("GET", f"/api/conversations/{gid}", token=b["access_token"])[1]
             ["conversation"]["mention_count"] == 0, what="mention_count reset on the server")

    # Mute from the conversation menu: the icon, here and in the inbox; and back.
    ben.find("[data-test=conv-menu]").click()
    ben.find("[data-test=mute-option]").click()
    ben.wait(lambda: ben.all("[data-test=muted-state]"), what="muted state")
    ben.wait(lambda: ben.all("[data-test=muted-icon]"), what="muted icon in the inbox")
    conv = app.api("GET", f"/api/conversations/{gid}", token=b["access_token"])[1]["conversation"]
    assert conv["muted_until"] is not None
    ben.shot("replies-muted")
    ben.find("[data-test=conv-menu]").click()
    ben.find("[data-test=unmute]").click()
    ben.wait(lambda: not ben.all("[data-test=muted-state]"), what="unmuted")

    # The quoted message is deleted: the reply's preview still reads as it was sent.
    assert app.api("DELETE", f"/api/messages/{quoted['id']}", token=b["access_token"])[0] == 204
    ann.d.refresh()
    ann.wait(lambda: any("Who has the report?" in q.text for q in ann.all("[data-test=quote]")),
             what="the preview after the deletion")
    ann.wait(lambda: "This message was deleted" in ann.find("[data-test=msg]").text, what="the original deleted")
    ann.shot("replies-after-delete")
    assert not ann.severe(), ann.severe()
    assert not ben.severe(), ben.severe()
