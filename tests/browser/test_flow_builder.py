"""The flow builder in a real browser: a keyword flow built on the canvas with
mouse and keyboard, a validation error shown on the step it names, saved,
activated and dry-run with the path highlighted; then a signed Instagram webhook
arrives and the flow's reply shows in the Instagram conversation. Also: the
builder at 375 px and in dark mode, and no CSP violation in the console."""
import os
import time
import uuid

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from flowutil import (SHOTS, browser, csp_violations, ig_env, login_ui, post_webhook, start_web_server,
                      text_event)
from fakegraph import FakeGraph
from igutil import connect

PASSWORD = "correct horse battery"


def css(d, sel):
    return d.find_element(By.CSS_SELECTOR, sel)


def wait_css(d, sel, timeout=15):
    return WebDriverWait(d, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, sel)))


def wait_text(d, sel, text, timeout=15):
    WebDriverWait(d, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, sel), text))
    return css(d, sel)


def node(d, node_id):
    return css(d, f'.react-flow__node[data-id="{node_id}"]')


def handle(d, node_id, kind, handle_id=None):
    sel = f'.react-flow__node[data-id="{node_id}"] .react-flow__handle.{kind}'
    if handle_id:
        sel += f'[data-handleid="{handle_id}"]'
    return css(d, sel)


def drag_to(d, src, dst=None, dx=0, dy=0):
    """Presses the mouse on `src` and moves it in small steps, as a hand would,
    onto `dst` (or by dx, dy), then releases it."""
    chain = ActionChains(d, duration=50).move_to_element(src).click_and_hold().pause(0.1)
    for _ in range(4):
        chain.move_by_offset(4, 3).pause(0.05)
    if dst is not None:
        chain.move_to_element(dst).pause(0.1).move_to_element(dst)
    else:
        for _ in range(5):
            chain.move_by_offset((dx - 16) // 5, (dy - 12) // 5).pause(0.05)
    chain.pause(0.1).release().perform()


def drag_connect(d, src, dst, edge_id):
    """Connects two handles with the mouse, once, and waits for the edge to be
    drawn. (A step whose handles the canvas lost took no connection: the
    editor's HandleBoundsGuard measures them again, so no second drag.)"""
    drag_to(d, src(), dst())
    WebDriverWait(d, 5).until(lambda _: edge_id in edge_ids(d))


def press(d, *keys):
    ActionChains(d).send_keys(*keys).perform()


def add_by_keyboard(d, kind):
    """Focuses the palette button without the mouse and presses Enter."""
    d.execute_script("arguments[0].focus()", css(d, f".flow-palette__item--{kind}"))
    press(d, Keys.ENTER)


def tab_to(d, start, target, limit=40):
    """Focuses `start`, then presses Tab until `target` has the focus."""
    d.execute_script("arguments[0].focus()", start)
    for _ in range(limit):
        if d.execute_script("return document.activeElement === arguments[0]", target):
            return
        press(d, Keys.TAB)
    raise AssertionError("Tab never reached the element")


def header_button(d, label):
    for b in d.find_elements(By.CSS_SELECTOR, ".flows-editor__actions button"):
        if b.text.strip() == label:
            return b
    raise AssertionError(f"no {label} button")


def viewport_transform(d):
    return css(d, ".react-flow__viewport").get_attribute("style")


def edge_ids(d, cls=""):
    return {e.get_attribute("data-id") for e in d.find_elements(By.CSS_SELECTOR, f".react-flow__edge{cls}")}


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, name))


