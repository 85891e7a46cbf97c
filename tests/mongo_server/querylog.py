"""The shape of every query the stand-in serves, and the indexes it was asked
to create, so that a test can check that each query a client sends is one an
index serves (the stand-in itself scans in Python and cannot show it).
{parleyQueryShapes: 1} run on a database answers that database's {queries:
[shape], indexes: {collection: [{key: [[field, direction]], unique, partial:
[field]}]}} (the admin database's: every database's).
A shape is {command, collection, eq, range, sort, or, text, scan}: the fields
a filter tests for equality (a value, $eq, $in, $elemMatch) or within a range
(any other operator), the sort's fields and directions, the branches of an
$or (shapes themselves) and whether it searches text or has clauses no index
serves ($where, $expr, $nor). Each distinct shape is kept once; bounded by
MAX_SHAPES a database, the last MAX_DBS databases. Called under the
backend's lock."""
import collections
import json

MAX_SHAPES = 5000
MAX_DBS = 200
RECORDED = {"find", "count", "distinct", "findAndModify", "findandmodify", "update", "delete",
            "aggregate", "createIndexes"}
EQ_OPS = {"$eq", "$in", "$elemMatch"}
UNINDEXED = {"$where", "$expr", "$nor", "$jsonSchema", "$comment"}


def _classify(filt, shape):
    """Adds the fields of filter filt to shape (eq, range, or, text, scan)."""
    if not isinstance(filt, dict):
        return
    for key, value in filt.items():
        if key == "$and" and isinstance(value, list):
            for sub in value:
                _classify(sub, shape)
        elif key == "$or" and isinstance(value, list):
            branches = []
            for sub in value:
                b = _empty()
                _classify(sub, b)
                branches.append(_finish(b))
            shape["or"].append(branches)
        elif key == "$text":
            shape["text"] = True
        elif key.startswith("$"):
            if key in UNINDEXED:
                shape["scan"] = True
        elif isinstance(value, dict) and value and all(k.startswith("$") for k in value):
            ops = set(value)
            if ops & EQ_OPS and ops <= EQ_OPS:
                shape["eq"].add(key)
            else:
                shape["range"].add(key)
        else:
            shape["eq"].add(key)


def _empty():
    return {"eq": set(), "range": set(), "or": [], "text": False, "scan": False}


def _finish(shape):
    shape["eq"] = sorted(shape["eq"])
    shape["range"] = sorted(shape["range"] - set(shape["eq"]))
    return shape


def _sort(sort):
    if isinstance(sort, dict):
        return [[k, 1 if v in (1, 1.0) else -1 if v in (-1, -1.0) else str(v)]
                for k, v in sort.items()]
    return []


class _Db:
    def __init__(self):
        self.seen = set()
        self.queries = []
        self.indexes = {}  # collection -> {name: spec}


class QueryLog:
    def __init__(self):
        self.dbs = collections.OrderedDict()  # db -> _Db

    def _db(self, db):
        d = self.dbs.get(db)
        if d is None:
            d = self.dbs[db] = _Db()
            while len(self.dbs) > MAX_DBS:
                self.dbs.popitem(last=False)
        else:
            self.dbs.move_to_end(db)
        return d

    def _add(self, d, command, collection, filt, sort=None):
        shape = _empty()
        _classify(filt or {}, shape)
        shape = _finish(shape)
        shape.update(command=command, collection=collection, sort=_sort(sort))
        key = json.dumps(shape, sort_keys=True)
        if key not in d.seen and len(d.queries) < MAX_SHAPES:
            d.seen.add(key)
            d.queries.append(shape)

    def record(self, db, name, body):
        target = body.get(name)
        if not isinstance(target, str) or name not in RECORDED:
            return
        d = self._db(db)
        if name == "find":
            self._add(d, name, target, body.get("filter"), body.get("sort"))
        elif name in ("count", "distinct"):
            self._add(d, name, target, body.get("query"))
        elif name in ("findAndModify", "findandmodify"):
            self._add(d, "findAndModify", target, body.get("query"), body.get("sort"))
        elif name == "update":
            for st in body.get("updates") or []:
                if isinstance(st, dict):
                    self._add(d, name, target, st.get("q"))
        elif name == "delete":
            for st in body.get("deletes") or []:
                if isinstance(st, dict):
                    self._add(d, name, target, st.get("q"))
        elif name == "aggregate":
            # What an index can serve: a leading $match and the $sort right after it.
            pipeline = body.get("pipeline") or []
            first = pipeline[0] if pipeline and isinstance(pipeline[0], dict) else {}
            second = pipeline[1] if len(pipeline) > 1 and isinstance(pipeline[1], dict) else {}
            if "$match" in first:
                self._add(d, name, target, first["$match"], second.get("$sort"))
            else:
                self._add(d, name, target, {}, first.get("$sort"))
        else:  # createIndexes
            specs = d.indexes.setdefault(target, {})
            for ix in body.get("indexes") or []:
                if not isinstance(ix, dict) or not isinstance(ix.get("key"), dict):
                    continue
                partial = ix.get("partialFilterExpression")
                specs[ix.get("name", "")] = {
                    "key": [[k, v if isinstance(v, (int, float)) else str(v)]
                            for k, v in ix["key"].items()],
                    "unique": bool(ix.get("unique", False)),
                    "partial": sorted(partial) if isinstance(partial, dict) else [],
                }

    def query(self, db):
        dbs = list(self.dbs.values()) if db == "admin" else [self.dbs.get(db, _Db())]
        queries, indexes = [], {}
        for d in dbs:
            queries.extend(d.queries)
            for c, specs in d.indexes.items():
                indexes.setdefault(c, []).extend(specs.values())
        return {"queries": queries, "indexes": indexes}
