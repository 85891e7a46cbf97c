// Where a browser keeps its secret-chat keys: one IndexedDB database per user
// (`parley-e2e:<user id>`), holding non-extractable CryptoKeys as IndexedDB stores them
// (structured clones: the key material never reaches JavaScript). Stores: `meta` (the
// device: id, identity and signed prekey), `prekeys` (one-time prekey public -> private),
// `out` (peer device id -> sending session), `in` (ephemeral key -> receiving session)
// and `sent` (message id -> the text this browser sent, which it has no ciphertext of).

const STORES = ['meta', 'prekeys', 'out', 'in', 'sent'];

function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Opens (creating on first use) the user's key database. */
export async function openKeystore(userId) {
  const req = indexedDB.open(`parley-e2e:${userId}`, 1);
  req.onupgradeneeded = () => {
    for (const name of STORES) if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name);
  };
  const db = await done(req);
  const tx = (name, mode, fn) => new Promise((resolve, reject) => {
    const t = db.transaction(name, mode);
    const out = fn(t);
    t.oncomplete = () => resolve(out && 'result' in out ? out.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('aborted'));
  });
  return {
    get: (name, key) => tx(name, 'readonly', (t) => t.objectStore(name).get(key)),
    put: (name, key, value) => tx(name, 'readwrite', (t) => { t.objectStore(name).put(value, key); }),
    del: (name, key) => tx(name, 'readwrite', (t) => { t.objectStore(name).delete(key); }),
    /** Several values of one store in one transaction. */
    putMany: (name, entries) => tx(name, 'readwrite', (t) => {
      for (const [k, v] of entries) t.objectStore(name).put(v, k);
    }),
    all: (name) => new Promise((resolve, reject) => {
      const out = new Map();
      const t = db.transaction(name, 'readonly');
      const cur = t.objectStore(name).openCursor();
      cur.onsuccess = () => {
        const c = cur.result;
        if (!c) return;
        out.set(c.key, c.value);
        c.continue();
      };
      t.oncomplete = () => resolve(out);
      t.onerror = () => reject(t.error);
    }),
    count: (name) => tx(name, 'readonly', (t) => t.objectStore(name).count()),
    /** Forgets every key (a device the server no longer knows starts over). */
    clear: () => tx(STORES, 'readwrite', (t) => { for (const n of STORES) t.objectStore(n).clear(); }),
    close: () => db.close(),
  };
}
