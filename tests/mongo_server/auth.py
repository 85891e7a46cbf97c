"""SCRAM-SHA-256 login (RFC 5802 with RFC 7677's hash) as MongoDB speaks it:
saslStart / saslContinue carrying the SCRAM messages as BinData, speculative
authentication inside the handshake hello, MongoDB's 15000 iterations and
error 18 "Authentication failed." for every failure (unknown user included).
Owns the users' derived keys (never the passwords) and each connection's
conversation; called under the backend's lock."""
import base64
import hashlib
import hmac
import os

from bson.binary import Binary
from pymongo.saslprep import saslprep

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 15000  # MongoDB's scramSHA256IterationCount default
NONCE_BYTES = 24


class AuthError(Exception):
    """Ends the conversation; the command answers {ok: 0, code, errmsg}."""

    def __init__(self, code=18, errmsg="Authentication failed."):
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg


def _hmac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


class Credential:
    """What MongoDB stores for a SCRAM-SHA-256 user: salt, iterations,
    StoredKey and ServerKey."""

    def __init__(self, password, salt=None, iterations=ITERATIONS):
        self.salt = salt or os.urandom(28)
        self.iterations = iterations
        salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"),
                                     self.salt, iterations)
        self.stored_key = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
        self.server_key = _hmac(salted, b"Server Key")


def read_users(path):
    """(name, password) pairs from a file of "name:password" lines (blank
    lines and lines starting with # are skipped)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            name, sep, password = line.partition(":")
            if not sep or not name:
                raise ValueError("%s:%d: expected name:password" % (path, n))
            out.append((name, password))
    return out


def load_users(path):
    """The admin database's users of a users file, as credentials."""
    return {("admin", name): Credential(password) for name, password in read_users(path)}


def _attributes(text):
    """"k=v,k=v" into an ordered list of (k, v); values may contain '='."""
    out = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise AuthError(17, "Invalid SCRAM message: %r" % text)
        out.append((part[0], part[2:]))
    return out


def _username(raw):
    """saslname of RFC 5802: ',' travels as '=2C' and '=' as '=3D'."""
    out = []
    i = 0
    while i < len(raw):
        if raw[i] == "=":
            code = raw[i + 1:i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                raise AuthError(17, "Invalid SCRAM username encoding")
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def _payload(body):
    p = body.get("payload")
    if isinstance(p, bytes):
        data = bytes(p)
    elif isinstance(p, str):
        data = p.encode("utf-8")
    else:
        raise AuthError(14, "BSON field 'payload' is the wrong type")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthError(17, "Invalid SCRAM message encoding") from None


class Conversation:
    """One login in progress on one connection."""

    def __init__(self, cid, db, name, cred, auth_prefix, nonce, gs2, skip_empty):
        self.id = cid
        self.db = db
        self.name = name
        self.cred = cred
        self.auth_prefix = auth_prefix
        self.nonce = nonce
        self.gs2 = gs2
        self.skip_empty = skip_empty
        self.step = 1


class Authenticator:
    def __init__(self, users):
        self.users = users  # {(db, name): Credential}
        self.conversations = 0

    @staticmethod
    def server_nonce():
        """The server's part of the nonce: random, printable, no comma."""
        return base64.b64encode(os.urandom(NONCE_BYTES)).decode("ascii")

    def mechanisms_for(self, db_dot_user):
        """hello's saslSupportedMechs: the user's mechanisms, or None when
        there is no such user (the field is then left out, as MongoDB does)."""
        if not isinstance(db_dot_user, str) or "." not in db_dot_user:
            return None
        db, name = db_dot_user.split(".", 1)
        return [MECHANISM] if (db, name) in self.users else None

    def start(self, conn, db, body):
        """saslStart: answers the server-first message."""
        conn.sasl = None
        mech = body.get("mechanism")
        if mech == "SCRAM-SHA-1":
            # Only SCRAM-SHA-256 credentials are kept, as createUser with
            # mechanisms: ["SCRAM-SHA-256"] would.
            raise AuthError()
        if mech != MECHANISM:
            raise AuthError(2, "Received authentication for mechanism %s which is not enabled"
                            % mech)
        text = _payload(body)
        # gs2-header: channel binding flag, authzid, then client-first-bare.
        flag, _, rest = text.partition(",")
        authzid, _, bare = rest.partition(",")
        if flag not in ("n", "y") or authzid or not bare:
            raise AuthError(17, "Invalid SCRAM client-first message")
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise AuthError(17, "Invalid SCRAM client-first message")
        if any(k == "m" for k, _ in attrs):
            raise AuthError(17, "SCRAM mandatory extensions are not supported")
        name = _username(attrs[0][1])
        cred = self.users.get((db, name))
        if cred is None:
            raise AuthError()
        nonce = attrs[1][1] + self.server_nonce()
        server_first = "r=%s,s=%s,i=%d" % (nonce, base64.b64encode(cred.salt).decode("ascii"),
                                           cred.iterations)
        self.conversations += 1
        opts = body.get("options") if isinstance(body.get("options"), dict) else {}
        conn.sasl = Conversation(self.conversations, db, name, cred,
                                 bare + "," + server_first, nonce,
                                 text[:len(text) - len(bare)],
                                 bool(opts.get("skipEmptyExchange")))
        return {"conversationId": conn.sasl.id, "done": False,
                "payload": Binary(server_first.encode("ascii"))}

    def proceed(self, conn, db, body):
        """saslContinue: checks the client proof, answers the server
        signature; the login completes here or on the empty last exchange."""
        conv = conn.sasl
        if conv is None or body.get("conversationId") != conv.id or db != conv.db:
            conn.sasl = None
            raise AuthError(17, "No SASL session state found")
        text = _payload(body)
        if conv.step == 2:
            conn.sasl = None
            if text:
                raise AuthError()
            conn.user = (conv.db, conv.name)
            return {"conversationId": conv.id, "done": True, "payload": Binary(b"")}
        try:
            without_proof, _, proof_b64 = text.rpartition(",p=")
            attrs = dict(_attributes(without_proof))
            proof = base64.b64decode(proof_b64, validate=True)
            channel = base64.b64decode(attrs.get("c", ""), validate=True).decode("utf-8")
        except (AuthError, ValueError):
            conn.sasl = None
            raise AuthError() from None
        if channel != conv.gs2 or attrs.get("r") != conv.nonce or len(proof) != 32:
            conn.sasl = None
            raise AuthError()
        auth_message = (conv.auth_prefix + "," + without_proof).encode("utf-8")
        signature = _hmac(conv.cred.stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), conv.cred.stored_key):
            conn.sasl = None
            raise AuthError()
        verifier = "v=" + base64.b64encode(_hmac(conv.cred.server_key, auth_message)).decode()
        if conv.skip_empty:
            conn.sasl = None
            conn.user = (conv.db, conv.name)
            return {"conversationId": conv.id, "done": True,
                    "payload": Binary(verifier.encode("ascii"))}
        conv.step = 2
        return {"conversationId": conv.id, "done": False,
                "payload": Binary(verifier.encode("ascii"))}
