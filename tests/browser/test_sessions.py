"""Settings lists the devices logged in (issue 17, item 7): this one marked, the
others named by device; ending one signs that browser out (socket closed with
4003, back to the login screen), and "sign out all other devices" ends the rest
while this page stays in."""
from conftest import PASSWORD


def wait_in(page):
    page.wait(lambda: "/inbox" in page.d.current_url, what="the inbox")
    page.wait(lambda: page.texts(".me") and page.texts(".me")[0]
              and not page.all("[data-test=conn-banner]"), what="the socket open")


def sessions_rows(page):
    return page.all("[data-test=session]")


def test_devices_screen_ends_one_and_all_others(app, browser_factory):
    s = app.signup("Device Owner")
    email = s["user"]["email"]
    st, phone = app.api("POST", "/api/auth/login",
                        {"email": email, "password": PASSWORD, "device_name": "Owner's phone"})
    assert st == 200
    for name in ("Work laptop", "Tablet"):
        assert app.api("POST", "/api/auth/login",
                       {"email": email, "password": PASSWORD, "device_name": name})[0] == 200
    page, other = browser_factory(), browser_factory()
    other.login_token(phone)
    other.open("/inbox")
    wait_in(other)
    page.login_ui(email)
    page.open("/settings")
    page.wait(lambda: len(sessions_rows(page)) == 5, what="five logins listed")
    rows = sessions_rows(page)
    # This browser's login first, marked, without an End button.
    assert rows[0].get_attribute("data-current") == "true"
    assert "this device" in rows[0].text.lower() and "Chrome on Linux" in rows[0].text
    assert not rows[0].find_elements("css selector", "[data-test=end-session]")
    assert any("Owner's phone" in r.text for r in rows)
    assert all("127.0.0.1" in r.text for r in rows)
    page.find("[data-test=sessions]")
    page.js("arguments[0].scrollIntoView()", page.find("[data-test=sessions]"))
    page.shot("settings_devices")

    # End the phone's login: the other browser is signed out.
    phone_row = next(r for r in sessions_rows(page) if "Owner's phone" in r.text)
    phone_row.find_element("css selector", "[data-test=end-session]").click()
    page.wait(lambda: len(sessions_rows(page)) == 4 and not any(
        "Owner's phone" in r.text for r in sessions_rows(page)), what="the phone gone")
    other.wait(lambda: "/login" in other.d.current_url, what="the other browser signed out")
    assert "session has ended" in other.find("p.notice").text

    # All others: only this one stays, and this page is still in.
    page.js("window.confirm = () => true")
    page.find("[data-test=end-others]").click()
    page.wait(lambda: len(sessions_rows(page)) == 1, what="only this device left")
    assert "Signed out 3 devices." in page.find("[data-test=sessions-note]").text
    assert not page.all("[data-test=end-others]")
    page.shot("settings_devices_after")
    page.open("/inbox")
    wait_in(page)
    assert not page.severe() and not other.severe(), page.severe() + other.severe()
