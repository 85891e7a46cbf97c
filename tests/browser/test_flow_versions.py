"""Issue 19's screens in a real browser: the flow builder's versions (the live
one, restoring an earlier one into the draft, publishing) and analytics (runs
by version, runs per day, each step's numbers on the canvas); and "Continue
with Instagram" from the settings screen through the fake Instagram Login and
back to the app, connected. Screenshots in tests/browser/screenshots/."""
import os
import socket
import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from flowutil import (SHOTS, WEB_DIST, _integration_server_class, browser, csp_violations, ig_env,
                      login_ui, post_webhook, start_web_server, text_event, wait_until)
from fakegraph import FakeGraph
from igutil import connect

PASSWORD = "correct horse battery"

FLOW = {
    "name": "mugs", "status": "active", "trigger": {"type": "any_message"}, "start": "c",
    "nodes": [
        {"id": "c", "type": "condition", "data": {"kind": "keyword", "keyword": "mug"},
         "position": {"x": 0, "y": 0}},
        {"id": "yes", "type": "message", "data": {"text": "Mugs are 12 euros"}, "position": {"x": 320, "y": -90}},
        {"id": "no", "type": "message", "data": {"text": "Ask me about mugs"}, "position": {"x": 320, "y": 90}},
    ],
    "edges": [{"from": "c", "to": "yes", "label": "true"}, {"from": "c", "to": "no", "label": "false"}],
}


def css(d, sel):
    return d.find_element(By.CSS_SELECTOR, sel)


def wait_css(d, sel, timeout=15):
    return WebDriverWait(d, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, sel)))


def wait_text(d, sel, text, timeout=15):
    WebDriverWait(d, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, sel), text))
    return css(d, sel)


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, name))


def signup(srv, email):
    r = srv.request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "Flo"})
    assert r.status == 201, r
    return r.json()["access_token"]


