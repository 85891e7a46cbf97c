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


# Video calls: Chromium's fake camera (--use-fake-device-for-media-stream) sends a
# moving 640x480 pattern, so a remote <video> that plays has a size.
PLAYING = """const v = document.querySelector(arguments[0]);
return !!v && !v.classList.contains('hidden') && !v.paused && v.readyState >= 2 && v.videoWidth > 0;"""

# Camera access refused in this page, the microphone still granted.
NO_CAMERA = """const md = navigator.mediaDevices, orig = md.getUserMedia.bind(md);
md.getUserMedia = (c) => c && c.video ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError')) : orig(c);"""


def view(page):
    bars = page.all("[data-test=call-bar]")
    return bars[0].get_attribute("data-view") if bars else None


def playing(page, css):
    return page.js(PLAYING, css)


def test_video_call(app_factory, browser_factory):
    """Ann (desktop) video-calls Ben (a 390 px phone): both see the other's camera
    large and their own small and mirrored; Ben's camera off shows his avatar to Ann,
    Ann's microphone off shows to Ben; hanging up leaves the history message."""
    app = app_factory(TURN)
    a = app.server.signup(name="Ann Video")
    b = app.server.signup(name="Ben Video")
    st, body = app.api("POST", "/api/conversations", {"type": "direct", "participant_id": b["user"]["id"]},
                       token=a["access_token"])
    cid = body["conversation"]["id"]
    ann, ben = browser_factory(app=app), browser_factory(width=390, height=844, app=app)
    ann.login_token(a)
    ben.login_token(b)
    ann.open(f"/c/{cid}")
    ben.open(f"/c/{cid}")  # the chat's header on a phone: both call buttons fit
    ben.find("[data-test=video-call-button]")
    ann.find("[data-test=video-call-button]").click()
    # Ann sees herself while it rings.
    ann.wait(lambda: view(ann) == "video" and playing(ann, "[data-test=call-local-video]"), what="the caller's preview")
    ben.wait(lambda: status(ben) == "incoming", what="the incoming video call")
    assert "is video calling you" in ben.find("[data-test=call-bar]").text
    assert ben.all("[data-test=call-accept-video]") and ben.all("[data-test=call-accept-audio]")
    ben.shot("video-call-incoming-mobile")
    ben.find("[data-test=call-accept-video]").click()
    for p in (ann, ben):
        p.wait(lambda: status(p) == "connected" and playing(p, "[data-test=call-remote-video]"),
               timeout=20, what="the other side's camera playing")
        assert playing(p, "[data-test=call-local-video]")
        assert "matrix(-1" in p.js("return getComputedStyle(document.querySelector('[data-test=call-local-video]')).transform")
        p.wait(lambda: p.find("[data-test=call-timer]").text.startswith("0:0"), what="the call timer")
        assert not p.all("[data-test=call-remote-avatar]")
        assert p.js("return !!document.activeElement.closest('.call-video')"), "focus stayed behind the call"
    ann.shot("video-call-connected")
    ben.shot("video-call-connected-mobile")
    # Ben's camera off: his own corner and Ann's screen show his avatar, not a black frame.
    ben.find("[data-test=call-camera]").click()
    ben.wait(lambda: ben.find("[data-test=call-local]").get_attribute("data-camera") == "off", what="camera off")
    ann.wait(lambda: ann.all("[data-test=call-remote-avatar]") and not playing(ann, "[data-test=call-remote-video]"),
             what="Ben's avatar instead of his camera")
    assert "BV" in ann.find("[data-test=call-remote-avatar]").text
    ann.shot("video-call-peer-camera-off")
    ben.find("[data-test=call-camera]").click()
    ann.wait(lambda: playing(ann, "[data-test=call-remote-video]"), what="Ben's camera back")
    ann.find("[data-test=call-mic]").click()
    ben.wait(lambda: ben.all("[data-test=call-peer-muted]"), what="Ann's microphone off, shown to Ben")
    # Ann switches to audio only: the video stops both ways, the call goes on.
    ann.find("[data-test=call-audio-only]").click()
    for p in (ann, ben):
        p.wait(lambda: view(p) == "bar" and not p.js("return document.querySelectorAll('video').length"),
               what="an audio call on both sides")
    assert "switched to audio only" in ben.find("[data-test=call-notice]").text
    assert status(ann) == "connected" and status(ben) == "connected"
    ben.shot("video-call-switched-to-audio-mobile")
    ann.find("[data-test=call-hangup]").click()
    ben.wait(lambda: status(ben) in ("ended", None), what="the call ended for the callee")
    ann.wait(lambda: ann.all("[data-test=call-record]"), what="the call's history message")
    assert ann.find("[data-test=call-record]").text.startswith("Video call, 0:")
    assert not ann.severe() and not ben.severe()


def test_video_call_taken_audio_only(app_factory, browser_factory):
    """Ben takes Ann's video call with audio only: neither side's camera runs, both get
    the audio call's bar. Then Ben's camera is refused: he takes the next video call
    with video, is told why he is on audio, sees Ann, and Ann sees his avatar."""
    app = app_factory(TURN)
    a = app.server.signup(name="Ann Audio")
    b = app.server.signup(name="Ben Audio")
    cid, ann, ben = open_direct(app, browser_factory, a, b)
    ann.find("[data-test=video-call-button]").click()
    ben.wait(lambda: status(ben) == "incoming", what="the incoming video call")
    ben.shot("video-call-incoming")
    ben.find("[data-test=call-accept-audio]").click()
    for p in (ann, ben):
        p.wait(lambda: status(p) == "connected" and view(p) == "bar", timeout=20, what="an audio call on both sides")
    ann.wait(lambda: "took the call with audio only" in ann.find("[data-test=call-notice]").text, what="the caller told")
    # No camera runs and no picture is left on either side.
    for p in (ann, ben):
        p.wait(lambda: not p.js("return document.querySelectorAll('video').length"), what="no video element")
    ann.shot("video-call-audio-only")
    ben.find("[data-test=call-hangup]").click()
    ann.wait(lambda: status(ann) == "ended", what="the call ended for the caller")
    ann.wait(lambda: ann.all("[data-test=call-record]"), what="the call's history message")
    assert ann.find("[data-test=call-record]").text.startswith("Video call, 0:")

    ben.js(NO_CAMERA)
    ann.find("[data-test=video-call-button]").click()
    ben.wait(lambda: status(ben) == "incoming", what="the second incoming video call")
    ben.find("[data-test=call-accept-video]").click()
    ben.wait(lambda: "Camera access was denied" in ben.find("[data-test=call-notice]").text, what="why Ben is on audio")
    ben.wait(lambda: status(ben) == "connected" and playing(ben, "[data-test=call-remote-video]"),
             timeout=20, what="Ann's camera on Ben's screen")
    assert ben.find("[data-test=call-camera]").get_attribute("disabled") is not None
    assert ben.find("[data-test=call-local]").get_attribute("data-camera") == "off"
    ann.wait(lambda: status(ann) == "connected" and ann.all("[data-test=call-remote-avatar]"),
             what="Ben's avatar on Ann's screen")
    ben.shot("video-call-no-camera")
    ann.find("[data-test=call-hangup]").click()
    ben.wait(lambda: status(ben) in ("ended", None), what="the call ended for the callee")
    assert not ann.severe() and not ben.severe()
