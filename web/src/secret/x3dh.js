// The end-to-end cryptography of secret chats (docs/API.md, Secret chats), on WebCrypto
// alone: an Ed25519 identity key whose X25519 twin does the key agreement (as libsodium's
// crypto_sign_ed25519_sk_to_curve25519), X3DH as Signal's specification has it (HKDF-SHA256
// over DH1..DH4) and messages sealed with AES-256-GCM. No storage and no network here:
// keys in, bytes out, so node --test runs it (web/src/secret/test/).

const subtle = () => globalThis.crypto.subtle;
const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

export const INFO = 'Parley X3DH v1';
const ED_PKCS8 = hex('302e020100300506032b657004220420');
const X_PKCS8 = hex('302e020100300506032b656e04220420');
const P = 2n ** 255n - 19n;

function hex(s) {
  return Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Unpadded base64url, as keys travel (docs/API.md, Key directory). */
export function b64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function unb64(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function key32(s, what) {
  const k = unb64(s);
  if (k.length !== 32) throw new Error(`${what} is not 32 bytes`);
  return k;
}

function modpow(b, e) {
  let r = 1n;
  b %= P;
  for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}

/** An Ed25519 public key's X25519 twin: u = (1 + y) / (1 - y) mod p (RFC 7748, 4.1),
 * what crypto_sign_ed25519_pk_to_curve25519 computes. */
export function edToX(pub) {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(pub[i]);
  y &= (1n << 255n) - 1n;
  if (y >= P || y === 1n) throw new Error('not an Ed25519 public key');
  let u = ((1n + y) * modpow((1n - y + P) % P, P - 2n)) % P;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, u >>= 8n) out[i] = Number(u & 0xffn);
  return out;
}

/**
 * A device identity from a 32-byte Ed25519 seed: {sign, dh, pub}. `sign` (Ed25519) and
 * `dh` (X25519, the first half of SHA-512(seed), as libsodium derives it) are
 * non-extractable; `pub` is the raw Ed25519 public key. The caller wipes the seed.
 */
export async function identityFromSeed(seed) {
  const pk8 = concat(ED_PKCS8, seed);
  const tmp = await subtle().importKey('pkcs8', pk8, { name: 'Ed25519' }, true, ['sign']);
  const pub = unb64((await subtle().exportKey('jwk', tmp)).x);
  const sign = await subtle().importKey('pkcs8', pk8, { name: 'Ed25519' }, false, ['sign']);
  const h = new Uint8Array(await subtle().digest('SHA-512', seed)).slice(0, 32);
  const dh = await subtle().importKey('pkcs8', concat(X_PKCS8, h), { name: 'X25519' }, false, ['deriveBits']);
  h.fill(0);
  pk8.fill(0);
  return { sign, dh, pub };
}

/** A fresh identity (the seed exists only for the call). */
export async function newIdentity() {
  const seed = globalThis.crypto.getRandomValues(new Uint8Array(32));
  try {
    return await identityFromSeed(seed);
  } finally {
    seed.fill(0);
  }
}

/** A fresh X25519 key pair: {priv (non-extractable), pub (raw 32 bytes)}. */
export async function newX25519() {
  const kp = await subtle().generateKey({ name: 'X25519' }, false, ['deriveBits']);
  return { priv: kp.privateKey, pub: new Uint8Array(await subtle().exportKey('raw', kp.publicKey)) };
}

/** An X25519 key pair from 32 raw private bytes (test vectors). */
export async function x25519FromPrivate(raw) {
  const pk8 = concat(X_PKCS8, raw);
  const tmp = await subtle().importKey('pkcs8', pk8, { name: 'X25519' }, true, ['deriveBits']);
  const pub = unb64((await subtle().exportKey('jwk', tmp)).x);
  return { priv: await subtle().importKey('pkcs8', pk8, { name: 'X25519' }, false, ['deriveBits']), pub };
}

/** The identity's Ed25519 signature of the signed prekey's raw bytes. */
export async function signPrekey(identity, spkPub) {
  return new Uint8Array(await subtle().sign({ name: 'Ed25519' }, identity.sign, spkPub));
}

async function dh(priv, pubRaw) {
  const pub = await subtle().importKey('raw', pubRaw, { name: 'X25519' }, false, []);
  return new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: pub }, priv, 256));
}

/** SK = HKDF-SHA256(F || DH1..DH4), F = 32 0xFF bytes, salt 32 zero bytes, info INFO,
 * as a non-extractable AES-256-GCM key. */
