"""Issue 19's blocks in the flow builder, in a real browser: a flow with every
new block drawn on the canvas (quick replies, buttons, media, ask and save
with its three outputs, a randomizer's branches, a time condition, handover),
their editors, the new trigger types and the flow's settings, saved back
through the API unchanged. Screenshots in tests/browser/screenshots/."""
import os
import uuid

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import retype  # the runs list polled every 5 s, a new step measured: renders between clear() and keys
from flowutil import SHOTS, browser, csp_violations, ig_env, login_ui, start_web_server
from fakegraph import FakeGraph

PASSWORD = "correct horse battery"

FLOW = {
    "name": "every block", "status": "draft",
    "trigger": {"type": "postback", "payloads": ["MUGS"]},
    "settings": {"priority": 3},
    "start": "m",
    "nodes": [
        {"id": "m", "type": "message", "position": {"x": 0, "y": 0}, "data": {
            "text": "Which mug?", "media": {"type": "image", "url": "https://cdn.example/mugs.jpg"},
            "quick_replies": [{"title": "Blue", "payload": "BLUE"}, {"title": "Red", "payload": "RED"}]}},
        {"id": "a", "type": "ask", "position": {"x": 340, "y": 0}, "data": {
            "text": "Your e-mail for the offer?", "check": "email", "variable": "email", "timeout_seconds": 3600}},
        {"id": "r", "type": "randomizer", "position": {"x": 700, "y": -160},
         "data": {"branches": [{"name": "A", "weight": 30}, {"name": "B", "weight": 70}]}},
        {"id": "t", "type": "condition", "position": {"x": 1060, "y": -160},
         "data": {"kind": "time", "from": "09:00", "to": "17:00", "weekdays": [1, 2, 3, 4, 5]}},
        {"id": "b", "type": "message", "position": {"x": 700, "y": 120}, "data": {
            "text": "Or pick", "buttons": [{"type": "postback", "title": "Talk to us", "payload": "HUMAN"},
                                           {"type": "url", "title": "Shop", "url": "https://shop.example"}]}},
        {"id": "h", "type": "action", "position": {"x": 1060, "y": 120}, "data": {"action": "handover"}},
    ],
    "edges": [
        {"from": "m", "to": "a"}, {"from": "a", "to": "r"}, {"from": "a", "to": "b", "label": "invalid"},
        {"from": "a", "to": "h", "label": "timeout"}, {"from": "r", "to": "t", "label": "A"},
        {"from": "r", "to": "b", "label": "B"}, {"from": "t", "to": "h", "label": "true"},
        {"from": "t", "to": "b", "label": "false"},
    ],
}


def css(d, sel):
    return d.find_element(By.CSS_SELECTOR, sel)


def wait_css(d, sel, timeout=15):
    return WebDriverWait(d, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, sel)))


def wait_text(d, sel, text, timeout=15):
    WebDriverWait(d, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, sel), text))
    return css(d, sel)


def node(d, node_id):
    return css(d, f'.react-flow__node[data-id="{node_id}"]')


def header_button(d, label):
    for b in d.find_elements(By.CSS_SELECTOR, ".flows-editor__actions button"):
        if b.text.strip() == label:
            return b
    raise AssertionError(f"no {label} button")


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, name))


