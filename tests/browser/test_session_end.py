"""A login ended elsewhere (logout from another device with this login's refresh
token) or an account deleted from another login closes the open page's socket
with 4003, and the web client returns to the login screen saying so; a second
login of the same user in another browser stays (issue 14, item 5)."""
import json

from conftest import PASSWORD


def wait_connected(page):
    """The inbox with its socket open (no connection banner, the user known)."""
    page.wait(lambda: "/inbox" in page.d.current_url, what="the inbox")
    page.wait(lambda: page.texts(".me") and page.texts(".me")[0]
              and not page.all("[data-test=conn-banner]"), what="the socket open")


def test_ended_login_returns_to_the_login_screen(app, browser_factory):
    s = app.signup("Ended Login")
    st, second = app.api("POST", "/api/auth/login", {"email": s["user"]["email"], "password": PASSWORD})
    assert st == 200
    page, other = browser_factory(), browser_factory()
    page.login_token(s)
    page.open("/inbox")
    other.login_token(second)
    other.open("/inbox")
    wait_connected(page)
    wait_connected(other)
    stored = json.loads(page.js("return localStorage.getItem('parley.session')"))
    st, _ = app.api("POST", "/api/auth/logout", {"refresh_token": stored["refresh_token"]})
    assert st == 204
    page.wait(lambda: "/login" in page.d.current_url, what="the login screen")
    notice = page.find("p.notice")
    assert "session has ended" in notice.text
    assert page.js("return localStorage.getItem('parley.session')") is None
    page.shot("session_ended_login")
    # The other login of the same user is still in.
    assert "/inbox" in other.d.current_url
    # Deleting the account from a third login ends that one too.
    st, third = app.api("POST", "/api/auth/login", {"email": s["user"]["email"], "password": PASSWORD})
    assert st == 200
    st, _ = app.api("DELETE", "/api/user", token=third["access_token"])
    assert st == 204
    other.wait(lambda: "/login" in other.d.current_url, what="the login screen after deletion")
    assert "session has ended" in other.find("p.notice").text
    assert not page.severe() and not other.severe(), page.severe() + other.severe()