async function kdf(parts) {
  const ikm = concat(new Uint8Array(32).fill(0xff), ...parts);
  const base = await subtle().importKey('raw', ikm, 'HKDF', false, ['deriveKey']);
  ikm.fill(0);
  parts.forEach((p) => p.fill(0));
  return subtle().deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: te.encode(INFO) },
    base, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

/**
 * Initiator's X3DH with a bundle of the key directory: checks the signed prekey's
 * signature, then returns a session {key, ad, header}: `header` ({ik, ek, spk, opk})
 * goes in the clear beside every message sealed with `key`.
 */
export async function initiate(me, bundle) {
  const ik = key32(bundle.identity_key, 'identity_key');
  const spk = key32(bundle.signed_prekey, 'signed_prekey');
  const sig = unb64(bundle.signed_prekey_signature);
  const vk = await subtle().importKey('raw', ik, { name: 'Ed25519' }, false, ['verify']);
  if (!(await subtle().verify({ name: 'Ed25519' }, vk, sig, spk))) throw new Error('the signed prekey does not verify');
  const eph = await newX25519();
  const parts = [await dh(me.dh, spk), await dh(eph.priv, edToX(ik)), await dh(eph.priv, spk)];
  const opk = bundle.one_time_prekey || null;
  if (opk) parts.push(await dh(eph.priv, key32(opk, 'one_time_prekey')));
  const header = { ik: b64(me.pub), ek: b64(eph.pub), spk: bundle.signed_prekey, opk };
  return { key: await kdf(parts), ad: concat(me.pub, ik), header };
}

/**
 * Responder's X3DH: `spk` and `opk` are this device's private X25519 keys the header
 * names (opk null when it named none). Returns {key, ad}.
 */
export async function respond(me, spk, opk, header) {
  const ik = key32(header.ik, 'ik');
  const ek = key32(header.ek, 'ek');
  const parts = [await dh(spk, edToX(ik)), await dh(me.dh, ek), await dh(spk, ek)];
  if (opk) parts.push(await dh(opk, ek));
  return { key: await kdf(parts), ad: concat(ik, me.pub) };
}

/** One device's ciphertext: base64url of {"v":1,"h":header,"n":nonce,"c":sealed}. */
export async function seal(session, text) {
  const n = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const c = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: n, additionalData: session.ad },
    session.key, te.encode(text)));
  return b64(te.encode(JSON.stringify({ v: 1, h: session.header, n: b64(n), c: b64(c) })));
}

/** The envelope of a ciphertext: {h, n, c}, or throws on anything not of the format. */
export function envelope(blob) {
  const env = JSON.parse(td.decode(unb64(blob)));
  const h = env && env.h;
  if (env.v !== 1 || !h || typeof h.ik !== 'string' || typeof h.ek !== 'string' || typeof env.n !== 'string' ||
      typeof env.c !== 'string' || (h.opk != null && typeof h.opk !== 'string')) throw new Error('not a v1 envelope');
  return env;
}

/** Opens an envelope with its session ({key, ad}); throws when it does not authenticate. */
export async function open(session, env) {
  const plain = await subtle().decrypt({ name: 'AES-GCM', iv: unb64(env.n), additionalData: session.ad },
    session.key, unb64(env.c));
  return td.decode(new Uint8Array(plain));
}

/**
 * The safety number of two users (60 digits in 12 groups of 5): each half is SHA-512
 * of a version, the user's id and the user's device identity keys (sorted), its first 30
 * bytes read as six 5-byte numbers mod 100000; the halves are ordered by user id, so both
 * ends show the same number when they see the same keys.
 */
export async function safetyNumber(a, b) {
  const half = async ({ userId, keys }) => {
    const sorted = [...keys].sort();
    const h = new Uint8Array(await subtle().digest('SHA-512',
      concat(te.encode('parley-safety-v1\0'), te.encode(userId), new Uint8Array(1), ...sorted.map(unb64))));
    const groups = [];
    for (let i = 0; i < 30; i += 5) {
      let v = 0;
      for (let j = 0; j < 5; j++) v = v * 256 + h[i + j];
      groups.push(String(v % 100000).padStart(5, '0'));
    }
    return groups;
  };
  const [x, y] = a.userId < b.userId ? [a, b] : [b, a];
  return [...(await half(x)), ...(await half(y))];
}

/** The short fingerprint of one identity key: its SHA-256's first 16 bytes, in hex pairs. */
export async function fingerprint(identityKey) {
  const h = new Uint8Array(await subtle().digest('SHA-256', unb64(identityKey))).slice(0, 16);
  return Array.from(h, (x) => x.toString(16).padStart(2, '0')).join(' ').toUpperCase();
}