def test_every_new_block_in_the_builder():
    fake = FakeGraph().start()
    srv = start_web_server(env=ig_env(fake))
    d = browser(1700, 1050)
    try:
        email = f"blocks-{uuid.uuid4().hex[:8]}@example.com"
        r = srv.request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "Flo"})
        tok = r.json()["access_token"]
        fid = srv.request("POST", "/api/flows", FLOW, token=tok).json()["flow"]["id"]
        login_ui(d, srv.base_url, email, PASSWORD)
        d.get(f"{srv.base_url}/flows/{fid}")
        wait_css(d, '.react-flow__node[data-id="h"]')
        css(d, ".react-flow__controls-fitview").click()
        # Every block says what it does on the canvas, with its outputs.
        assert "with an image, 2 quick replies" in node(d, "m").text
        assert "save as vars.email (email)" in node(d, "a").text
        assert [e.text for e in node(d, "a").find_elements(By.CSS_SELECTOR, ".flow-output__label")] == \
            ["answered", "invalid", "timeout"]
        assert "A 30% / B 70%" in node(d, "r").text
        assert "09:00–17:00 on Mon, Tue, Wed, Thu, Fri" in node(d, "t").text
        assert "2 buttons" in node(d, "b").text
        assert "Hand over to a person" in node(d, "h").text
        assert "A button or quick reply" in css(d, ".flow-node--trigger").text
        shot(d, "flow_blocks_canvas.png")

        # The ask's editor, then a randomizer from the palette with its branches.
        node(d, "a").click()
        assert Select(wait_css(d, "#flow-f-a-check")).first_selected_option.get_attribute("value") == "email"
        assert css(d, "#flow-f-a-timeout").get_attribute("value") == "3600"
        node(d, "m").click()
        # Quick replies are rows of fields, one a reply.
        wait_css(d, "#flow-f-m-quick_replies")
        assert [css(d, f"#flow-f-m-quick_replies-{i}-{k}").get_attribute("value")
                for i in (0, 1) for k in ("title", "payload")] == ["Blue", "BLUE", "Red", "RED"]
        assert css(d, "#flow-f-m-media_url").get_attribute("value") == "https://cdn.example/mugs.jpg"
        shot(d, "flow_blocks_message_editor.png")
        css(d, ".flow-palette__item--randomizer").click()
        wait_css(d, "#flow-f-randomizer-1-branches")
        for i, (name, weight) in enumerate([("Short", "40"), ("Long", "60")]):
            retype(css(d, f"#flow-f-randomizer-1-branches-{i}-name"), name)
            retype(css(d, f"#flow-f-randomizer-1-branches-{i}-weight"), weight)
        wait_text(d, '.react-flow__node[data-id="randomizer-1"]', "Split Short 40% / Long 60%")
        Select(css(d, "#flow-out-randomizer-1-Long")).select_by_value("b")
        shot(d, "flow_blocks_randomizer.png")

        # The trigger becomes a comment trigger, with settings.
        Select(css(d, "#flow-trigger-type")).select_by_value("comment")
        wait_css(d, "#flow-trigger-media").send_keys("17900000000000001")
        css(d, "#flow-trigger-keywords").send_keys("link, price")
        css(d, "#flow-trigger-public").send_keys("Sent you a DM!")
        css(d, "#flow-settings-once").click()
        retype(css(d, "#flow-settings-cooldown"), "600")
        css(d, "#flow-trigger-title").location_once_scrolled_into_view
        shot(d, "flow_blocks_trigger.png")
        header_button(d, "Save").click()
        wait_text(d, ".flows-editor__notice", "Saved")

        saved = srv.request("GET", f"/api/flows/{fid}", token=tok).json()["flow"]
        assert saved["trigger"] == {"type": "comment", "media_ids": ["17900000000000001"],
                                    "keywords": ["link", "price"], "match": "contains",
                                    "public_reply": "Sent you a DM!"}
        assert saved["settings"] == {"priority": 3, "run_once": True, "cooldown_seconds": 600}
        by_id = {n["id"]: n for n in saved["nodes"]}
        for n in FLOW["nodes"]:
            assert by_id[n["id"]]["data"] == n["data"], n["id"]
        assert by_id["randomizer-1"]["data"] == {"branches": [{"name": "Short", "weight": 40},
                                                              {"name": "Long", "weight": 60}]}
        assert {"from": "randomizer-1", "to": "b", "label": "Long"} in saved["edges"]
        # A randomizer whose weights do not sum to 100: the server's error on the step.
        node(d, "randomizer-1").click()
        retype(wait_css(d, "#flow-f-randomizer-1-branches-1-weight"), "50")
        wait_text(d, '.react-flow__node[data-id="randomizer-1"]', "Split Short 40% / Long 50%")
        header_button(d, "Save").click()
        wait_text(d, '.react-flow__node[data-id="randomizer-1"] .flow-node__error', "sum to 90, not 100")
        # Retyping the branches kept the Long branch's edge.
        assert Select(css(d, "#flow-out-randomizer-1-Long")).first_selected_option.get_attribute("value") == "b"
        shot(d, "flow_blocks_error.png")
        assert csp_violations(d) == []
    finally:
        d.quit()
        srv.stop()
        fake.stop()


API_FLOW = {
    "name": "rows", "status": "draft", "trigger": {"type": "keyword", "keywords": ["order"]}, "start": "api",
    "nodes": [
        {"id": "api", "type": "action", "position": {"x": 0, "y": 0}, "data": {
            "action": "api_call", "url": "https://api.example/orders", "method": "POST",
            "headers": [{"name": "X-Api-Key", "value": "k1"}],
            "map": {"order_id": "data.id", "total": "data.total"}}},
        {"id": "b", "type": "message", "position": {"x": 360, "y": 0}, "data": {
            "text": "Order {{vars.order_id}}", "buttons": [{"type": "postback", "title": "Track", "payload": "TRACK"}]}},
    ],
    "edges": [{"from": "api", "to": "b"}],
}


