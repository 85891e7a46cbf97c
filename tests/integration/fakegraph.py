"""A local stand-in for Meta's Graph API (and any HTTP endpoint a flow calls):
records every request and answers from a script the test sets.

    fake = FakeGraph(); fake.start()
    fake.script = [(500, {...}), (200, {...})]   # answers in order, then default
    fake.delay = 3.0                              # seconds before answering
    fake.requests -> [{"method", "path", "headers", "body", "json", "n"}]
                     (a send answered by default gets message_id "m_graph_<n>")
    fake.tokens["tok"] = ("17841400000000001", "shop")  # GET /me answers for tok
    fake.revoked.add("tok")        # any request with tok: 400, Graph error 190
    fake.hang = True               # POST .../messages never answers (until stop)
    fake.refresh_ttl = 5184000     # expires_in of GET /refresh_access_token
    fake.refresh_script = [(500, {...})]  # answers of refresh calls first
    fake.refreshed -> [(old token, new token)]
    fake.profiles["6543"] = {"name": "Mia", "username": "mia", "profile_pic": "https://..."}
    fake.profile_failures = 2   # the next 2 profile GETs answer 500
    fake.profile_delay = 3.0    # seconds before a profile answers (a slow endpoint)
    fake.profile_gate = threading.Event()  # profiles hang until the test sets it

Instagram Login ("Continue with Instagram") has three hosts in Meta's world and
one here, at the paths Parley's settings are pointed to:
    GET  /oauth/authorize?client_id&redirect_uri&state...  302 to redirect_uri with
                                   ?code=&state= (the person said yes)
    POST /oauth/access_token (form) a short-lived token for a code it handed out
    GET  /access_token?grant_type=ig_exchange_token&client_secret&access_token
                                   the long-lived token "IGQ-test-<account>"
    POST /v21.0/me/subscribed_apps?subscribed_fields=...  {"success": true}
    fake.oauth_account = "17841400000000001"   # whose account the person picked
    fake.app_secret = "test-app-secret"        # what the exchanges must carry
    fake.subscribe_status = 200                # or a failure
    fake.subscriptions -> [(token, fields)]

Media Meta's webhooks link to (the lookaside CDN) are served from here too:
    fake.media["/media/pic.jpg"] = b"..."   # GET answers the bytes (200)
    fake.media_failures["/media/pic.jpg"] = 2  # the next 2 GETs answer 503
    fake.media_url("/media/pic.jpg") -> the URL to put in a webhook
    fake.media_requests("/media/pic.jpg") -> how many GETs it had

The user-profile endpoint (GET /<IGSID>?fields=name,username,profile_pic) answers
from fake.profiles (an IGSID it does not know gets a generated profile, its picture
a data: URL so browsers need no network), never from the script, so sends scripted
by a test are not taken by a profile fetch.
"""
import base64
import http.server
import json
import threading
import time
import urllib.parse

ERROR_190 = {"error": {"message": "Error validating access token: Session has expired",
                       "type": "OAuthException", "code": 190, "error_subcode": 463,
                       "fbtrace_id": "AbCdEf"}}