def test_keyword_flow_built_tested_and_answering():
    fake = FakeGraph().start()
    srv = start_web_server(env=ig_env(fake))
    d = browser(1600, 1000)
    try:
        email = f"flows-{uuid.uuid4().hex[:8]}@example.com"
        r = srv.request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "Flo"})
        assert r.status == 201, r
        token = r.json()["access_token"]
        connect(srv, token)
        login_ui(d, srv.base_url, email, PASSWORD)

        d.get(srv.base_url + "/flows")
        wait_text(d, ".flows-list", "No flows yet")
        css(d, ".flows-list .flow-button--primary").click()
        wait_css(d, ".flows-editor__canvas .react-flow__node")

        # Mouse: pan and zoom the canvas (the trigger step sits in the middle).
        before = viewport_transform(d)
        css(d, ".react-flow__controls-zoomout").click()
        WebDriverWait(d, 5).until(lambda _: viewport_transform(d) != before)
        before = viewport_transform(d)
        pane = css(d, ".react-flow__pane")
        ActionChains(d, duration=50).move_to_element_with_offset(pane, 0, 120).click_and_hold() \
            .move_by_offset(-30, -20).move_by_offset(-30, -20).release().perform()
        assert viewport_transform(d) != before


        name = css(d, "#flow-name")
        name.send_keys(Keys.CONTROL, "a")
        name.send_keys("Price bot")
        kw = css(d, "#flow-trigger-keywords")
        kw.send_keys("price, cost")

        # Mouse: a message step from the palette; its editor takes the focus, and
        # the chips insert variables at the caret.
        css(d, ".flow-palette__item--message").click()
        text = wait_css(d, "#flow-f-message-1-text")
        assert d.switch_to.active_element == text
        text.send_keys("Hi ")
        css(d, '#flow-f-message-1-text-chips button[aria-label="Insert {{contact.username}}"]').click()
        press(d, "! You asked: ")
        css(d, '#flow-f-message-1-text-chips button[aria-label="Insert {{message.text}}"]').click()
        assert text.get_attribute("value") == "Hi {{contact.username}}! You asked: {{message.text}}"
        # The first step added is where the trigger leads.
        assert "flow-badge--start" in node(d, "message-1").get_attribute("innerHTML")

        # Keyboard: a condition, a second message and an action, each typed into
        # the editor that the new step focuses.
        add_by_keyboard(d, "condition")
        wait_css(d, "#flow-f-condition-1-keyword")
        press(d, "cheap")
        add_by_keyboard(d, "message")
        wait_css(d, "#flow-f-message-2-text")
        press(d, "We have discounts too, {{contact.username}}. Size: ")
        css(d, "#flow-f-message-2-text-var").send_keys("size", Keys.ENTER)
        assert css(d, "#flow-f-message-2-text").get_attribute("value").endswith("Size: {{vars.size}}")
        add_by_keyboard(d, "action")
        wait_css(d, "#flow-f-action-1-tag")
        press(d, "price-asked")

        # Keyboard: a delay added, reached on the canvas by Tab, selected with
        # Enter, moved with the arrows and deleted with Delete.
        add_by_keyboard(d, "delay")
        wait_css(d, ".react-flow__node[data-id='delay-1']")
        tab_to(d, css(d, ".flow-palette__item--delay"), node(d, "delay-1"))
        press(d, Keys.ENTER)
        shot(d, "flow-builder-keyboard.png")
        x = node(d, "delay-1").location["x"]
        press(d, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        WebDriverWait(d, 5).until(lambda _: node(d, "delay-1").location["x"] > x)
        press(d, Keys.DELETE)
        WebDriverWait(d, 5).until(lambda _: not d.find_elements(By.CSS_SELECTOR, ".react-flow__node[data-id='delay-1']"))
        WebDriverWait(d, 5).until(lambda _: d.execute_script(
            "return document.activeElement.classList.contains('flows-editor__canvas')"))

        # Mouse: fit the flow into view, drag message-2 to a new place, then wire message-1 -> condition-1
        # and condition-1's "true" -> message-2 by dragging handles.
        css(d, ".react-flow__controls-fitview").click()
        time.sleep(0.3)
        moved = node(d, "message-2").location
        drag_to(d, css(d, ".react-flow__node[data-id='message-2'] .flow-node__body"), dx=40, dy=90)
        assert node(d, "message-2").location["y"] > moved["y"] + 30
        drag_connect(d, lambda: handle(d, "message-1", "source"),
                     lambda: handle(d, "condition-1", "target"), "message-1:next->condition-1")
        drag_connect(d, lambda: handle(d, "condition-1", "source", "true"),
                     lambda: handle(d, "message-2", "target"), "condition-1:true->message-2")
        WebDriverWait(d, 5).until(lambda _: {"message-1:next->condition-1", "condition-1:true->message-2"}
                                  <= edge_ids(d))

        # Saved with the condition's "false" edge missing: the error is on that step.
        header_button(d, "Save").click()
        bad = wait_css(d, ".react-flow__node[data-id='condition-1'] .flow-node__error")
        assert "condition" in bad.text and "false" in bad.text
        assert "has-error" in css(d, ".react-flow__node[data-id='condition-1'] .flow-node").get_attribute("class")
        wait_text(d, ".flows-editor__notice", "Not saved")
        shot(d, "flow-builder-error.png")

        # Keyboard: the inspector's "If false, go to" list wires the missing edge.
        node(d, "condition-1").click()
        Select(wait_css(d, "#flow-out-condition-1-false")).select_by_value("action-1")
        WebDriverWait(d, 5).until(lambda _: "condition-1:false->action-1" in edge_ids(d))
        assert not d.find_elements(By.CSS_SELECTOR, ".flow-node.has-error")
        shot(d, "flow-builder-false-edge.png")
        header_button(d, "Save").click()
        wait_text(d, ".flows-editor__notice", "Saved")
        assert "/flows/" in d.current_url and not d.current_url.endswith("/new")
        flow_id = d.current_url.rstrip("/").split("/")[-1]

        header_button(d, "Activate").click()
        wait_css(d, ".flows-editor__header .flow-badge[data-status='active']")

        saved = srv.request("GET", f"/api/flows/{flow_id}", token=token).json()["flow"]
        assert saved["status"] == "active" and saved["name"] == "Price bot"
        assert saved["trigger"] == {"type": "keyword", "keywords": ["price", "cost"], "match": "contains"}
        assert saved["start"] == "message-1"
        assert {n["id"] for n in saved["nodes"]} == {"message-1", "condition-1", "message-2", "action-1"}
        assert sorted((e["from"], e["to"], e.get("label")) for e in saved["edges"]) == [
            ("condition-1", "action-1", "false"), ("condition-1", "message-2", "true"),
            ("message-1", "condition-1", None)]
        pos = {n["id"]: n["position"] for n in saved["nodes"]}
        assert all(isinstance(p["x"], (int, float)) and isinstance(p["y"], (int, float)) for p in pos.values())

        # Positions persist: after a reload every step is where it was saved.
        d.refresh()
        wait_css(d, ".react-flow__node[data-id='message-2']")
        again = srv.request("GET", f"/api/flows/{flow_id}", token=token).json()["flow"]
        assert {n["id"]: n["position"] for n in again["nodes"]} == pos

        # The dry run: the path taken is highlighted, with the outputs and status.
        css(d, "#flow-test-text").send_keys("what is the price?")
        css(d, "#flow-test-username").send_keys("ana")
        css(d, ".flow-test__form button[type=submit]").click()
        wait_css(d, ".flow-test__result .flow-status[data-status='completed']")
        outs = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".flow-outputs__item")]
        assert outs == ["Hi ana! You asked: what is the price?"]
        visited = {e.get_attribute("data-id") for e in d.find_elements(By.CSS_SELECTOR, ".react-flow__node")
                   if e.find_elements(By.CSS_SELECTOR, ".flow-node.is-visited")}
        assert {"message-1", "condition-1", "action-1"} <= visited and "message-2" not in visited
        assert edge_ids(d, ".is-taken") == {"parley:trigger:next->message-1", "message-1:next->condition-1",
                                            "condition-1:false->action-1"}
        shot(d, "flow-builder-dry-run.png")

        # A signed webhook: the active flow answers through the fake Graph API...
        assert post_webhook(srv, text_event("Price for 2?", f"mid-{uuid.uuid4().hex}")).status == 200
        assert fake.wait_for(lambda reqs: any(q["path"].endswith("/messages") for q in reqs))
        sent = [q["json"]["message"]["text"] for q in fake.requests if q["path"].endswith("/messages")]
        # {{contact.username}} is the username of the profile fetched from the fake Graph.
        assert sent == ["Hi user_6543210987654321! You asked: Price for 2?"]
        # ...the runs log shows the run, and its path can be highlighted...
        wait_css(d, ".flow-run .flow-status--completed", timeout=20)
        assert css(d, ".flow-run .flow-run__replies").text == "Hi user_6543210987654321! You asked: Price for 2?"
        css(d, ".flow-run button").click()
        WebDriverWait(d, 5).until(lambda _: "condition-1:false->action-1" in edge_ids(d, ".is-taken"))
        d.execute_script("arguments[0].scrollIntoView()", css(d, ".flow-runs"))
        shot(d, "flow-builder-runs.png")

        # ...and the reply shows in the Instagram conversation.
        d.get(srv.base_url + "/inbox/instagram")
        wait_css(d, "[data-test=conv-row]").click()
        wait_text(d, "[data-test=messages]", "Hi user_6543210987654321! You asked: Price for 2?")
        bubbles = [b.text for b in d.find_elements(By.CSS_SELECTOR, "[data-test=bubble]")]
        assert any(b.startswith("Price for 2?") for b in bubbles), bubbles
        shot(d, "flow-reply-in-instagram.png")

        assert not csp_violations(d)
    except BaseException:
        shot(d, "flow-builder-failure.png")
        for e in d.get_log("browser"):
            print("console:", e["level"], e["message"][:300])
        raise
    finally:
        d.quit()
        srv.cleanup()
        fake.stop()


