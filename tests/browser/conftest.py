"""Fixtures for the browser suite: a real parleyd serving the built client
(web/dist, PARLEY_WEB_DIR) and headless Chromium driven by Debian's chromedriver.

Environment:
  PARLEYD            the server binary (default build/parleyd)
  PARLEY_TEST_WEB_DIR the built client (default web/dist; ./scripts/test builds it)
  PARLEY_SCREENSHOTS where each main page's screenshot goes
                     (default tests/browser/screenshots, git-ignored)
"""
import importlib.util
import json
import os
import sys
import time
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def _integration_server():
    """The integration suite's Server wrapper (its conftest, loaded under another name)."""
    spec = importlib.util.spec_from_file_location(
        "integration_conftest", os.path.join(ROOT, "tests", "integration", "conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Server


Server = _integration_server()

import flowutil  # noqa: E402  (tests/browser is on sys.path: pytest put it there for this file)

WEB_DIST = os.environ.get("PARLEY_TEST_WEB_DIR", os.path.join(ROOT, "web", "dist"))
SHOTS = os.environ.get("PARLEY_SCREENSHOTS", os.path.join(HERE, "screenshots"))
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "correct horse battery"


def pytest_configure(config):
    if not os.path.isfile(os.path.join(WEB_DIST, "index.html")):
        raise pytest.UsageError(f"{WEB_DIST}/index.html is missing: run web/build.sh first")


def pytest_runtest_setup(item):
    flowutil.OPEN.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test leaves a screenshot of each browser still open, FAILED-<test>.png in
    SHOTS (browsers quit in the test's own `finally:` took theirs: flowutil.watch)."""
    rep = (yield).get_result()
    if rep.failed and rep.when == "call":
        for d in list(flowutil.OPEN):
            flowutil.failure_shot(d, item.name)


class App:
    """One parleyd with the client; restartable on the same port and data."""

    def __init__(self, env=None):
        e = {"PARLEY_WEB_DIR": WEB_DIST, "PARLEY_LOG_LEVEL": "warn"}
        e.update(env or {})
        self.server = Server(env=e)

    @property
    def url(self):
        return self.server.base_url

    def start(self):
        self.server.start()
        return self

    def restart(self, down_seconds=0.0, during=None):
        """Stops the server, runs `during()` while it is down, starts it again."""
        self.server.stop()
        if during:
            during()
        time.sleep(down_seconds)
        self.server = Server(env=self.server.env, data_dir=self.server.data_dir, port=self.server.port)
        self.server.owns_data = True
        self.server.start()

    def api(self, method, path, body=None, token=None):
        """One API call; returns (status, parsed body or None)."""
        r = self.server.request(method, path, body=body, token=token)
        return r.status, (r.json() if r.body else None)

    def signup(self, name):
        return self.server.signup(name=name, email=f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:8]}@example.com",
                                  password=PASSWORD)


@pytest.fixture
def app_factory():
    """app_factory(env={...}) -> a running App; each is stopped after the test."""
    apps = []

    def make(env=None):
        a = App(env).start()
        apps.append(a)
        return a

    yield make
    reports = [r for r in (a.server.cleanup() for a in apps) if r]
    assert not reports, "sanitizer report from parleyd:\n" + reports[0]


@pytest.fixture
def app(app_factory):
    return app_factory()


def new_browser(width=1280, height=860, trace=None):
    """trace: Chromium trace categories recorded from the start; the events are read with
    driver.get_log("performance") (test_performance.py reads the main thread's tasks)."""
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                f"--window-size={width},{height}", "--lang=en-US",
                # Calls: a fake microphone that needs no permission prompt.
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    logs = {"browser": "ALL"}
    if trace:
        logs["performance"] = "ALL"
        opts.add_experimental_option("perfLoggingPrefs", {
            "enableNetwork": False, "enablePage": False, "traceCategories": trace})
    opts.set_capability("goog:loggingPrefs", logs)
    d = flowutil.watch(webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts))
    if width < 500:
        # Chromium's windows are at least 500 px wide: narrower screens are emulated.
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
    return d


