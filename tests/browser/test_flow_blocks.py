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
        assert wait_css(d, "#flow-f-m-quick_replies").get_attribute("value") == "Blue | BLUE\nRed | RED"
        assert css(d, "#flow-f-m-media_url").get_attribute("value") == "https://cdn.example/mugs.jpg"
        shot(d, "flow_blocks_message_editor.png")
        css(d, ".flow-palette__item--randomizer").click()
        branches = wait_css(d, "#flow-f-randomizer-1-branches")
        branches.clear()
        branches.send_keys("Short: 40\nLong: 60")
        wait_text(d, '.react-flow__node[data-id="randomizer-1"]', "Short 40% / Long 60%")
        Select(css(d, "#flow-out-randomizer-1-Long")).select_by_value("b")
        shot(d, "flow_blocks_randomizer.png")

        # The trigger becomes a comment trigger, with settings.
        Select(css(d, "#flow-trigger-type")).select_by_value("comment")
        wait_css(d, "#flow-trigger-media").send_keys("17900000000000001")
        css(d, "#flow-trigger-keywords").send_keys("link, price")
        css(d, "#flow-trigger-public").send_keys("Sent you a DM!")
        css(d, "#flow-settings-once").click()
        cooldown = css(d, "#flow-settings-cooldown")
        cooldown.clear()
        cooldown.send_keys("600")
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
        branches = wait_css(d, "#flow-f-randomizer-1-branches")
        branches.clear()
        branches.send_keys("Short: 40\nLong: 50")
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
