"""Instagram media in the inbox (issue 18, point 6): a customer's photo shows inline,
a story mention as a card with its picture and a link, both from Parley's storage once
fetched (the fake Graph API serves the bytes); the composer's attach button is there in
an Instagram conversation."""
import os
import time

from fakegraph import FakeGraph
from igutil import connect, fixture_json, ig_env, post_webhook, text_event, wait_until

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "images")
ACCOUNT = "17841400000000001"


def media_event(mid, attachments):
    ev = fixture_json("message_attachment.json")
    item = ev["entry"][0]["messaging"][0]
    item["message"]["mid"] = mid
    item["timestamp"] = int(time.time() * 1000)  # the reply window is open
    item["message"]["attachments"] = [{"type": t, "payload": {"url": u}} for t, u in attachments]
    return ev


def test_customer_media_inline_and_story_card(app_factory, browser_factory):
    graph = FakeGraph().start()
    try:
        with open(os.path.join(IMAGES, "gps.jpg"), "rb") as f:
            jpg = f.read()
        graph.media["/media/photo.jpg"] = jpg
        graph.media["/media/story.jpg"] = jpg
        env = ig_env(graph)
        env["PARLEY_MEDIA_FETCH_ALLOW"] = f"127.0.0.1:{graph.port}"
        app = app_factory(env)
        me = app.signup("Ivy Agent")
        tok = me["access_token"]
        connect(app.server, tok)
        assert post_webhook(app.server, text_event("Here is the mug I mean", "mid.bm.1")).status == 200
        ev = media_event("mid.bm.2", [("image", graph.media_url("/media/photo.jpg")),
                                      ("story_mention", graph.media_url("/media/story.jpg"))])
        assert post_webhook(app.server, ev).status == 200
        conv = wait_until(lambda: app.api("GET", "/api/messages/instagram", token=tok)[1]["conversations"])[0]

        def stored():
            msgs = app.api("GET", f"/api/messages/instagram/{conv['id']}", token=tok)[1]["messages"]
            return [m for m in msgs if m.get("external_id") == "mid.bm.2" and
                    all(a["url"].startswith("/api/attachments/") for a in m["attachments"])]
        assert wait_until(stored)

        page = browser_factory(app=app)
        page.login_token(me)
        page.open(f"/c/{conv['id']}")
        img = page.find("[data-test=att-image] img")
        page.wait(lambda: img.get_attribute("src").split("/api/")[-1].startswith("attachments/")
                  and page.js("return arguments[0].naturalWidth", img) > 0,
                  what="the photo shown from Parley's storage")
        card = page.find("[data-test=att-story_mention]")
        assert "Mentioned you in their story" in card.text
        page.wait(lambda: page.js("return arguments[0].querySelector('img').naturalWidth", card) > 0,
                  what="the story's picture")
        page.shot("instagram_media")
        assert page.find("[data-test=attach]").is_displayed()
    finally:
        graph.stop()