class Page:
    """A browser tab on the app, with the waits and reads the tests share."""

    def __init__(self, driver, app):
        self.d = driver
        self.app = app
        self.console = []

    def open(self, path="/"):
        self.d.get(self.app.url + path)

    def wait(self, cond, timeout=15, what="condition"):
        try:
            # A condition that reads elements while the app re-renders them may find one
            # replaced between finding and reading it: that poll failed, the next one retries.
            return WebDriverWait(self.d, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                                     lambda d: cond())
        except TimeoutException:
            self.shot("timeout")
            raise AssertionError(f"timed out waiting for {what}") from None

    def find(self, css, timeout=15):
        return self.wait(lambda: self.d.find_elements(By.CSS_SELECTOR, css) and self.d.find_element(By.CSS_SELECTOR, css),
                         timeout, css)

    def all(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def texts(self, css):
        return [e.text for e in self.d.find_elements(By.CSS_SELECTOR, css)]

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        self.d.save_screenshot(os.path.join(SHOTS, f"{name}.png"))

    def chat_header_fits(self, width):
        """Asserts the open chat's header at a narrow width: the conversation's name is
        whole (not cut with an ellipsis), and nothing in the header runs past `width`."""
        title = self.find("[data-test=chat-title]")
        assert self.js("return arguments[0].scrollWidth <= arguments[0].clientWidth", title), \
            f"the name is whole: {title.text!r}"
        assert self.js("return document.querySelector('.chat-head').scrollWidth") <= width
        return title

    def logs(self):
        """Browser console entries since the last call (errors include CSP violations)."""
        self.console += self.d.get_log("browser")
        return self.console

    def severe(self):
        return [e for e in self.logs() if e["level"] == "SEVERE"
                and "favicon" not in e["message"]]

    def signup_ui(self, name, email, password=PASSWORD):
        self.open("/signup")
        self.find("#auth-name").send_keys(name)
        self.find("#auth-email").send_keys(email)
        self.find("#auth-password").send_keys(password)
        self.find("form button[type=submit]").click()

    def login_ui(self, email, password=PASSWORD):
        self.open("/login")
        self.find("#auth-email").send_keys(email)
        self.find("#auth-password").send_keys(password)
        self.find("form button[type=submit]").click()
        self.wait(lambda: "/inbox" in self.d.current_url or "/c/" in self.d.current_url, what="logged in")

    def login_token(self, session):
        """Logs in by placing a server session where the SDK keeps it (faster than the form)."""
        self.open("/login")
        stored = {"user": session["user"], "access_token": session["access_token"],
                  "refresh_token": session["refresh_token"],
                  "expires_at": int(time.time() * 1000) + session["expires_in"] * 1000,
                  "lifetime_ms": session["expires_in"] * 1000}
        self.js("localStorage.setItem('parley.session', arguments[0])", json.dumps(stored))


@pytest.fixture
def browser_factory(request):
    drivers = []

    def make(width=1280, height=860, app=None, trace=None):
        d = new_browser(width, height, trace)
        drivers.append(d)
        return Page(d, app or request.getfixturevalue("app"))

    yield make
    for d in drivers:
        try:
            d.quit()
        except Exception:
            pass


def retype(el, value):
    """Types over a field's text as a user does (select all, then the keys), so that
    each change is an input event. Not clear(): Selenium's sets the value to '' with a
    change event and no input event, so a client that keeps the field's text in its
    state still holds the old text, and a render before the keys puts it back
    (test_flow_blocks saw "50" typed after it make 6050)."""
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(value)


def bulk(app, token, calls):
    """Many API calls over one keep-alive connection (seeding large data sets)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", app.server.port, timeout=30)
    out = []
    try:
        for method, path, body in calls:
            conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            assert r.status < 300, (r.status, data[:200])
            out.append(json.loads(data) if data else None)
    finally:
        conn.close()
    return out

