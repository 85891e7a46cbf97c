"""Web Push in the browser (API.md, Push): Settings shows the "Enable notifications"
toggle; turning it on registers the service worker (/sw.js, scope /), asks for the
notifications permission and asks the browser's push service for a subscription. This
machine cannot reach a browser's push service (Google's, for Chromium), so that step
fails here (the browser waits for an answer that never comes: the client gives up
after 10 s, which is this test's time): the test checks that the worker is registered and active, that the failure
is said and the toggle goes back off, and that the server holds no subscription for it.
The server's side of pushes is tested in tests/integration/test_push.py.

What the service worker does with a push is tested here too: Chromium's DevTools
protocol hands it a push message (ServiceWorker.deliverPushMessage), as a push service
would, and the page reads the notifications it shows. The worker's logic alone is
tested in web/src/test/sw_push.test.js."""
import json
import time

from selenium.common.exceptions import WebDriverException


def logged_in_with_notifications(app, browser_factory, name, path):
    """A browser logged in as a new user, notifications allowed, on `path`."""
    s = app.signup(name)
    page = browser_factory()
    page.login_token(s)
    page.d.execute_cdp_cmd("Browser.grantPermissions",
                           {"origin": app.url, "permissions": ["notifications"]})
    page.open(path)
    return s, page


def test_notifications_toggle_registers_the_worker_and_reports_the_push_service(app, browser_factory):
    s, page = logged_in_with_notifications(app, browser_factory, "Pia Push", "/settings")
    toggle = page.find("[data-test=push-toggle]")
    assert not toggle.is_selected()
    assert not page.find("[data-test=push-preview]").is_enabled()  # only with notifications on
    page.shot("push-settings-off")

    toggle.click()
    page.wait(lambda: page.all("[data-test=push-error]") or
              "on for this browser" in page.find("[data-test=push-note]").text,
              timeout=25, what="the subscription's outcome")
    page.js("document.querySelector('[data-test=push-settings]').scrollIntoView()")
    page.shot("push-settings-after-toggle")
    reg = page.d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.serviceWorker.getRegistration('/').then((r) => done(r ? {"
        " scope: r.scope, active: !!r.active,"
        " script: (r.active || r.waiting || r.installing).scriptURL} : null));")
    assert reg and reg["active"], reg
    assert reg["script"] == app.url + "/sw.js" and reg["scope"] == app.url + "/", reg

    st, body = app.api("GET", "/api/push/subscriptions", token=s["access_token"])
    assert st == 200
    if page.all("[data-test=push-error]"):
        # No push service here: nothing was subscribed, the toggle is off again.
        assert "push service" in page.find("[data-test=push-error]").text
        assert not page.find("[data-test=push-toggle]").is_selected()
        assert body["subscriptions"] == []
    else:
        # A push service answered: the server holds the browser's subscription.
        assert page.find("[data-test=push-toggle]").is_selected()
        assert len(body["subscriptions"]) == 1
        assert body["subscriptions"][0]["endpoint"].startswith("https://")
    assert not [e for e in page.severe() if "sw.js" in e["message"]], page.severe()


def deliver_push(page, payload):
    """A push message for the page's service worker, as from a push service. The worker's
    registration id is the profile's count of registrations: 0 for a new profile's first,
    tried upwards."""
    last = None
    for rid in range(4):
        try:
            page.d.execute_cdp_cmd("ServiceWorker.deliverPushMessage",
                                   {"origin": page.app.url, "registrationId": str(rid),
                                    "data": json.dumps(payload)})
            return
        except WebDriverException as e:  # DevTools refused it: not this id
            last = e
    raise AssertionError(f"no registration took the push: {last}")


def notifications(page):
    return page.d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.serviceWorker.ready.then((r) => r.getNotifications())"
        ".then((ns) => done(ns.map((n) => ({tag: n.tag, title: n.title, body: n.body, data: n.data}))))")


def test_a_late_push_for_an_older_message_leaves_the_newer_shown(app, browser_factory):
    _, page = logged_in_with_notifications(app, browser_factory, "Pia Order", "/inbox")
    assert page.d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.serviceWorker.register('/sw.js').then(() => navigator.serviceWorker.ready)"
        ".then(() => done(true), (e) => done(String(e)))") is True
    app_tab = page.d.current_window_handle
    # Pushes are delivered while another tab has the focus: the app's window is in the
    # background, so the worker shows notifications instead of leaving the message to
    # the page. Reading them means going back to the app's tab, which takes the focus:
    # a push the worker had not yet looked at is then left to the page (not shown), so
    # the pushes go again until what they lead to is seen.
    page.d.switch_to.new_window("tab")
    page.d.get("about:blank")
    other = page.d.current_window_handle
    page.d.execute_cdp_cmd("ServiceWorker.enable", {})

    def message(seq, text, cid="c-order", sender="Ann", title="Launch crew"):
        return {"type": "message", "conversation_id": cid, "conversation_type": "group", "title": title,
                "message_id": f"m{seq}", "seq": seq, "sender_name": sender, "mention": False, "text": text}

    def push_until(payloads, seen, what):
        for attempt in range(1, 20):
            page.d.switch_to.window(other)
            for p in payloads:
                deliver_push(page, p)
            time.sleep(0.1 * attempt)
            page.d.switch_to.window(app_tab)
            shown = {n["tag"]: (n["body"], (n["data"] or {}).get("seq")) for n in notifications(page)}
            if seen(shown):
                return shown
        raise AssertionError(f"never shown: {what} ({shown})")

    push_until([message(7, "seven")], lambda n: n.get("c-order", ("",))[0] == "Ann: seven", "the first push")
    # The push for message 6, stored through another instance, comes after 7's; then a
    # push of another conversation, which the worker handles after 6's.
    shown = push_until([message(6, "six"), message(1, "mark", cid="c-mark", sender="Ben", title="Ben")],
                       lambda n: "c-mark" in n, "the push after it")
    assert shown["c-order"] == ("Ann: seven", 7), "the newer message stays shown"
    shown = push_until([message(8, "eight")], lambda n: n.get("c-order") == ("Ann: eight", 8), "a newer push")
    assert len(shown) == 2, "one notification a conversation"
