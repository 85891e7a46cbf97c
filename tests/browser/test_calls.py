"""Calls in the web client (issue 20, point 2): the call button of a direct
conversation, the callee's incoming-call bar with accept and reject, and the call
itself: two headless Chromium sessions with fake microphones connect their
RTCPeerConnections over loopback through the server's signalling; hanging up ends
it on both sides and leaves a history message."""


def open_direct(app, browser_factory, a, b):
    st, body = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": b["user"]["id"]},
                       token=a["access_token"])
    assert st in (200, 201)
    cid = body["conversation"]["id"]
    ann, ben = browser_factory(app=app), browser_factory(app=app)
    ann.login_token(a)
    ben.login_token(b)
    ann.open(f"/c/{cid}")
    ben.open("/inbox")
    ann.find("[data-test=call-button]")
    ben.find("[data-test=conv-row]")
    return cid, ann, ben


# A TURN secret without URIs: the credentials are fetched (200) and the peers,
# on one machine, reach each other directly.
TURN = {"PARLEY_TURN_SECRET": "browser-test-secret"}


def status(page):
    bars = page.all("[data-test=call-bar]")
    return bars[0].get_attribute("data-status") if bars else None


def test_call_connects_and_hangs_up(app_factory, browser_factory):
    app = app_factory(TURN)
    a = app.server.signup(name="Ann Caller")
    b = app.server.signup(name="Ben Callee")
    cid, ann, ben = open_direct(app, browser_factory, a, b)
    ann.find("[data-test=call-button]").click()
    ben.wait(lambda: status(ben) == "incoming", what="the incoming call")
    assert "Ann Caller" in ben.find("[data-test=call-bar]").text
    ann.wait(lambda: status(ann) == "ringing", what="ringing on the caller's side")
    ben.shot("call-incoming")
    ben.find("[data-test=call-accept]").click()
    ann.wait(lambda: status(ann) == "connected", timeout=20, what="the caller connected")
    ben.wait(lambda: status(ben) == "connected", timeout=20, what="the callee connected")
    ann.shot("call-connected")
    ann.find("[data-test=call-hangup]").click()
    ben.wait(lambda: status(ben) in ("ended", None), what="the call ended for the callee")
    ann.wait(lambda: ann.all("[data-test=call-record]"), what="the call's history message")
    assert ann.find("[data-test=call-record]").text.startswith("Call, 0:")
    assert not ann.severe() and not ben.severe()


def test_call_rejected(app_factory, browser_factory):
    app = app_factory(TURN)
    a = app.server.signup(name="Ann Reject")
    b = app.server.signup(name="Ben Reject")
    cid, ann, ben = open_direct(app, browser_factory, a, b)
    ann.find("[data-test=call-button]").click()
    ben.wait(lambda: status(ben) == "incoming", what="the incoming call")
    ben.find("[data-test=call-reject]").click()
    ann.wait(lambda: status(ann) == "declined", what="declined on the caller's side")
    ann.shot("call-declined")
    ann.wait(lambda: ann.all("[data-test=call-record]"), what="the call's history message")
    assert "declined" in ann.find("[data-test=call-record]").text
    # Ann calls again and closes her browser while it rings: her session
    # closes, and Ben's ringing stops at once with the reason shown. (Leaving
    # the page would not do: headless Chromium kept the WebSocket of a page it
    # left open for seconds, likely its back-forward cache.)
    for p in (ann, ben):
        p.wait(lambda: status(p) is None, what="the declined call's bar gone")
    ann.find("[data-test=call-button]").click()
    ben.wait(lambda: status(ben) == "incoming", what="the second incoming call")
    ann.d.quit()
    ben.wait(lambda: status(ben) == "dropped", what="the call dropped for the callee")
    assert "connection was lost" in ben.find("[data-test=call-bar]").text
    ben.shot("call-dropped")
