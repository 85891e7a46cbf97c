"""Optional snapshot of the test server's data (--data-file), so a test can
stop the stand-in and start it again with its data, as a real mongod keeps
its files across a restart. A stream of BSON records: one per collection
(with its indexes) and one per document. Saved once at a clean stop, loaded
once at start; both run under the server's lock."""
import os

import bson

import uniques
import wire


def _collections(client):
    for db_name, db_store in list(client._store._databases.items()):
        for coll_name, coll_store in list(db_store._collections.items()):
            if coll_store.is_created:
                yield db_name, coll_name, coll_store


def save(backend, path):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with backend.lock, open(tmp, "wb") as f:
        for db_name, coll_name, store in _collections(backend.client):
            indexes = [{"name": name, "spec": dict(ix, key=[list(k) for k in ix["key"]])}
                       for name, ix in store.indexes.items()]
            f.write(bson.encode({"t": "coll", "db": db_name, "coll": coll_name,
                                 "indexes": indexes}, codec_options=wire.CODEC))
            for doc in list(store.documents):
                f.write(bson.encode({"t": "doc", "db": db_name, "coll": coll_name, "doc": doc},
                                    codec_options=wire.CODEC))
    os.replace(tmp, path)


def load(backend, path):
    """Load a snapshot written by save(); a missing file means start empty."""
    if not os.path.exists(path):
        return 0
    n = 0
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    with backend.lock:
        while pos < len(data):
            size = int.from_bytes(data[pos:pos + 4], "little")
            rec = wire.decode(data[pos:pos + size])
            pos += size
            coll = backend.client[rec["db"]][rec["coll"]]
            if rec["t"] == "coll":
                coll._store.create()
                for ix in rec["indexes"]:
                    spec = dict(ix["spec"], key=[tuple(k) for k in ix["spec"]["key"]])
                    coll._store.create_index(ix["name"], spec)
            else:
                doc = rec["doc"]
                coll._store[uniques._id_key(doc["_id"])] = doc
                n += 1
    return n

