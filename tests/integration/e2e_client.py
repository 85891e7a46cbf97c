"""A test client of end-to-end encryption through Parley's key directory,
written with PyNaCl (libsodium): a device with an Ed25519 identity key, a
signed X25519 prekey and one-time prekeys; an X3DH agreement as Signal's
specification has it (the identity key converted to X25519 with
crypto_sign_ed25519_pk_to_curve25519, the key HKDF-SHA256 over DH1..DH4) and
messages sealed with AES-256-GCM, associated data the two identity keys: the
format of docs/API.md (Secret chats) that the web client (web/src/secret/)
speaks too. The server only ever sees public keys and ciphertext."""
import base64
import json
import os

import nacl.bindings as sodium
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

INFO = b"Parley X3DH v1"


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def dh(priv, pub):
    return sodium.crypto_scalarmult(bytes(priv), pub)


def kdf(parts):
    """SK = HKDF-SHA256(F || DH1 || DH2 || DH3 [|| DH4]), F 32 0xFF bytes, salt 32
    zero bytes, info "Parley X3DH v1" (Signal's X3DH, section 2.2)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"\0" * 32,
                info=INFO).derive(b"\xff" * 32 + b"".join(parts))


class Device:
    def __init__(self, n_prekeys=20, seed=None, spk=None):
        self.identity = SigningKey(seed) if seed else SigningKey.generate()
        self.identity_x = self.identity.to_curve25519_private_key()
        self.spk = PrivateKey(spk) if spk else PrivateKey.generate()
        self.prekeys = {}  # public (base64url) -> PrivateKey
        self.id = None
        self.add_prekeys(n_prekeys)

    def add_prekeys(self, n, raw=()):
        fresh = []
        for i in range(n):
            k = PrivateKey(raw[i]) if i < len(raw) else PrivateKey.generate()
            self.prekeys[b64(bytes(k.public_key))] = k
            fresh.append(b64(bytes(k.public_key)))
        return fresh

    def signed_prekey(self):
        raw = bytes(self.spk.public_key)
        return {"key": b64(raw), "signature": b64(self.identity.sign(raw).signature)}

    def registration(self, name="test device"):
        return {"name": name, "identity_key": b64(bytes(self.identity.verify_key)),
                "signed_prekey": self.signed_prekey(), "one_time_prekeys": list(self.prekeys)}

    # ---- X3DH, initiator side ----
    def initiate(self, bundle, eph=None):
        """Checks the bundle's signature, agrees on a key with its device and
        returns (key, header): the key is (SK, associated data), the header tells
        the responder which keys."""
        ik_ed = unb64(bundle["identity_key"])
        spk = unb64(bundle["signed_prekey"])
        VerifyKey(ik_ed).verify(spk, unb64(bundle["signed_prekey_signature"]))
        ik_x = sodium.crypto_sign_ed25519_pk_to_curve25519(ik_ed)
        eph = eph or PrivateKey.generate()
        parts = [dh(self.identity_x, spk), dh(eph, ik_x), dh(eph, spk)]
        if bundle.get("one_time_prekey"):
            parts.append(dh(eph, unb64(bundle["one_time_prekey"])))
        header = {"ik": b64(bytes(self.identity.verify_key)), "ek": b64(bytes(eph.public_key)),
                  "spk": bundle["signed_prekey"], "opk": bundle.get("one_time_prekey")}
        return (kdf(parts), bytes(self.identity.verify_key) + ik_ed), header

    # ---- X3DH, responder side ----
    def respond(self, header):
        if header.get("spk") not in (None, b64(bytes(self.spk.public_key))):
            raise ValueError("not this device's signed prekey")
        ik_x = sodium.crypto_sign_ed25519_pk_to_curve25519(unb64(header["ik"]))
        ek = unb64(header["ek"])
        parts = [dh(self.spk, ik_x), dh(self.identity_x, ek), dh(self.spk, ek)]
        if header.get("opk"):
            parts.append(dh(self.prekeys.pop(header["opk"]), ek))  # used once
        return kdf(parts), unb64(header["ik"]) + bytes(self.identity.verify_key)


def seal(key, header, plaintext, nonce=None):
    """A per-device ciphertext: the X3DH header in the clear, the message sealed
    with AES-256-GCM under SK (a random 12-byte nonce; associated data the
    sender's then the recipient's Ed25519 identity key)."""
    sk, ad = key
    nonce = nonce or os.urandom(12)
    sealed = AESGCM(sk).encrypt(nonce, plaintext.encode(), ad)
    return b64(json.dumps({"v": 1, "h": header, "n": b64(nonce), "c": b64(sealed)}).encode())


def open_sealed(device, blob):
    env = json.loads(unb64(blob))
    assert env["v"] == 1
    sk, ad = device.respond(env["h"])
    return AESGCM(sk).decrypt(unb64(env["n"]), unb64(env["c"]), ad).decode()
