"""Web Push in the browser (API.md, Push): Settings shows the "Enable notifications"
toggle; turning it on registers the service worker (/sw.js, scope /), asks for the
notifications permission and asks the browser's push service for a subscription. This
machine cannot reach a browser's push service (Google's, for Chromium), so that step
fails here (the browser waits for an answer that never comes: the client gives up
after 10 s, which is this test's time): the test checks that the worker is registered and active, that the failure
is said and the toggle goes back off, and that the server holds no subscription for it.
The server's side of pushes is tested in tests/integration/test_push.py."""


def test_notifications_toggle_registers_the_worker_and_reports_the_push_service(app, browser_factory):
    s = app.signup("Pia Push")
    page = browser_factory()
    page.login_token(s)
    page.d.execute_cdp_cmd("Browser.grantPermissions",
                           {"origin": app.url, "permissions": ["notifications"]})
    page.open("/settings")
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