class FakeGraph:
    def __init__(self):
        self.requests = []
        self.script = []
        self.default = (200, None)  # None: {"recipient_id", "message_id"}
        self.delay = 0.0
        self.routes = {}  # path -> (status, body) for api_call targets
        self.tokens = {}  # access token -> (user_id, username) that GET /me answers
        self.revoked = set()  # tokens answered with error 190 wherever they are used
        self.hang = False  # POST .../messages hangs (a send whose outcome is unknown)
        self.released = threading.Event()
        self.refresh_ttl = 5184000
        self.refresh_script = []
        self.refreshed = []
        self.profiles = {}  # IGSID -> profile that GET /<IGSID> answers
        self.profile_failures = 0  # profile GETs still to fail with a 500
        self.profile_delay = 0.0
        self.profile_gate = None  # a threading.Event profile answers wait for (a hang a test ends)
        self.oauth_account = "17841400000000001"
        self.app_secret = "test-app-secret"
        self.oauth_codes = {}  # code -> short-lived token
        self.short_tokens = {}  # short-lived token -> account
        self.subscribe_status = 200
        self.subscriptions = []
        self.media = {}  # path -> bytes a GET answers (Meta's media URLs)
        self.media_failures = {}  # path -> GETs still to answer 503
        self.lock = threading.Lock()
        self.counter = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                route, _, query = self.path.partition("?")
                args = urllib.parse.parse_qs(query)
                auth = self.headers.get("Authorization", "")
                token = args.get("access_token", [""])[0] or (
                    auth[len("Bearer "):] if auth.startswith("Bearer ") else "")
                hang = False
                with fake.lock:
                    fake.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body,
                                          "json": parsed})
                    if route in fake.media and self.command == "GET":
                        failing = fake.media_failures.get(route, 0) > 0
                        if failing:
                            fake.media_failures[route] -= 1
                        data = b"unavailable" if failing else fake.media[route]
                        media_status = 503 if failing else 200
                    else:
                        media_status = None
                    me = route.endswith("/me") and self.command == "GET"
                    profile = fake.profile_id(self.command, self.path)
                    oauth = fake.oauth(self.command, route, args, body, token)
                    if media_status is not None:
                        status = answer = None
                    elif oauth and oauth[0] == 302:
                        location = oauth[1]
                        status = answer = None
                    elif oauth:
                        status, answer = oauth
                    elif token in fake.revoked:
                        status, answer = 400, ERROR_190
                    elif profile:
                        status, answer = fake.profile(profile)
                    elif route.endswith("/refresh_access_token"):
                        status, answer = fake.refresh(token, args)
                    elif me and fake.script:
                        status, answer = fake.script.pop(0)
                    elif me:
                        status, answer = fake.me(self.headers.get("Authorization", ""))
                    elif self.path in fake.routes:
                        status, answer = fake.routes[self.path]
                    elif fake.script:
                        status, answer = fake.script.pop(0)
                    else:
                        status, answer = fake.default
                    fake.counter += 1
                    n = fake.counter
                    fake.requests[-1]["n"] = n  # a send's answer is message_id "m_graph_<n>"
                    delay = fake.delay + (fake.profile_delay if profile else 0)
                    hang = fake.hang and route.endswith("/messages") and self.command == "POST"
                if media_status is not None:
                    self.send_response(media_status)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if hang:
                    fake.released.wait(60)
                    return
                if oauth and oauth[0] == 302:
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if delay:
                    time.sleep(delay)
                gate = fake.profile_gate if profile else None
                if gate is not None:
                    gate.wait(30)
                if answer is None:
                    recipient = (parsed or {}).get("recipient", {}).get("id", "")
                    answer = {"recipient_id": recipient, "message_id": f"m_graph_{n}"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def me(self, authorization):
        """GET /me?fields=user_id,username: the account a token belongs to. A
        token "IGQ-test-<digits>" (or one in self.tokens) is valid; any other is
        refused as Meta refuses it, with error 190."""
        token = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else ""
        if token in self.tokens:
            user_id, username = self.tokens[token]
        elif token.startswith("IGQ-test-") and token[9:].isdigit():
            user_id, username = token[9:], "parley_shop"
        else:
            return 400, {"error": {"message": "Invalid OAuth access token - Cannot parse access token",
                                   "type": "OAuthException", "code": 190,
                                   "fbtrace_id": "AbCdEf"}}
        return 200, {"user_id": user_id, "username": username, "id": "9" + user_id[::-1]}

    def oauth(self, method, route, args, body, token):
        """Instagram Login's endpoints (called with the lock held): (status,
        answer), (302, location), or None for any other request."""
        one = lambda k: args.get(k, [""])[0]
        bad = (400, {"error_type": "OAuthException", "code": 400,
                     "error_message": "Invalid authorization code"})
        if method == "GET" and route == "/oauth/authorize":
            code = f"code-{len(self.oauth_codes) + 1}"
            self.oauth_codes[code] = f"IGQ-short-{len(self.oauth_codes) + 1}"
            sep = "&" if "?" in one("redirect_uri") else "?"
            # Instagram adds the fragment "#_" to the redirect.
            return 302, (one("redirect_uri") + sep +
                         urllib.parse.urlencode({"code": code, "state": one("state")}) + "#_")
        if method == "POST" and route == "/oauth/access_token":
            form = urllib.parse.parse_qs(body.decode())
            f = lambda k: form.get(k, [""])[0]
            code = f("code")
            if (f("grant_type") != "authorization_code" or f("client_secret") != self.app_secret
                    or code not in self.oauth_codes):
                return bad
            short = self.oauth_codes.pop(code)  # a code works once
            self.short_tokens[short] = self.oauth_account
            return 200, {"access_token": short, "user_id": int(self.oauth_account),
                         "permissions": ["instagram_business_basic",
                                         "instagram_business_manage_messages"]}
        if method == "GET" and route == "/access_token":
            if (one("grant_type") != "ig_exchange_token" or one("client_secret") != self.app_secret
                    or token not in self.short_tokens):
                return 400, {"error": {"message": "Invalid OAuth access token", "type": "OAuthException",
                                       "code": 190}}
            return 200, {"access_token": f"IGQ-test-{self.short_tokens.pop(token)}",
                         "token_type": "bearer", "expires_in": 5183944}
        if method == "POST" and route.endswith("/me/subscribed_apps"):
            self.subscriptions.append((token, one("subscribed_fields")))
            if self.subscribe_status != 200:
                return self.subscribe_status, {"error": {"message": "(#10) Application does not have "
                                                                   "permission", "code": 10}}
            return 200, {"success": True}
        return None

    def refresh(self, token, args):
        """GET /refresh_access_token?grant_type=ig_refresh_token&access_token=:
        a new long-lived token for a valid one (called with the lock held)."""
        if self.refresh_script:
            return self.refresh_script.pop(0)
        if args.get("grant_type") != ["ig_refresh_token"] or not token:
            return 400, {"error": {"message": "Unsupported grant type", "code": 100}}
        new = f"{token.split('~')[0]}~r{len(self.refreshed) + 1}"
        self.refreshed.append((token, new))
        return 200, {"access_token": new, "token_type": "bearer", "expires_in": self.refresh_ttl}

    @staticmethod
    def profile_id(method, path):
        """The IGSID of a user-profile request, or None."""
        route, _, query = path.partition("?")
        igsid = route.rsplit("/", 1)[-1]
        if method == "GET" and igsid.isdigit() and query.startswith("fields=name"):
            return igsid
        return None

    def profile(self, igsid):
        """GET /<IGSID>?fields=name,username,profile_pic, as Meta answers it
        (called with the lock held)."""
        if self.profile_failures > 0:
            self.profile_failures -= 1
            return 500, {"error": {"message": "An unexpected error has occurred.", "type": "OAuthException",
                                   "code": 2, "fbtrace_id": "AbCdEf"}}
        if igsid in self.profiles:
            return 200, dict(self.profiles[igsid], id=igsid)
        # The picture is inline, so a browser test shows it without the network.
        pic = ("data:image/svg+xml;base64," + base64.b64encode(
            b"<svg xmlns='http://www.w3.org/2000/svg' width='40' height='40'>"
            b"<rect width='40' height='40' fill='#0c8599'/></svg>").decode())
        return 200, {"name": f"Customer {igsid[-4:]}", "username": f"user_{igsid}",
                     "profile_pic": pic, "id": igsid}

    def profile_requests(self):
        with self.lock:
            return [r for r in self.requests if self.profile_id(r["method"], r["path"])]

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def media_url(self, path):
        return self.base_url + path

    def media_requests(self, path):
        with self.lock:
            return sum(1 for r in self.requests
                       if r["method"] == "GET" and r["path"].partition("?")[0] == path)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        if self.profile_gate is not None:
            self.profile_gate.set()
        self.server.shutdown()
        self.server.server_close()

    def sends(self):
        with self.lock:
            return [r for r in self.requests if r["path"].endswith("/messages")]

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if predicate(self.requests):
                    return True
            time.sleep(0.05)
        return False