def test_versions_and_analytics_in_the_builder():
    fake = FakeGraph().start()
    srv = start_web_server(env=ig_env(fake))
    d = browser(1600, 1000)
    try:
        email = f"versions-{uuid.uuid4().hex[:8]}@example.com"
        tok = signup(srv, email)
        connect(srv, tok)
        fid = srv.request("POST", "/api/flows", FLOW, token=tok).json()["flow"]["id"]
        for i, text in enumerate(["a mug please", "hello", "mug?"]):
            assert post_webhook(srv, text_event(text, f"mid-bv-{i}")).status == 200
            assert wait_until(lambda: len([r for r in srv.request("GET", f"/api/flows/{fid}/runs", token=tok)
                                           .json()["runs"] if r["status"] == "completed"]) == i + 1)
        v2 = dict(FLOW, nodes=[dict(n) for n in FLOW["nodes"]])
        v2["nodes"][1] = dict(v2["nodes"][1], data={"text": "Mugs are 15 euros now"})
        assert srv.request("PUT", f"/api/flows/{fid}", v2, token=tok).json()["flow"]["version"] == 2

        login_ui(d, srv.base_url, email, PASSWORD)
        d.get(f"{srv.base_url}/flows/{fid}")
        wait_css(d, '.react-flow__node[data-id="yes"]')
        versions = wait_css(d, "[data-test=flow-versions]")
        wait_text(d, "[data-test=flow-versions]", "Version 2 is live")
        assert [li.get_attribute("data-version") for li in versions.find_elements(By.CSS_SELECTOR, "li")] == ["2", "1"]
        assert "live" in css(d, '.flow-version[data-version="2"]').text.lower()
        # All versions: three runs, two to "yes".
        wait_text(d, "[data-test=stat-started]", "3")
        assert css(d, "[data-test=stat-completed]").text == "3"
        assert "3 in all" in css(d, "[data-test=flow-stats-chart]").get_attribute("aria-label")
        css(d, "[data-test=flow-stats-canvas]").click()
        # One contact wrote all three: reached counts contacts, the runs beside.
        wait_text(d, '.react-flow__node[data-id="yes"] .flow-node__stats', "1 reached (2 runs) · 2 sent")
        assert css(d, '.react-flow__node[data-id="c"] .flow-node__stats').text == "1 reached (3 runs)"
        assert css(d, '.react-flow__node[data-id="no"] .flow-node__stats').text == "1 reached · 1 sent"
        css(d, "[data-test=flow-stats]").location_once_scrolled_into_view
        shot(d, "flow_versions_stats.png")
        # Version 2 alone has no runs yet.
        Select(css(d, "[data-test=flow-stats-version]")).select_by_value("2")
        wait_text(d, "[data-test=stat-started]", "0")
        wait_text(d, '.react-flow__node[data-id="c"] .flow-node__stats', "0 reached")

        # Restore version 1 into the draft: the canvas shows its text; v2 stays live.
        css(d, '.flow-version[data-version="1"] button').click()
        wait_text(d, ".flows-editor__notice", "Version 1 restored")
        wait_text(d, '.react-flow__node[data-id="yes"]', "Mugs are 12 euros")
        wait_text(d, "[data-test=flow-versions]", "Version 2 is live")
        live = srv.request("GET", f"/api/flows/{fid}/versions/2", token=tok).json()["version"]
        assert live["nodes"][1]["data"]["text"] == "Mugs are 15 euros now"
        css(d, "[data-test=flow-publish]").click()
        wait_text(d, ".flows-editor__notice", "version 3 is live")
        wait_css(d, '.flow-version[data-version="3"].is-live')
        assert srv.request("GET", f"/api/flows/{fid}", token=tok).json()["flow"]["version"] == 3
        css(d, "[data-test=flow-versions]").location_once_scrolled_into_view
        shot(d, "flow_versions_restored.png")
        assert csp_violations(d) == []
    finally:
        d.quit()
        srv.stop()
        fake.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_continue_with_instagram_from_settings():
    fake = FakeGraph().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(ig_env(fake), PARLEY_WEB_DIR=WEB_DIST, PARLEY_IG_APP_ID="990001",
               PARLEY_IG_OAUTH_AUTHORIZE_URL=fake.base_url + "/oauth/authorize",
               PARLEY_IG_OAUTH_TOKEN_URL=fake.base_url + "/oauth/access_token",
               PARLEY_IG_OAUTH_LONG_LIVED_URL=fake.base_url + "/access_token",
               PARLEY_PUBLIC_URL=base)
    srv = _integration_server_class()(env=env, port=port).start()
    d = browser(1280, 900)
    try:
        email = f"oauth-{uuid.uuid4().hex[:8]}@example.com"
        signup(srv, email)
        login_ui(d, base, email, PASSWORD)
        d.get(base + "/settings")
        button = wait_css(d, "[data-test=ig-oauth]")
        assert button.text == "Continue with Instagram"
        css(d, "#ig-token")  # the token form stays
        shot(d, "instagram_continue.png")
        button.click()
        # Instagram (the fake) agrees at once and sends the browser back.
        wait_css(d, "[data-test=ig-connect-done]", timeout=20)
        assert "@parley_shop" in css(d, "[data-test=ig-connect-done]").text
        assert "code=" not in d.current_url
        shot(d, "instagram_connected.png")
        assert fake.subscriptions and fake.subscriptions[0][0] == "IGQ-test-17841400000000001"
        d.get(base + "/settings")
        wait_text(d, "[data-test=ig-connected]", "@parley_shop")
        # A redirect this tab did not start is refused before the server is asked.
        d.get(base + "/instagram/connect?code=stolen&state=someone-elses")
        wait_text(d, "[data-test=ig-connect-error]", "not started here")
        assert len([r for r in fake.requests if r["path"] == "/oauth/access_token"]) == 1
        assert csp_violations(d) == []
    finally:
        d.quit()
        srv.stop()
        fake.stop()


def test_continue_with_instagram_not_configured():
    fake = FakeGraph().start()
    srv = start_web_server(env=ig_env(fake))
    d = browser(1280, 900)
    try:
        email = f"oauth-{uuid.uuid4().hex[:8]}@example.com"
        signup(srv, email)
        login_ui(d, srv.base_url, email, PASSWORD)
        d.get(srv.base_url + "/settings")
        wait_css(d, "[data-test=ig-oauth]").click()
        wait_text(d, "[data-test=ig-oauth-error]", "not configured")
    finally:
        d.quit()
        srv.stop()
        fake.stop()
