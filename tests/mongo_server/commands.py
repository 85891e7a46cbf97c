"""Database commands of the test server, executed on one mongomock client.
Owns the mongomock client and the server-side cursors; every command runs
under one global lock, so connection threads never touch mongomock at once.
Answers have MongoDB 6.0's shape, errors {ok: 0, errmsg, code, codeName}."""
import datetime
import itertools
import random
import threading
import time
import uuid

import bson
import mongomock
from bson.binary import Binary, UUID_SUBTYPE
from bson.int64 import Int64
from mongomock import DuplicateKeyError
from mongomock.filtering import filter_applies
from pymongo.errors import PyMongoError

import fastpath
import textsearch
import uniques
from auth import Authenticator, AuthError
from replset import WRITES, ReplicaSet, TxnError
from querylog import QueryLog
from writelog import WriteLog

MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48000000
MAX_WRITE_BATCH = 100000
MAX_WIRE_VERSION = 17  # MongoDB 6.0
VERSION = "6.0.0"
CURSOR_IDLE_SECONDS = 600  # MongoDB's cursorTimeoutMillis default
DEFAULT_FIRST_BATCH = 101
BATCH_BYTES = MAX_BSON_SIZE - 1024 * 1024  # room for the reply envelope

CODE_NAMES = {
    1: "InternalError", 2: "BadValue", 9: "FailedToParse", 11: "UserNotFound",
    13: "Unauthorized", 14: "TypeMismatch", 17: "ProtocolError", 18: "AuthenticationFailed",
    20: "IllegalOperation",
    26: "NamespaceNotFound", 27: "IndexNotFound", 40: "ConflictingUpdateOperators",
    43: "CursorNotFound", 48: "NamespaceExists", 52: "DollarPrefixedFieldName",
    59: "CommandNotFound", 66: "ImmutableField", 67: "CannotCreateIndex",
    72: "InvalidOptions", 73: "InvalidNamespace", 85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict", 168: "InvalidPipelineOperator",
    225: "TransactionTooOld", 238: "NotImplemented", 11000: "DuplicateKey",
    50768: "NotARetryableWriteCommand",
}


class CommandError(Exception):
    def __init__(self, code, errmsg, extra=None):
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg
        self.extra = extra or {}

    def reply(self):
        doc = {"ok": 0.0, "errmsg": self.errmsg, "code": self.code,
               "codeName": CODE_NAMES.get(self.code, "Location%d" % self.code)}
        doc.update(self.extra)
        return doc


def _as_error(exc):
    """Map an exception raised by mongomock to MongoDB's (code, errmsg)."""
    if isinstance(exc, (CommandError, AuthError, TxnError)):
        return exc.code, exc.errmsg
    if isinstance(exc, NotImplementedError):
        return 238, "not implemented by the mongomock test server: %s" % exc
    if isinstance(exc, PyMongoError):
        code = getattr(exc, "code", None) or 2
        details = getattr(exc, "details", None)
        # pymongo appends ", full error: {...}" to str(exc) when there are details.
        if isinstance(details, dict) and isinstance(details.get("errmsg"), str):
            return code, details["errmsg"]
        return code, str(exc)
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        return 2, str(exc)
    return 1, "%s: %s" % (type(exc).__name__, exc)


def _error_details(exc):
    details = getattr(exc, "details", None)
    if isinstance(exc, DuplicateKeyError) and isinstance(details, dict):
        return {k: details[k] for k in ("keyPattern", "keyValue") if k in details}
    return {}


def _write_error(index, exc):
    code, msg = _as_error(exc)
    doc = {"index": index, "code": code}
    doc.update(_error_details(exc))
    doc["errmsg"] = msg
    return doc


def _need(body, field, types, what=None):
    v = body.get(field)
    if not isinstance(v, types) or isinstance(v, bool):
        raise CommandError(14, "BSON field '%s' is the wrong type '%s'"
                           % (what or field, type(v).__name__))
    return v


