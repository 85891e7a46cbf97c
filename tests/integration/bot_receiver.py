"""A bot webhook receiver for the bots tests (integration and browser): a local HTTP
server that checks each delivery's X-Parley-Signature with its bot's signing secret
and records what arrives."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A webhook receiver: answers each path with the statuses queued for it
    (then 200), checks X-Parley-Signature with the bot's secret, records each
    delivery as {path, bot, delivery, body, signed}."""

    def __init__(self):
        self.secrets = {}  # bot id -> signing secret
        self.plans = {}  # path -> [status, ...] answered in turn, then 200
        self.got = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                bot = self.headers.get("X-Parley-Bot")
                secret = receiver.secrets.get(bot, "")
                want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    plan = receiver.plans.get(self.path, [])
                    status = plan.pop(0) if plan else 200
                    receiver.got.append({
                        "path": self.path, "bot": bot, "status": status,
                        "delivery": self.headers.get("X-Parley-Delivery"),
                        "signed": hmac.compare_digest(want, self.headers.get("X-Parley-Signature", "")),
                        "body": json.loads(body)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path):
        with self.lock:
            return [g for g in self.got if g["path"] == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
