// The secret chats' cryptography (x3dh.js) on Node's WebCrypto: X3DH both ways with and
// without a one-time prekey, a tampered message refused, the Ed25519 -> X25519 map and a
// message sealed by the Python/PyNaCl client (tests/integration/e2e_client.py) opened.
// Node builds without Ed25519 or X25519 in WebCrypto skip, saying so.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  b64, edToX, envelope, fingerprint, identityFromSeed, initiate, newIdentity, newX25519, open, respond,
  safetyNumber, seal, signPrekey, unb64, x25519FromPrivate,
} from '../x3dh.js';

// From tests/integration/e2e_client.py with fixed keys (seed 00..1f, signed prekey 0x11*32,
// one-time prekey 0x22*32; the initiator's seed 0x33*32, ephemeral 0x44*32, nonce 0x55*12).
const VECTOR = {
  responder_seed: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8',
  responder_spk: 'ERERERERERERERERERERERERERERERERERERERERERE',
  responder_opk: 'IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI',
  responder_identity: 'A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg',
  responder_identity_x: 'RwHQhIhFH1RaQJ-1iuPlhYHKQKw_fxFGmM1x3qxzygE',
  plaintext: 'the eagle lands at midnight ✓',
  ciphertext: 'eyJ2IjogMSwgImgiOiB7ImlrIjogIkY4dDUteXRCSVBLeDdHWGtHWTF1Q0xLT2dUX3JBZVNrQUlPYmhlR0FnTTQiLCAiZWsiOiAiX3k3a1ZnSHNHMmN4REhlUVFFV0ZybWx6TWU3aHdmalBKQmx6SEJfX1BtcyIsICJzcGsiOiAiZTA2UW03NV9fa1RFWmFJZ0EzMWdqdU5ZbDlNZS1YTHdmM1NKTExEM1B4TSIsICJvcGsiOiAiRDZwb1R0S0laN2xfU21vdDdsMzR6cGRPZHJjQmpqOGlvY1RQSm5oWER5QSJ9LCAibiI6ICJWVlZWVlZWVlZWVlZWVlZWIiwgImMiOiAieFBnekFiUjVjWDV1NEQtQ3UxQ1dkLUllVXdISTIzT0JKcjd0QzJaWGg0Q0hZXzRxajk4aFA0QXVnQ2ZMalEwIn0',
};

async function curvesMissing() {
  try {
    await globalThis.crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    await globalThis.crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
    return false;
  } catch {
    return `this Node's WebCrypto lacks Ed25519 or X25519 (${process.version})`;
  }
}
const skip = await curvesMissing();

/** A device as the key directory would hand it out: private keys and its bundle. */
async function device() {
  const identity = await newIdentity();
  const spk = await newX25519();
  const opk = await newX25519();
  const bundle = {
    identity_key: b64(identity.pub), signed_prekey: b64(spk.pub),
    signed_prekey_signature: b64(await signPrekey(identity, spk.pub)), one_time_prekey: b64(opk.pub),
  };
  return { identity, spk, opk, bundle };
}

test('base64url is unpadded and refuses other alphabets', () => {
  assert.equal(b64(Uint8Array.of(0xfb, 0xff)), '-_8');
  assert.deepEqual(unb64('-_8'), Uint8Array.of(0xfb, 0xff));
  assert.throws(() => unb64('ab+/'));
});

test('edToX is libsodium crypto_sign_ed25519_pk_to_curve25519', () => {
  assert.equal(b64(edToX(unb64(VECTOR.responder_identity))), VECTOR.responder_identity_x);
  assert.throws(() => edToX(Uint8Array.of(1, ...new Array(31).fill(0))), /not an Ed25519/);
});

test('X3DH both ways, with and without a one-time prekey', { skip }, async () => {
  const alice = await device();
  const bob = await device();
  const s = await initiate(alice.identity, bob.bundle);
  assert.equal(s.header.opk, bob.bundle.one_time_prekey);
  assert.equal(s.header.ik, alice.bundle.identity_key);
  const blob = await seal(s, 'hello Bob');
  assert.ok(!Buffer.from(unb64(blob)).toString().includes('hello'));
  const env = envelope(blob);
  const r = await respond(bob.identity, bob.spk.priv, bob.opk.priv, env.h);
  assert.equal(await open(r, env), 'hello Bob');
  // The session goes on: a second message under the same header and key.
  assert.equal(await open(r, envelope(await seal(s, 'again'))), 'again');

  // Out of one-time prekeys: DH1..DH3 only; the responder must not add one.
  const s2 = await initiate(bob.identity, { ...alice.bundle, one_time_prekey: null });
  const env2 = envelope(await seal(s2, 'no prekey'));
  assert.equal(env2.h.opk, null);
  assert.equal(await open(await respond(alice.identity, alice.spk.priv, null, env2.h), env2), 'no prekey');
  await assert.rejects(open(await respond(alice.identity, alice.spk.priv, alice.opk.priv, env2.h), env2));
});

test('a tampered message or bundle is refused', { skip }, async () => {
  const alice = await device();
  const bob = await device();
  const s = await initiate(alice.identity, bob.bundle);
  const env = envelope(await seal(s, 'hello'));
  const r = await respond(bob.identity, bob.spk.priv, bob.opk.priv, env.h);
  const c = unb64(env.c);
  c[0] ^= 1;
  await assert.rejects(open(r, { ...env, c: b64(c) }));
  // Another identity claimed in the header changes the associated data and the key.
  const forged = await respond(bob.identity, bob.spk.priv, bob.opk.priv, { ...env.h, ik: bob.bundle.identity_key });
  await assert.rejects(open(forged, env));
  await assert.rejects(initiate(alice.identity, { ...bob.bundle, signed_prekey: alice.bundle.signed_prekey }), /does not verify/);
  assert.throws(() => envelope(b64(new TextEncoder().encode('{"v":2}'))), /v1/);
});

test('a message sealed by the PyNaCl client opens', { skip }, async () => {
  const me = await identityFromSeed(unb64(VECTOR.responder_seed));
  assert.equal(b64(me.pub), VECTOR.responder_identity);
  const spk = await x25519FromPrivate(unb64(VECTOR.responder_spk));
  const opk = await x25519FromPrivate(unb64(VECTOR.responder_opk));
  const env = envelope(VECTOR.ciphertext);
  assert.equal(env.h.spk, b64(spk.pub));
  assert.equal(env.h.opk, b64(opk.pub));
  assert.equal(await open(await respond(me, spk.priv, opk.priv, env.h), env), VECTOR.plaintext);
});

test('both ends compute the same safety number; a new key changes it', async () => {
  const a = { userId: 'u1', keys: ['AAAA', 'BBBB'] };
  const b = { userId: 'u2', keys: ['CCCC'] };
  const n = await safetyNumber(a, b);
  assert.equal(n.length, 12);
  assert.ok(n.every((g) => /^\d{5}$/.test(g)));
  assert.deepEqual(await safetyNumber(b, { ...a, keys: ['BBBB', 'AAAA'] }), n);
  assert.notDeepEqual(await safetyNumber(a, { ...b, keys: ['CCCC', 'DDDD'] }), n);
  assert.match(await fingerprint('AAAA'), /^([0-9A-F]{2} ){15}[0-9A-F]{2}$/);
});
