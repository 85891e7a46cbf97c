"""Helpers for the flow builder's browser test: a parleyd serving the built client
(PARLEY_WEB_DIST, default web/dist) wired to a fake Graph API, a headless Chromium, logging in through the
login page, and the console's CSP reports."""
import importlib.util
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INTEGRATION = os.path.join(ROOT, "tests", "integration")
SHOTS = os.environ.get("PARLEY_SCREENSHOTS", os.path.join(HERE, "screenshots"))
WEB_DIST = os.environ.get("PARLEY_WEB_DIST", os.path.join(ROOT, "web", "dist"))

if INTEGRATION not in sys.path:
    sys.path.insert(0, INTEGRATION)

from igutil import ig_env, post_webhook, text_event, wait_until  # noqa: E402,F401


def _integration_server_class():
    spec = importlib.util.spec_from_file_location("parley_integration_conftest",
                                                  os.path.join(INTEGRATION, "conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Server


def start_web_server(env=None):
    """A running parleyd that serves the built web client at /."""
    assert os.path.isfile(os.path.join(WEB_DIST, "index.html")), \
        f"{WEB_DIST}/index.html is missing: run web/build.sh first"
    e = {"PARLEY_WEB_DIR": WEB_DIST}
    e.update(env or {})
    return _integration_server_class()(env=e).start()


def browser(width=1400, height=900):
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update",
              f"--window-size={width},{height}", "--lang=en-US"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    d.implicitly_wait(0)
    d.console = []
    return watch(d)


# Every browser a test opens, for conftest's FAILED-<test>.png screenshots.
OPEN = []


def failure_shot(d, test):
    """Saves what `d` shows as FAILED-<test>.png (-2, -3 for a test's later browsers), once."""
    if getattr(d, "failure_shot", False):
        return
    d.failure_shot = True
    n = d.watch_index
    try:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, f"FAILED-{test}{f'-{n + 1}' if n else ''}.png"))
    except Exception:
        pass


def watch(d):
    """Lists the driver in OPEN until it quits. A test that quits it in a `finally:` does
    so before pytest reports the failure: quit() then takes the screenshot itself if an
    exception is on its way out."""
    d.watch_index = len(OPEN)
    OPEN.append(d)
    quit = d.quit

    def quit_after_shot():
        if sys.exc_info()[0] is not None:
            test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").rsplit(" (", 1)[0].split("::")[-1]
            failure_shot(d, test)
        if d in OPEN:
            OPEN.remove(d)
        quit()

    d.quit = quit_after_shot
    return d


def login_ui(d, base_url, email, password):
    """Logs in through the app's login page and waits for the app's frame."""
    d.get(base_url + "/login")
    w = WebDriverWait(d, 20)
    w.until(EC.visibility_of_element_located((By.ID, "auth-email"))).send_keys(email)
    d.find_element(By.ID, "auth-password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    w.until(EC.presence_of_element_located((By.CSS_SELECTOR, "nav")))


def csp_violations(d):
    """Console entries where the browser refused something by the page's CSP."""
    d.console.extend(d.get_log("browser"))
    return [e["message"] for e in d.console
            if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]