def test_builder_narrow_and_dark():
    """At 375 px the panels stack and nothing scrolls sideways; dark mode applies."""
    srv = start_web_server()
    d = browser()
    try:
        email = f"narrow-{uuid.uuid4().hex[:8]}@example.com"
        r = srv.request("POST", "/api/auth/signup", {"email": email, "password": PASSWORD, "name": "Nar"})
        token = r.json()["access_token"]
        flow = {"name": "narrow", "trigger": {"type": "any_message"}, "start": "m",
                "nodes": [{"id": "m", "type": "message", "data": {"text": "hello"}, "position": {"x": 0, "y": 0}},
                          {"id": "c", "type": "condition", "data": {"kind": "tag", "tag": "vip"},
                           "position": {"x": 320, "y": 0}},
                          {"id": "a", "type": "action", "data": {"action": "tag_customer", "tag": "x"},
                           "position": {"x": 640, "y": -80}},
                          {"id": "b", "type": "delay", "data": {"seconds": 60}, "position": {"x": 640, "y": 80}}],
                "edges": [{"from": "m", "to": "c"}, {"from": "c", "to": "a", "label": "true"},
                          {"from": "c", "to": "b", "label": "false"}]}
        fid = srv.request("POST", "/api/flows", flow, token=token).json()["flow"]["id"]
        login_ui(d, srv.base_url, email, PASSWORD)
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True})
        d.get(srv.base_url + f"/flows/{fid}")
        wait_css(d, ".react-flow__node[data-id='b']")
        time.sleep(0.3)
        width = d.execute_script("return document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways: {width}px"
        canvas = css(d, ".flows-editor__canvas").rect
        palette = css(d, ".flow-palette").rect
        inspector = css(d, ".flow-inspector").rect
        assert canvas["width"] >= 300 and palette["y"] < canvas["y"] < inspector["y"]
        shot(d, "flow-builder-375.png")
        d.execute_script("arguments[0].scrollIntoView()", css(d, ".flows-editor__canvas"))
        shot(d, "flow-builder-375-canvas.png")
        # Still usable: add and edit a step without the mouse.
        add_by_keyboard(d, "message")
        wait_css(d, "#flow-f-message-1-text")
        press(d, "narrow")
        assert css(d, "#flow-f-message-1-text").get_attribute("value") == "narrow"
        header_button(d, "Save").click()
        wait_text(d, ".flows-editor__notice", "Saved")

        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        d.execute_cdp_cmd("Emulation.setEmulatedMedia",
                          {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        d.set_window_size(1400, 900)
        d.refresh()
        wait_css(d, ".react-flow__node[data-id='b']")
        bg = d.execute_script("return getComputedStyle(document.querySelector('.flow-node')).backgroundColor")
        assert bg not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), bg
        assert "dark" in css(d, ".react-flow").get_attribute("class")
        shot(d, "flow-builder-dark.png")
        assert not csp_violations(d)
    except BaseException:
        shot(d, "flow-builder-narrow-failure.png")
        raise
    finally:
        d.quit()
        srv.cleanup()
