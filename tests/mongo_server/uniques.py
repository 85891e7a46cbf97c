"""Unique index enforcement for the test server: replaces mongomock's
Collection._ensure_uniques (a full scan per write, O(n^2) over a batch) with
hash maps kept per collection, and reports duplicates the way MongoDB does
(E11000 errmsg, keyPattern, keyValue). Also checks a new unique index against
existing documents, honouring sparse and partialFilterExpression.
Called only under the server's global lock."""
import datetime
import itertools

from bson.objectid import ObjectId
from mongomock import DuplicateKeyError
from mongomock import collection as mm_collection
from mongomock.filtering import filter_applies
from mongomock.helpers import hashdict

_MISSING = object()


def _values(doc, path):
    """Index keys of one field: array elements are indexed one by one
    (multikey); a missing field indexes as null."""
    cur = [doc]
    for part in path.split("."):
        nxt = []
        for v in cur:
            if isinstance(v, dict):
                if part in v:
                    nxt.append(v[part])
            elif isinstance(v, list):
                if part.isdigit() and int(part) < len(v):
                    nxt.append(v[int(part)])
                else:
                    nxt.extend(e[part] for e in v if isinstance(e, dict) and part in e)
        cur = nxt
    if not cur:
        return [_MISSING]
    out = []
    for v in cur:
        if isinstance(v, list):
            out.extend(v if v else [None])
        else:
            out.append(v)
    return out


def _hashable(v):
    """Equal in MongoDB's order <=> equal here; bools kept apart from 1 and 0."""
    if v is _MISSING or v is None:
        return ("null",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, dict):
        return ("doc", tuple((k, _hashable(x)) for k, x in v.items()))
    if isinstance(v, list):
        return ("arr", tuple(_hashable(x) for x in v))
    try:
        hash(v)
    except TypeError:
        return ("repr", repr(v))
    return v


def _doc_keys(index, doc):
    """The set of index keys doc contributes to index, or an empty set when
    the index does not cover doc (sparse, partial filter)."""
    fields = [k for k, _ in index["key"]]
    per_field = [_values(doc, f) for f in fields]
    if index.get("sparse") and all(vals == [_MISSING] for vals in per_field):
        return frozenset()
    pfe = index.get("partialFilterExpression")
    if pfe is not None and not filter_applies(pfe, doc):
        return frozenset()
    return frozenset(tuple(_hashable(v) for v in combo)
                     for combo in itertools.product(*per_field))


class _Map:
    """key -> set of _id, and _id -> keys, for one unique index."""

    def __init__(self, index):
        self.signature = repr(index)
        self.by_key = {}
        self.by_id = {}

    def conflict(self, store, index, _id, keys):
        for k in keys:
            for other in list(self.by_key.get(k, ())):
                if other == _id:
                    continue
                # Entries may be stale (deletes are not tracked): re-check.
                if other in store and k in _doc_keys(index, store[other]):
                    return k
                self.by_key[k].discard(other)
        return None

    def put(self, _id, keys):
        for k in self.by_id.get(_id, ()):
            s = self.by_key.get(k)
            if s is not None:
                s.discard(_id)
                if not s:
                    del self.by_key[k]
        self.by_id[_id] = keys
        for k in keys:
            self.by_key.setdefault(k, set()).add(_id)


def _id_key(_id):
    """The key mongomock's store files a document under."""
    return hashdict(_id) if isinstance(_id, dict) else _id


def _maps(store):
    maps = getattr(store, "_parley_unique_maps", None)
    if maps is None:
        maps = store._parley_unique_maps = {}
    return maps


def _map_for(store, name, index):
    maps = _maps(store)
    m = maps.get(name)
    if m is None or m.signature != repr(index):
        m = _Map(index)
        for doc in list(store.documents):
            m.put(_id_key(doc["_id"]), _doc_keys(index, doc))
        maps[name] = m
    return m


def format_value(v):
    """Render a key value as MongoDB's E11000 message does."""
    if isinstance(v, str):
        return '"%s"' % v.replace('"', '\\"')
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, ObjectId):
        return "ObjectId('%s')" % v
    if isinstance(v, datetime.datetime):
        return "new Date(%d)" % int(v.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    if isinstance(v, dict):
        return "{ " + ", ".join("%s: %s" % (k, format_value(x)) for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[ " + ", ".join(format_value(x) for x in v) + " ]"
    return str(v)


def duplicate_error(ns, name, key_pattern, key_value):
    """A DuplicateKeyError carrying MongoDB's message and details."""
    shown = "{ " + ", ".join("%s: %s" % (k, format_value(v)) for k, v in key_value.items()) + " }"
    msg = "E11000 duplicate key error collection: %s index: %s dup key: %s" % (ns, name, shown)
    details = {"code": 11000, "errmsg": msg, "keyPattern": key_pattern, "keyValue": key_value}
    return DuplicateKeyError(msg, 11000, details)


def _key_value(index, doc):
    out = {}
    for f, _ in index["key"]:
        vals = _values(doc, f)
        out[f] = None if vals[0] is _MISSING else vals[0]
    return out


def _ns(coll):
    return "%s.%s" % (coll.database.name, coll.name)


def _ensure_uniques(self, new_data):
    """Replacement for Collection._ensure_uniques: new_data is already stored."""
    store = self._store
    _id = _id_key(new_data["_id"])
    pending = []
    for name, index in store.indexes.items():
        if not index.get("unique"):
            continue
        m = _map_for(store, name, index)
        keys = _doc_keys(index, new_data)
        if m.conflict(store, index, _id, keys) is not None:
            raise duplicate_error(_ns(self), name, dict(index["key"]), _key_value(index, new_data))
        pending.append((m, keys))
    for m, keys in pending:
        m.put(_id, keys)


def check_new_index(coll, name, index):
    """Raise DuplicateKeyError if existing documents violate a new unique index."""
    if not index.get("unique"):
        return
    seen = {}
    for doc in list(coll._store.documents):
        for k in _doc_keys(index, doc):
            if k in seen and seen[k] != doc["_id"]:
                raise duplicate_error(_ns(coll), name, dict(index["key"]), _key_value(index, doc))
            seen[k] = doc["_id"]


def id_duplicate(coll, _id):
    return duplicate_error(_ns(coll), "_id_", {"_id": 1}, {"_id": _id})


def install():
    mm_collection.Collection._ensure_uniques = _ensure_uniques
