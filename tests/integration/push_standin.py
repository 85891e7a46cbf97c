"""A local stand-in for a Web Push service (RFC 8030), for the server's side of
Web Push: it makes subscriptions the way a browser does (a P-256 key pair and a
16-byte auth secret per subscription), and for every push it receives it checks
the VAPID authorization (RFC 8292: an ES256 JWT whose raw r||s signature
verifies with the key in k, with aud, exp and sub as the RFC asks) and decrypts
the body (RFC 8291 over RFC 8188's aes128gcm) with the subscription's private
key. What it cannot check is a browser's own subscription, which needs a real
push service; this is the server path only."""
import base64
import json
import random
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt(body, ua_private, auth):
    """RFC 8291's receiving side: one aes128gcm record, the sender's key in keyid."""
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    if idlen != 65:
        raise ValueError(f"keyid is {idlen} bytes, not an uncompressed P-256 key")
    as_public = body[21:21 + idlen]
    record = body[21 + idlen:]
    if len(record) > rs:
        raise ValueError("more than one record")
    ua_public = ua_private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    secret = ua_private.exchange(ec.ECDH(), peer)
    ikm = hkdf(auth, secret, b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    plain = AESGCM(cek).decrypt(nonce, record, None).rstrip(b"\x00")
    if not plain.endswith(b"\x02"):
        raise ValueError("the last record's delimiter is not 0x02")
    return plain[:-1]


def check_vapid(header, origin):
    """The claims of a valid 'vapid t=..., k=...' header, else ValueError."""
    if not header.startswith("vapid "):
        raise ValueError(f"not a vapid authorization: {header!r}")
    parts = dict(p.strip().split("=", 1) for p in header[6:].split(","))
    token, key = parts["t"], parts["k"]
    head_b64, claims_b64, sig_b64 = token.split(".")
    head = json.loads(unb64url(head_b64))
    if head != {"typ": "JWT", "alg": "ES256"}:
        raise ValueError(f"JWT header {head}")
    sig = unb64url(sig_b64)
    if len(sig) != 64:
        raise ValueError(f"signature of {len(sig)} bytes: not raw r||s")
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the JWT's signature does not verify with k") from None
    claims = json.loads(unb64url(claims_b64))
    now = time.time()
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r}, not {origin!r}")
    if not now < claims.get("exp", 0) <= now + 24 * 3600:
        raise ValueError(f"exp {claims.get('exp')} is not within 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise ValueError(f"sub {claims.get('sub')!r}")
    return claims, key


class PushStandin:
    """start() it, make subscriptions with subscribe(), read what arrived in pushes."""

    def __init__(self):
        self.subs = {}        # token -> (private key, auth)
        self.answers = {}     # token -> HTTP status to answer (default 201)
        self.hold = 0.0       # seconds to hold each answer (queue bound tests)
        self.jitter = 0.0     # up to this many seconds, at random, before a push counts as
                              # received (the network's paths vary: ordering tests)
        self.pushes = []      # every push received, in arrival order
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.allow = f"127.0.0.1:{self.port}"

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def subscribe(self):
        """A browser's PushSubscription.toJSON() for a new key pair."""
        token = uuid.uuid4().hex
        key = ec.generate_private_key(ec.SECP256R1())
        auth = uuid.uuid4().bytes
        self.subs[token] = (key, auth)
        pub = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.origin}/push/{token}",
                "keys": {"p256dh": b64url(pub), "auth": b64url(auth)}}

    def received(self, endpoint=None):
        with self.lock:
            return [p for p in self.pushes if endpoint is None or p["endpoint"] == endpoint]

    def wait_for(self, cond, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = cond()
            if got:
                return got
            time.sleep(0.02)
        raise AssertionError(f"no push as wanted within {timeout}s; got {self.received()}")

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if standin.jitter:
                    time.sleep(random.uniform(0, standin.jitter))
                token = self.path.rsplit("/", 1)[-1]
                push = {"endpoint": f"{standin.origin}{self.path}",
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "error": None, "payload": None, "claims": None, "key": None}
                status = standin.answers.get(token, 201)
                try:
                    if token not in standin.subs:
                        status = 404
                        raise ValueError("no such subscription")
                    h = push["headers"]
                    if h.get("content-encoding") != "aes128gcm":
                        raise ValueError(f"Content-Encoding {h.get('content-encoding')!r}")
                    if not h.get("ttl", "").isdigit():
                        raise ValueError(f"TTL {h.get('ttl')!r}")
                    if h.get("urgency") not in ("very-low", "low", "normal", "high"):
                        raise ValueError(f"Urgency {h.get('urgency')!r}")
                    push["claims"], push["key"] = check_vapid(h.get("authorization", ""),
                                                              standin.origin)
                    key, auth = standin.subs[token]
                    push["payload"] = json.loads(decrypt(body, key, auth))
                except (ValueError, KeyError) as e:
                    push["error"] = str(e)
                    if status == 201:
                        status = 400
                with standin.lock:
                    standin.pushes.append(push)
                if standin.hold:
                    time.sleep(standin.hold)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