def _int(body, field, default=0):
    v = body.get(field, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CommandError(14, "BSON field '%s' is the wrong type '%s', expected a number"
                           % (field, type(v).__name__))
    return int(v)


def _sort_list(sort):
    if not sort:
        return None
    if not isinstance(sort, dict):
        raise CommandError(14, "Expected field sort to be of type object")
    return [(k, v) for k, v in sort.items()]


def _is_replacement(u):
    return not any(k.startswith("$") for k in u)


def _reject_collation(body):
    """mongomock compares binary only: answer an error rather than results
    that a real server with that collation would not give."""
    stmts = [body]
    for field in ("updates", "deletes", "indexes"):
        if isinstance(body.get(field), list):
            stmts.extend(s for s in body[field] if isinstance(s, dict))
    for st in stmts:
        c = st.get("collation")
        if c and not (isinstance(c, dict) and c.get("locale") == "simple"):
            raise NotImplementedError("collation %s" % (c,))


def _id_first(doc):
    """MongoDB puts _id first in $group and $project output; mongomock may not."""
    if isinstance(doc, dict) and "_id" in doc and next(iter(doc)) != "_id":
        out = {"_id": doc["_id"]}
        out.update((k, v) for k, v in doc.items() if k != "_id")
        return out
    return doc


# What a client may run before it has logged in, when login is required.
NO_AUTH = {"hello", "isMaster", "ismaster", "ping", "buildInfo", "buildinfo",
           "saslStart", "saslContinue"}
HELLO = ("hello", "isMaster", "ismaster")


class Connection:
    """One client connection: its id and login state."""

    def __init__(self, cid):
        self.id = cid
        self.user = None  # (db, name) once logged in
        self.sasl = None  # the login conversation in progress


class _Cursor:
    def __init__(self, cid, ns, docs):
        self.id = cid
        self.ns = ns
        self.docs = docs
        self.pos = 0
        self.touched = time.monotonic()


class Backend:
    """One in-memory MongoDB: a mongomock client, its cursors and the lock."""

    def __init__(self, replset=None, users=None):
        """replset: the set's name (replica-set mode) or None (standalone);
        users: {(db, name): auth.Credential}, login required when given."""
        uniques.install()
        fastpath.install()
        mongomock.SERVER_VERSION = VERSION
        self.client = mongomock.MongoClient()
        self.client._server_version = VERSION
        self.lock = threading.Lock()
        self.cursors = {}
        self.uuids = {}
        self.conn_ids = itertools.count(1)
        self.started = time.time()
        self.replset = ReplicaSet(replset) if replset else None
        self.auth_required = users is not None
        self.authn = Authenticator(users or {})
        self.writes = WriteLog()
        self.shapes = QueryLog()
        self.handlers = {
            "hello": self.cmd_hello, "isMaster": self.cmd_hello, "ismaster": self.cmd_hello,
            "ping": self.cmd_ok, "endSessions": self.cmd_ok, "killAllSessions": self.cmd_ok,
            "buildInfo": self.cmd_build_info, "buildinfo": self.cmd_build_info,
            "serverStatus": self.cmd_server_status,
            "insert": self.cmd_insert, "update": self.cmd_update, "delete": self.cmd_delete,
            "find": self.cmd_find, "getMore": self.cmd_get_more,
            "killCursors": self.cmd_kill_cursors,
            "findAndModify": self.cmd_find_and_modify, "findandmodify": self.cmd_find_and_modify,
            "aggregate": self.cmd_aggregate, "count": self.cmd_count,
            "distinct": self.cmd_distinct, "createIndexes": self.cmd_create_indexes,
            "listIndexes": self.cmd_list_indexes, "dropIndexes": self.cmd_drop_indexes,
            "deleteIndexes": self.cmd_drop_indexes,
            "drop": self.cmd_drop, "dropDatabase": self.cmd_drop_database,
            "create": self.cmd_create, "listCollections": self.cmd_list_collections,
            "listDatabases": self.cmd_list_databases,
            "saslStart": self.cmd_sasl_start, "saslContinue": self.cmd_sasl_continue,
            "parleyWriteConcerns": self.cmd_write_concerns,
            "parleyQueryShapes": self.cmd_query_shapes,
        }

    def new_connection(self):
        return Connection(next(self.conn_ids))

    def set_address(self, address):
        """host:port as clients reach this server (replica-set hello)."""
        if self.replset:
            self.replset.address = address

    # -- dispatch -----------------------------------------------------------

    def run(self, db, body, conn):
        """Run one command document for a Connection; always returns a reply
        document."""
        if not body:
            return CommandError(59, "no such command: ''").reply()
        name = next(iter(body))
        handler = self.handlers.get(name)
        if handler is None:
            return CommandError(59, "no such command: '%s'" % name).reply()
        if not isinstance(db, str) or not db:
            return CommandError(40571, "OP_MSG requests require a $db argument").reply()
        try:
            if self.auth_required and conn.user is None and name not in NO_AUTH:
                raise CommandError(13, "Command %s requires authentication" % name)
            _reject_collation(body)
            with self.lock:
                reply = self._run_locked(name, handler, db, body, conn)
        except Exception as exc:  # every failure becomes MongoDB's error shape
            code, msg = _as_error(exc)
            extra = exc.extra if isinstance(exc, CommandError) else _error_details(exc)
            reply = CommandError(code, msg, extra).reply()
        if self.replset:
            self.replset.gossip(reply)
        return reply

    def _run_locked(self, name, handler, db, body, conn):
        retryable = "txnNumber" in body and name not in HELLO
        if retryable and self.replset is None:
            raise CommandError(20, "Transaction numbers are only allowed on a replica "
                                   "set member or mongos")
        if name in WRITES:
            if "writeConcern" in body and not isinstance(body["writeConcern"], dict):
                raise CommandError(14, "BSON field 'writeConcern' is the wrong type '%s', "
                                       "expected type 'object'"
                                   % type(body["writeConcern"]).__name__)
            self.writes.record(db, name, body)
        self.shapes.record(db, name, body)
        if retryable:
            retried = self.replset.before(name, body)
            if retried is not None:
                return retried
        reply = handler(db, body, conn)
        reply.setdefault("ok", 1.0)
        if self.replset:
            self.replset.tick(name in WRITES)
            if retryable:
                self.replset.after(body, reply)
        return reply

    def _coll(self, db, body, field):
        name = body.get(field)
        if not isinstance(name, str):
            raise CommandError(73, "collection name has invalid type %s" % type(name).__name__)
        if not name or name.startswith(".") or "$" in name or "\x00" in name:
            raise CommandError(73, "Invalid collection name: %s" % name)
        return self.client[db][name]

    def _exists(self, coll):
        return bool(coll._store.is_created)

    # -- handshake and server info ---------------------------------------

    def cmd_hello(self, db, body, conn):
        reply = {}
        if next(iter(body)) == "hello":
            reply["isWritablePrimary"] = True
        else:
            reply["ismaster"] = True
        if body.get("helloOk"):
            reply["helloOk"] = True
        reply.update({
            "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
            "maxWriteBatchSize": MAX_WRITE_BATCH,
            "localTime": datetime.datetime.now(datetime.timezone.utc),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": conn.id,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        })
        if self.replset:
            reply.update(self.replset.hello_fields())
        if "saslSupportedMechs" in body:
            mechs = self.authn.mechanisms_for(body["saslSupportedMechs"])
            if mechs:
                reply["saslSupportedMechs"] = mechs
        spec = body.get("speculativeAuthenticate")
        if isinstance(spec, dict) and next(iter(spec), None) == "saslStart":
            # The first login step inside the handshake; on failure the field
            # is left out and the client logs in with saslStart as usual.
            try:
                reply["speculativeAuthenticate"] = self.authn.start(conn, spec.get("db"), spec)
            except AuthError:
                pass
        return reply

    # -- login -----------------------------------------------------------

    def cmd_sasl_start(self, db, body, conn):
        return self.authn.start(conn, db, body)

    def cmd_sasl_continue(self, db, body, conn):
        return self.authn.proceed(conn, db, body)

    def cmd_write_concerns(self, db, body, conn):
        return self.writes.query(db)

    def cmd_query_shapes(self, db, body, conn):
        return self.shapes.query(db)

    def cmd_ok(self, db, body, conn):
        return {}

    def cmd_build_info(self, db, body, conn):
        return {"version": VERSION, "versionArray": [6, 0, 0, 0],
                "gitVersion": "parley-mongomock-test-server", "bits": 64,
                "debug": False, "maxBsonObjectSize": MAX_BSON_SIZE,
                "storageEngines": ["mongomock"], "modules": []}

    def cmd_server_status(self, db, body, conn):
        return {"host": "parley-test-mongo", "version": VERSION, "process": "mongod",
                "uptime": float(time.time() - self.started),
                "localTime": datetime.datetime.now(datetime.timezone.utc)}

    # -- writes --------------------------------------------------------------

    def cmd_insert(self, db, body, conn):
        coll = self._coll(db, body, "insert")
        docs = _need(body, "documents", list, "insert.documents")
        ordered = body.get("ordered", True)
        n = 0
        errors = []
        for i, doc in enumerate(docs):
            try:
                if not isinstance(doc, dict):
                    raise CommandError(14, "documents must be objects")
                if "_id" in doc and uniques._id_key(doc["_id"]) in coll._store._documents:
                    raise uniques.id_duplicate(coll, doc["_id"])
                coll.insert_one(doc)
                n += 1
            except Exception as exc:
                errors.append(_write_error(i, exc))
                if ordered:
                    break
        reply = {"n": n}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def _apply_update(self, coll, q, u, upsert, multi, array_filters):
        """One update statement through mongomock; returns its raw result."""
        if isinstance(u, list):
            raise NotImplementedError("pipeline-style updates")
        if not isinstance(u, dict):
            raise CommandError(14, "Update argument must be either an object or an array")
        if not isinstance(q, dict):
            raise CommandError(14, "Query argument must be an object")
        if _is_replacement(u):
            if multi:
                raise CommandError(9, "multi update is not supported for "
                                      "replacement-style update")
            r = coll.replace_one(q, u, upsert=upsert)
        elif multi:
            r = coll.update_many(q, u, upsert=upsert, array_filters=array_filters)
        else:
            r = coll.update_one(q, u, upsert=upsert, array_filters=array_filters)
        return r.raw_result

    def cmd_update(self, db, body, conn):
        coll = self._coll(db, body, "update")
        stmts = _need(body, "updates", list, "update.updates")
        ordered = body.get("ordered", True)
        n = modified = 0
        upserted = []
        errors = []
        for i, st in enumerate(stmts):
            try:
                raw = self._apply_update(coll, st.get("q", {}), st.get("u"),
                                         bool(st.get("upsert", False)),
                                         bool(st.get("multi", False)),
                                         st.get("arrayFilters"))
                n += raw.get("n", 0)
                modified += raw.get("nModified", 0)
                if raw.get("upserted") is not None:
                    upserted.append({"index": i, "_id": raw["upserted"]})
            except Exception as exc:
                errors.append(_write_error(i, exc))
                if ordered:
                    break
        reply = {"n": n, "nModified": modified}
        if upserted:
            reply["upserted"] = upserted
        if errors:
            reply["writeErrors"] = errors
        return reply

    def cmd_delete(self, db, body, conn):
        coll = self._coll(db, body, "delete")
        stmts = _need(body, "deletes", list, "delete.deletes")
        ordered = body.get("ordered", True)
        n = 0
        errors = []
        for i, st in enumerate(stmts):
            try:
                q = st.get("q", {})
                if not isinstance(q, dict):
                    raise CommandError(14, "Query argument must be an object")
                limit = _int(st, "limit", 0)
                if limit not in (0, 1):
                    raise CommandError(9, "The limit field in delete objects must be 0 or 1. "
                                          "Got %d" % limit)
                r = coll.delete_one(q) if limit == 1 else coll.delete_many(q)
                n += r.deleted_count
            except Exception as exc:
                errors.append(_write_error(i, exc))
                if ordered:
                    break
        reply = {"n": n}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def cmd_find_and_modify(self, db, body, conn):
        coll = self._coll(db, body, next(iter(body)))
        query = body.get("query") or {}
        sort = _sort_list(body.get("sort"))
        fields = body.get("fields") or None
        remove = bool(body.get("remove", False))
        update = body.get("update")
        new = bool(body.get("new", False))
        upsert = bool(body.get("upsert", False))
        if remove and update is not None:
            raise CommandError(9, "Cannot specify both an update and remove=true")
        if not remove and update is None:
            raise CommandError(9, "Either an update or remove=true must be specified")
        if remove and (new or upsert):
            raise CommandError(9, "Cannot specify both new=true and remove=true; 'remove' "
                                  "always returns the deleted document")
        target = next(iter(coll.find(query, sort=sort, limit=1)), None)
        if remove:
            value = None
            if target is not None:
                value = coll.find_one({"_id": target["_id"]}, projection=fields)
                coll.delete_one({"_id": target["_id"]})
            return {"lastErrorObject": {"n": 1 if target is not None else 0}, "value": value}
        if target is not None:
            before = coll.find_one({"_id": target["_id"]}, projection=fields)
            spec = dict(query)
            spec["_id"] = target["_id"]
            self._apply_update(coll, spec, update, False, False, body.get("arrayFilters"))
            value = coll.find_one({"_id": target["_id"]}, projection=fields) if new else before
            return {"lastErrorObject": {"n": 1, "updatedExisting": True}, "value": value}
        if upsert:
            raw = self._apply_update(coll, query, update, True, False, body.get("arrayFilters"))
            uid = raw.get("upserted")
            value = coll.find_one({"_id": uid}, projection=fields) if new else None
            return {"lastErrorObject": {"n": 1, "updatedExisting": False, "upserted": uid},
                    "value": value}
        return {"lastErrorObject": {"n": 0, "updatedExisting": False}, "value": None}

    # -- reads and cursors ------------------------------------------------

    def _purge_idle_cursors(self):
        limit = time.monotonic() - CURSOR_IDLE_SECONDS
        for cid in [c.id for c in self.cursors.values() if c.touched < limit]:
            del self.cursors[cid]

    def _batch(self, cursor, size):
        """Take up to size documents (all if size is None), at most ~16 MiB."""
        out = []
        total = 0
        docs = cursor.docs
        while cursor.pos < len(docs) and (size is None or len(out) < size):
            doc = docs[cursor.pos]
            total += len(bson.encode(doc))
            if out and total > BATCH_BYTES:
                break
            out.append(doc)
            cursor.pos += 1
        return out

    def _cursor_reply(self, ns, docs, batch_size, single_batch=False):
        self._purge_idle_cursors()
        cursor = _Cursor(0, ns, docs)
        first = self._batch(cursor, DEFAULT_FIRST_BATCH if batch_size is None else batch_size)
        if cursor.pos < len(docs) and not single_batch:
            cid = random.randint(1, (1 << 62))
            while cid in self.cursors:
                cid = random.randint(1, (1 << 62))
            cursor.id = cid
            self.cursors[cid] = cursor
        return {"cursor": {"firstBatch": first, "id": Int64(cursor.id), "ns": ns}}

    def _batch_size(self, body, field="batchSize"):
        if body.get(field) is None:
            return None
        n = _int(body, field)
        if n < 0:
            raise CommandError(51024, "BSON field 'batchSize' value must be >= 0, "
                                      "actual value '%d'" % n)
        return n

    def cmd_find(self, db, body, conn):
        coll = self._coll(db, body, "find")
        filt = body.get("filter") or {}
        if not isinstance(filt, dict):
            raise CommandError(14, "BSON field 'find.filter' is the wrong type")
        projection = body.get("projection") or None
        skip = _int(body, "skip")
        limit = _int(body, "limit")
        if skip < 0 or limit < 0:
            raise CommandError(51024, "BSON field 'skip'/'limit' value must be >= 0")
        batch_size = self._batch_size(body)
        single = bool(body.get("singleBatch", False))
        docs = list(coll.find(filt, projection=projection, skip=skip, limit=limit,
                              sort=_sort_list(body.get("sort"))))
        return self._cursor_reply("%s.%s" % (db, coll.name), docs, batch_size, single)

    def cmd_get_more(self, db, body, conn):
        cid = body.get("getMore")
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise CommandError(14, "BSON field 'getMore.getMore' is the wrong type, "
                                   "expected type 'long'")
        coll = self._coll(db, body, "collection")
        ns = "%s.%s" % (db, coll.name)
        cursor = self.cursors.get(int(cid))
        if cursor is None:
            raise CommandError(43, "cursor id %d not found" % cid)
        if cursor.ns != ns:
            raise CommandError(13, "Requested getMore on namespace '%s', but cursor "
                                   "belongs to a different namespace %s" % (ns, cursor.ns))
        batch = self._batch(cursor, self._batch_size(body))
        cursor.touched = time.monotonic()
        if cursor.pos >= len(cursor.docs):
            del self.cursors[cursor.id]
            cursor.id = 0
        return {"cursor": {"nextBatch": batch, "id": Int64(cursor.id), "ns": ns}}

    def cmd_kill_cursors(self, db, body, conn):
        coll = self._coll(db, body, "killCursors")
        ns = "%s.%s" % (db, coll.name)
        killed, not_found = [], []
        for cid in _need(body, "cursors", list, "killCursors.cursors"):
            c = self.cursors.get(int(cid))
            if c is not None and c.ns == ns:
                del self.cursors[c.id]
                killed.append(Int64(cid))
            else:
                not_found.append(Int64(cid))
        return {"cursorsKilled": killed, "cursorsNotFound": not_found,
                "cursorsAlive": [], "cursorsUnknown": []}

    def cmd_aggregate(self, db, body, conn):
        if not isinstance(body.get("aggregate"), str):
            raise NotImplementedError("database-level aggregate {aggregate: 1}")
        coll = self._coll(db, body, "aggregate")
        pipeline = _need(body, "pipeline", list, "aggregate.pipeline")
        if body.get("explain"):
            raise NotImplementedError("aggregate explain")
        cursor_opts = body.get("cursor")
        if not isinstance(cursor_opts, dict):
            raise CommandError(9, "The 'cursor' option is required, except for aggregate "
                                  "with the explain argument")
        if textsearch.is_text_pipeline(pipeline):
            try:
                found = textsearch.aggregate(coll, pipeline)
            except textsearch.TextError as exc:
                raise CommandError(exc.code, exc.errmsg)
        else:
            found = coll.aggregate(pipeline)
        docs = [_id_first(d) for d in found]
        if pipeline and isinstance(pipeline[-1], dict) and \
                ("$out" in pipeline[-1] or "$merge" in pipeline[-1]):
            docs = []
        return self._cursor_reply("%s.%s" % (db, coll.name), docs,
                                  self._batch_size(cursor_opts))

    def cmd_count(self, db, body, conn):
        coll = self._coll(db, body, "count")
        query = body.get("query") or {}
        skip = _int(body, "skip")
        limit = abs(_int(body, "limit"))
        n = max(len(list(coll._iter_documents(query))) - skip, 0)
        if limit:
            n = min(n, limit)
        return {"n": n}

    def cmd_distinct(self, db, body, conn):
        coll = self._coll(db, body, "distinct")
        key = _need(body, "key", str, "distinct.key")
        return {"values": coll.distinct(key, body.get("query") or None)}

    # -- indexes -------------------------------------------------------------

    def _index_count(self, coll):
        return (1 + len(coll._store.indexes)) if self._exists(coll) else 0

    def _index_dict(self, spec):
        key = spec.get("key")
        if not isinstance(key, dict) or not key:
            raise CommandError(67, "Index keys cannot be empty.")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise CommandError(9, "Error in specification %s :: caused by :: The 'name' "
                                  "field is a required property of an index specification"
                               % spec)
        index = {"key": list(key.items())}
        for opt in ("unique", "sparse"):
            if spec.get(opt):
                index[opt] = True
        for opt in ("expireAfterSeconds", "partialFilterExpression"):
            if spec.get(opt) is not None:
                index[opt] = spec[opt]
        return name, index

    def cmd_create_indexes(self, db, body, conn):
        coll = self._coll(db, body, "createIndexes")
        specs = _need(body, "indexes", list, "createIndexes.indexes")
        if not specs:
            raise CommandError(2, "Must specify at least one index to create")
        created = not self._exists(coll)
        before = 1 if created else self._index_count(coll)
        wanted = []
        for spec in specs:
            if not isinstance(spec, dict):
                raise CommandError(14, "The elements of the 'indexes' array must be objects")
            name, index = self._index_dict(spec)
            if index["key"] == [("_id", 1)] and len(index) == 1:
                continue
            existing = coll._store.indexes.get(name)
            if name == "_id_" or existing is not None:
                if existing is not None and existing["key"] != index["key"]:
                    raise CommandError(86, "An existing index has the same name as the "
                                           "requested index. Requested index: %s, existing "
                                           "index: %s" % (spec, existing))
                if existing is not None and existing != index:
                    raise CommandError(85, "An equivalent index already exists with the same "
                                           "name but different options. Requested index: %s, "
                                           "existing index: %s" % (spec, existing))
                continue
            for other_name, other in coll._store.indexes.items():
                pfe = "partialFilterExpression"
                if other["key"] == index["key"] and other.get(pfe) == index.get(pfe):
                    raise CommandError(85, "Index already exists with a different name: %s"
                                       % other_name)
            wanted.append((name, index))
        for name, index in wanted:
            uniques.check_new_index(coll, name, index)
        coll._store.create()
        for name, index in wanted:
            coll._store.create_index(name, index)
        reply = {"numIndexesBefore": before, "numIndexesAfter": self._index_count(coll),
                 "createdCollectionAutomatically": created}
        if not wanted:
            reply["note"] = "all indexes already exist"
        return reply

    def cmd_list_indexes(self, db, body, conn):
        coll = self._coll(db, body, "listIndexes")
        if not self._exists(coll):
            raise CommandError(26, "ns does not exist: %s.%s" % (db, coll.name))
        docs = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
        for name, index in coll._store.indexes.items():
            doc = {"v": 2, "key": dict(index["key"]), "name": name}
            for k, v in index.items():
                if k != "key":
                    doc[k] = v
            docs.append(doc)
        opts = body.get("cursor") or {}
        return self._cursor_reply("%s.%s" % (db, coll.name), docs, self._batch_size(opts))

    def cmd_drop_indexes(self, db, body, conn):
        coll = self._coll(db, body, next(iter(body)))
        if not self._exists(coll):
            raise CommandError(26, "ns not found %s.%s" % (db, coll.name))
        which = body.get("index")
        before = self._index_count(coll)
        indexes = coll._store.indexes
        if which == "*":
            names = list(indexes)
        elif isinstance(which, str):
            names = [which]
        elif isinstance(which, list):
            names = which
        elif isinstance(which, dict):
            names = [n for n, ix in indexes.items() if ix["key"] == list(which.items())]
            if not names:
                raise CommandError(27, "can't find index with key: %s" % which)
        else:
            raise CommandError(14, "BSON field 'dropIndexes.index' is the wrong type")
        for n in names:
            if n == "_id_":
                raise CommandError(72, "cannot drop _id index")
            if n not in indexes:
                raise CommandError(27, "index not found with name [%s]" % n)
        for n in names:
            coll._store.drop_index(n)
        return {"nIndexesWas": before}

    # -- namespaces --------------------------------------------------------

    def _kill_ns(self, prefix):
        for cid in [c.id for c in self.cursors.values() if c.ns.startswith(prefix)]:
            del self.cursors[cid]

    def cmd_drop(self, db, body, conn):
        coll = self._coll(db, body, "drop")
        ns = "%s.%s" % (db, coll.name)
        if not self._exists(coll):
            raise CommandError(26, "ns not found")
        before = self._index_count(coll)
        self.client[db].drop_collection(coll.name)
        self._kill_ns(ns)
        self.uuids.pop(ns, None)
        return {"ns": ns, "nIndexesWas": before}

    def cmd_drop_database(self, db, body, conn):
        self.client.drop_database(db)
        self._kill_ns(db + ".")
        for ns in [ns for ns in self.uuids if ns.startswith(db + ".")]:
            del self.uuids[ns]
        return {}

    def cmd_create(self, db, body, conn):
        coll = self._coll(db, body, "create")
        if self._exists(coll):
            raise CommandError(48, "Collection %s.%s already exists." % (db, coll.name))
        coll._store.create()
        return {}

    def _uuid(self, ns):
        if ns not in self.uuids:
            self.uuids[ns] = Binary(uuid.uuid4().bytes, UUID_SUBTYPE)
        return self.uuids[ns]

    def cmd_list_collections(self, db, body, conn):
        filt = body.get("filter") or {}
        name_only = bool(body.get("nameOnly", False))
        docs = []
        for name in sorted(self.client[db].list_collection_names()):
            if name_only:
                doc = {"name": name, "type": "collection"}
            else:
                doc = {"name": name, "type": "collection", "options": {},
                       "info": {"readOnly": False, "uuid": self._uuid("%s.%s" % (db, name))},
                       "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}
            if filter_applies(filt, doc):
                docs.append(doc)
        opts = body.get("cursor") or {}
        return self._cursor_reply("%s.$cmd.listCollections" % db, docs, self._batch_size(opts))

    def cmd_list_databases(self, db, body, conn):
        if db != "admin":
            raise CommandError(13, "listDatabases may only be run against the admin database.")
        names = sorted(self.client.list_database_names())
        if body.get("nameOnly"):
            return {"databases": [{"name": n} for n in names]}
        return {"databases": [{"name": n, "sizeOnDisk": 0, "empty": False} for n in names],
                "totalSize": 0, "totalSizeMb": 0}