def test_row_editors_and_the_account_time_zone():
    """An api_call's headers and response mapping and a message's buttons are
    rows of fields (added, edited, removed) saved as the API's shapes; the
    account's time zone is set under the trigger, a bad zone's error shown,
    and the zone is the one Settings shows."""
    fake = FakeGraph().start()
    srv = start_web_server(env=ig_env(fake))
    d = browser(1700, 1050)
    try:
        email = f"rows-{uuid.uuid4().hex[:8]}@example.com"
        tok = srv.request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "Row"}).json()["access_token"]
        r = srv.request("POST", "/api/instagram/connect",
                        {"ig_user_id": "17841400000000001", "access_token": "IGQ-test-17841400000000001"}, token=tok)
        assert r.status == 200, r
        fid = srv.request("POST", "/api/flows", API_FLOW, token=tok).json()["flow"]["id"]
        login_ui(d, srv.base_url, email, PASSWORD)
        d.get(f"{srv.base_url}/flows/{fid}")
        wait_css(d, '.react-flow__node[data-id="api"]').click()
        wait_css(d, "#flow-f-api-headers")
        assert css(d, "#flow-f-api-headers-0-name").get_attribute("value") == "X-Api-Key"
        assert css(d, "#flow-f-api-headers-0-value").get_attribute("value") == "k1"
        assert [css(d, f"#flow-f-api-map-{i}-variable").get_attribute("value") for i in (0, 1)] == ["order_id", "total"]
        # A second header; the first mapping row removed, a new one added.
        css(d, "#flow-f-api-headers-add").click()
        wait_css(d, "#flow-f-api-headers-1-name").send_keys("X-Trace")
        css(d, "#flow-f-api-headers-1-value").send_keys("on")
        css(d, 'button[aria-label="Remove save values from the response (optional) row 1"]').click()
        css(d, "#flow-f-api-map-add").click()
        wait_css(d, "#flow-f-api-map-1-variable").send_keys("status")
        css(d, "#flow-f-api-map-1-path").send_keys("data.status")
        shot(d, "flow_rows_api_call.png")
        # The message's button becomes a link button; a second one is added and left empty.
        node(d, "b").click()
        Select(wait_css(d, "#flow-f-b-buttons-0-type")).select_by_value("url")
        css(d, "#flow-f-b-buttons-0-value").send_keys("https://shop.example/track")
        css(d, "#flow-f-b-buttons-add").click()
        wait_css(d, "#flow-f-b-buttons-1-title")
        shot(d, "flow_rows_buttons.png")
        header_button(d, "Save").click()
        wait_text(d, ".flows-editor__notice", "Saved")
        saved = {n["id"]: n for n in srv.request("GET", f"/api/flows/{fid}", token=tok).json()["flow"]["nodes"]}
        assert saved["api"]["data"]["headers"] == [{"name": "X-Api-Key", "value": "k1"}, {"name": "X-Trace", "value": "on"}]
        assert saved["api"]["data"]["map"] == {"total": "data.total", "status": "data.status"}
        assert saved["b"]["data"]["buttons"] == [{"type": "url", "title": "Track", "url": "https://shop.example/track"}]

        # The account's time zone: a zone the tz database lacks is refused, shown under the field.
        tz = wait_css(d, "#flow-timezone")
        assert "UTC (none set)" in css(d, '[data-test="tz-current"]').text
        tz.send_keys("Mars/Olympus_Mons")
        css(d, '[data-test="flow-timezone"] [data-test="tz-save"]').click()
        assert "not a zone" in wait_css(d, '[data-test="tz-error"]').text
        assert css(d, "#flow-timezone").get_attribute("aria-invalid") == "true"
        shot(d, "flow_timezone_error.png")
        retype(css(d, "#flow-timezone"), "Europe/Berlin")
        css(d, '[data-test="flow-timezone"] [data-test="tz-save"]').click()
        wait_text(d, '[data-test="flow-timezone"] [data-test="tz-current"]', "Europe/Berlin")
        assert d.find_elements(By.CSS_SELECTOR, '[data-test="tz-error"]') == []
        shot(d, "flow_timezone.png")
        st = srv.request("GET", "/api/instagram/status", token=tok).json()
        assert st["account"]["timezone"] == "Europe/Berlin"
        # Settings shows the same zone, and can clear it (UTC).
        d.get(f"{srv.base_url}/settings")
        field = wait_css(d, "#ig-tz")
        WebDriverWait(d, 10).until(lambda _: field.get_attribute("value") == "Europe/Berlin")
        shot(d, "settings_timezone.png")
        retype(field, " ")
        css(d, '[data-test="ig-timezone"] [data-test="tz-save"]').click()
        wait_text(d, '[data-test="ig-timezone"] [data-test="tz-current"]', "UTC (none set)")
        assert srv.request("GET", "/api/instagram/status", token=tok).json()["account"]["timezone"] is None
        assert csp_violations(d) == []
    finally:
        d.quit()
        srv.stop()
        fake.stop()
