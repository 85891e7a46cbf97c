"""A test client of end-to-end encryption through Parley's key directory,
written with PyNaCl (libsodium): a device with an Ed25519 identity key, a
signed X25519 prekey and one-time prekeys; an X3DH-style agreement (the
identity key converted to X25519 with crypto_sign_ed25519_pk_to_curve25519)
and messages sealed with XSalsa20-Poly1305 (SecretBox). The server only ever
sees public keys and ciphertext."""
import base64
import hashlib
import json

import nacl.bindings as sodium
from nacl.public import PrivateKey
from nacl.secret import SecretBox
from nacl.signing import SigningKey, VerifyKey


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def dh(priv, pub):
    return sodium.crypto_scalarmult(bytes(priv), pub)


class Device:
    def __init__(self, n_prekeys=20):
        self.identity = SigningKey.generate()
        self.identity_x = self.identity.to_curve25519_private_key()
        self.spk = PrivateKey.generate()
        self.prekeys = {}  # public (base64url) -> PrivateKey
        self.id = None
        self.add_prekeys(n_prekeys)

    def add_prekeys(self, n):
        fresh = []
        for _ in range(n):
            k = PrivateKey.generate()
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
    def initiate(self, bundle):
        """Checks the bundle's signature, agrees on a key with its device and
        returns (key, header): the header tells the responder which keys."""
        ik_ed = unb64(bundle["identity_key"])
        spk = unb64(bundle["signed_prekey"])
        VerifyKey(ik_ed).verify(spk, unb64(bundle["signed_prekey_signature"]))
        ik_x = sodium.crypto_sign_ed25519_pk_to_curve25519(ik_ed)
        eph = PrivateKey.generate()
        parts = [dh(self.identity_x, spk), dh(eph, ik_x), dh(eph, spk)]
        if bundle.get("one_time_prekey"):
            parts.append(dh(eph, unb64(bundle["one_time_prekey"])))
        key = hashlib.blake2b(b"".join(parts), digest_size=32, person=b"parley-x3dh-test").digest()
        header = {"ik": b64(bytes(self.identity.verify_key)), "ek": b64(bytes(eph.public_key)),
                  "opk": bundle.get("one_time_prekey")}
        return key, header

    # ---- X3DH, responder side ----
    def respond(self, header):
        ik_x = sodium.crypto_sign_ed25519_pk_to_curve25519(unb64(header["ik"]))
        ek = unb64(header["ek"])
        parts = [dh(self.spk, ik_x), dh(self.identity_x, ek), dh(self.spk, ek)]
        if header.get("opk"):
            parts.append(dh(self.prekeys.pop(header["opk"]), ek))  # used once
        return hashlib.blake2b(b"".join(parts), digest_size=32, person=b"parley-x3dh-test").digest()


def seal(key, header, plaintext):
    """A per-device ciphertext: the X3DH header in the clear, the message sealed."""
    box = SecretBox(key).encrypt(plaintext.encode())
    return b64(json.dumps({"h": header, "c": b64(bytes(box))}).encode())


def open_sealed(device, blob):
    env = json.loads(unb64(blob))
    key = device.respond(env["h"])
    return SecretBox(key).decrypt(unb64(env["c"])).decode()
