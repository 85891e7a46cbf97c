"""Tests for the MongoDB test server: start server.py on a free port and talk
to it as drivers do, with pymongo (Debian's python3-pymongo 3.11) and with raw
OP_QUERY / OP_MSG frames. Run: /usr/bin/python3 -m pytest tests/mongo_server -q"""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import bson
import pytest
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.int64 import Int64

pymongo = pytest.importorskip("pymongo")
from pymongo import ReturnDocument  # noqa: E402
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure  # noqa: E402

# Decode as the server stores: UUIDs stay Binary, so subtypes are visible.
RAW_CODEC = CodecOptions(uuid_representation=UuidRepresentation.UNSPECIFIED)
HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")


def start_server(*extra):
    port_file = os.path.join(tempfile.mkdtemp(prefix="mongo-server-test-"), "port")
    proc = subprocess.Popen(["/usr/bin/python3", SERVER, "--host", "127.0.0.1", "--port", "0",
                             "--port-file", port_file, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    with open(port_file) as f:
        port = int(f.read())
    return proc, port


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stdout.close()
    proc.stderr.close()


@pytest.fixture(scope="module")
def server():
    proc, port = start_server()
    yield port
    stop_server(proc)


@pytest.fixture
def client(server):
    c = pymongo.MongoClient("127.0.0.1", server, serverSelectionTimeoutMS=3000)
    yield c
    c.close()


@pytest.fixture
def db(client):
    name = "t_" + uuid.uuid4().hex[:10]
    yield client[name]
    client.drop_database(name)


# -- raw wire protocol ------------------------------------------------------

def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, "server closed the connection"
        buf += chunk
    return buf


def _roundtrip(sock, op, payload, request_id=7):
    sock.sendall(struct.pack("<iiii", 16 + len(payload), request_id, 0, op) + payload)
    length, _rid, response_to, rop = struct.unpack("<iiii", _recv_exact(sock, 16))
    assert response_to == request_id
    return rop, _recv_exact(sock, length - 16)


def op_query(sock, ns, cmd):
    payload = struct.pack("<i", 0) + ns.encode() + b"\x00" + struct.pack("<ii", 0, -1)
    rop, body = _roundtrip(sock, 2004, payload + bson.encode(cmd))
    assert rop == 1  # OP_REPLY
    _flags, _cursor, _start, n = struct.unpack_from("<iqii", body, 0)
    assert n == 1
    return bson.decode(body[20:])


def op_msg(sock, cmd, sequences=(), flags=0):
    payload = struct.pack("<I", flags) + b"\x00" + bson.encode(cmd)
    for ident, docs in sequences:
        data = ident.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
        payload += b"\x01" + struct.pack("<i", 4 + len(data)) + data
    if flags & 2:  # moreToCome: no answer expected
        sock.sendall(struct.pack("<iiii", 16 + len(payload), 9, 0, 2013) + payload)
        return None
    rop, body = _roundtrip(sock, 2013, payload)
    assert rop == 2013
    assert body[4] == 0
    return bson.decode(body[5:], RAW_CODEC)


@pytest.fixture
def raw(server):
    s = socket.create_connection(("127.0.0.1", server))
    yield s
    s.close()


def test_port_file_and_legacy_handshake(raw):
    hello = op_query(raw, "admin.$cmd", {"isMaster": 1, "helloOk": True,
                                         "client": {"driver": {"name": "t"}}})
    assert hello["ok"] == 1 and hello["ismaster"] is True and hello["helloOk"] is True
    assert hello["maxWireVersion"] == 17
    assert hello["maxBsonObjectSize"] == 16 * 1024 * 1024
    assert hello["maxMessageSizeBytes"] == 48000000
    assert hello["maxWriteBatchSize"] == 100000
    assert hello["logicalSessionTimeoutMinutes"] == 30
    assert isinstance(hello["connectionId"], int)
    assert "localTime" in hello and "setName" not in hello and "msg" not in hello


def test_op_msg_hello_and_document_sequence(raw):
    hello = op_msg(raw, {"hello": 1, "$db": "admin"})
    assert hello["isWritablePrimary"] is True and hello["maxWireVersion"] == 17
    db = "raw_" + uuid.uuid4().hex[:8]
    r = op_msg(raw, {"insert": "c", "$db": db}, [("documents", [{"_id": 1}, {"_id": 2}])])
    assert r == {"n": 2, "ok": 1.0}
    # w:0 write: moreToCome set, so no reply; the next command still sees it.
    op_msg(raw, {"insert": "c", "$db": db, "writeConcern": {"w": 0}},
           [("documents", [{"_id": 3}])], flags=2)
    r = op_msg(raw, {"update": "c", "$db": db},
               [("updates", [{"q": {"_id": 3}, "u": {"$set": {"x": 1}}}])])
    assert r["n"] == 1 and r["nModified"] == 1
    r = op_msg(raw, {"find": "c", "$db": db, "sort": {"_id": 1}})
    assert [d["_id"] for d in r["cursor"]["firstBatch"]] == [1, 2, 3]
    assert r["cursor"]["id"] == 0 and r["cursor"]["ns"] == db + ".c"
    r = op_msg(raw, {"delete": "c", "$db": db}, [("deletes", [{"q": {}, "limit": 0}])])
    assert r["n"] == 3


def test_errors_have_mongodb_shape(client, db):
    with pytest.raises(OperationFailure) as e:
        client.admin.command("noSuchCommand")
    assert e.value.code == 59
    assert e.value.details["codeName"] == "CommandNotFound"
    assert e.value.details["errmsg"] == "no such command: 'noSuchCommand'"
    with pytest.raises(OperationFailure) as e:
        db.command("drop", "missing")
    assert e.value.code == 26 and e.value.details["codeName"] == "NamespaceNotFound"
    with pytest.raises(OperationFailure) as e:
        db.command("getMore", Int64(12345), collection="c")
    assert e.value.code == 43 and e.value.details["codeName"] == "CursorNotFound"


def test_build_info_and_ping(client):
    assert client.admin.command("ping")["ok"] == 1
    info = client.admin.command("buildInfo")
    assert info["versionArray"][0] == 6


def test_duplicate_key_ordered_and_unordered(db):
    db.users.create_index("email", unique=True, name="email_1")
    db.users.insert_one({"email": "a@x"})
    with pytest.raises(DuplicateKeyError) as e:
        db.users.insert_one({"email": "a@x"})
    assert e.value.code == 11000
    assert e.value.details["keyPattern"] == {"email": 1}
    assert e.value.details["keyValue"] == {"email": "a@x"}
    assert e.value.details["errmsg"].startswith(
        "E11000 duplicate key error collection: %s.users index: email_1 dup key:" % db.name)

    with pytest.raises(BulkWriteError) as e:
        db.users.insert_many([{"email": "b"}, {"email": "a@x"}, {"email": "c"}], ordered=True)
    res = e.value.details
    assert res["nInserted"] == 1
    assert [(w["index"], w["code"]) for w in res["writeErrors"]] == [(1, 11000)]

    with pytest.raises(BulkWriteError) as e:
        db.users.insert_many([{"email": "d"}, {"email": "a@x"}, {"email": "e"}], ordered=False)
    assert e.value.details["nInserted"] == 2
    assert sorted(d["email"] for d in db.users.find()) == ["a@x", "b", "d", "e"]

    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"_id": db.users.find_one()["_id"], "email": "new"})
    # An update that would collide is refused and leaves the document as it was.
    with pytest.raises(DuplicateKeyError):
        db.users.update_one({"email": "b"}, {"$set": {"email": "d"}})
    assert db.users.count_documents({"email": "b"}) == 1


def test_unique_index_build_checks_existing_documents(db):
    db.c.insert_many([{"k": 1}, {"k": 1}])
    with pytest.raises(OperationFailure) as e:
        db.c.create_index("k", unique=True)
    assert e.value.code == 11000
    assert [ix["name"] for ix in db.c.list_indexes()] == ["_id_"]


def test_compound_partial_and_sparse_unique(db):
    db.m.create_index([("conv", 1), ("sender", 1), ("client_id", 1)], unique=True,
                      name="idem", partialFilterExpression={"client_id": {"$exists": True}})
    db.m.insert_many([{"conv": 1, "sender": 1}, {"conv": 1, "sender": 1}])  # no client_id
    db.m.insert_one({"conv": 1, "sender": 1, "client_id": "a"})
    db.m.insert_one({"conv": 1, "sender": 2, "client_id": "a"})
    with pytest.raises(DuplicateKeyError):
        db.m.insert_one({"conv": 1, "sender": 1, "client_id": "a"})
    db.s.create_index("tag", unique=True, sparse=True)
    db.s.insert_many([{}, {}])
    with pytest.raises(BulkWriteError) as e:
        db.s.insert_many([{"tag": "x"}, {"tag": "x"}])
    assert e.value.details["writeErrors"][0]["index"] == 1
    # Without sparse, two documents missing the field collide on null.
    db.n.create_index("tag", unique=True)
    db.n.insert_one({})
    with pytest.raises(DuplicateKeyError):
        db.n.insert_one({"tag": None})
    # Multikey: array elements are keys.
    db.a.create_index("tags", unique=True)
    db.a.insert_one({"tags": [1, 2]})
    with pytest.raises(DuplicateKeyError):
        db.a.insert_one({"tags": [2, 3]})
    # Deleting frees the key.
    db.a.delete_many({})
    db.a.insert_one({"tags": [2]})


def test_find_sort_projection_skip_limit_and_getmore(db):
    db.items.insert_many([{"i": i, "pad": "x" * 10} for i in range(50)])
    cur = db.items.find({"i": {"$gte": 10}}, {"_id": 0, "i": 1},
                        sort=[("i", -1)], skip=2, limit=30, batch_size=4)
    got = list(cur)
    assert got[0] == {"i": 47} and got[-1] == {"i": 18} and len(got) == 30
    # Raw command: first batch of 3, then getMore batches, then the cursor closes.
    r = db.command("find", "items", filter={}, sort={"i": 1}, batchSize=3)
    c = r["cursor"]
    assert [d["i"] for d in c["firstBatch"]] == [0, 1, 2] and c["id"] != 0
    assert isinstance(c["id"], Int64)
    r = db.command("getMore", c["id"], collection="items", batchSize=40)
    assert len(r["cursor"]["nextBatch"]) == 40 and r["cursor"]["id"] == c["id"]
    r = db.command("getMore", c["id"], collection="items")
    assert len(r["cursor"]["nextBatch"]) == 7 and r["cursor"]["id"] == 0
    with pytest.raises(OperationFailure) as e:
        db.command("getMore", c["id"], collection="items")
    assert e.value.code == 43
    # Default first batch is 101; killCursors ends a cursor.
    db.items.insert_many([{"i": 100 + i} for i in range(100)])
    r = db.command("find", "items")
    assert len(r["cursor"]["firstBatch"]) == 101
    k = db.command("killCursors", "items", cursors=[r["cursor"]["id"]])
    assert k["cursorsKilled"] == [r["cursor"]["id"]]
    with pytest.raises(OperationFailure):
        db.command("getMore", r["cursor"]["id"], collection="items")
    r = db.command("find", "items", batchSize=0)
    assert r["cursor"]["firstBatch"] == [] and r["cursor"]["id"] != 0
    assert len(list(db.items.find().batch_size(0))) == 150


def test_update_operators_and_upsert(db):
    db.c.insert_one({"_id": 1, "n": 1, "tags": ["a"], "gone": True})
    r = db.c.update_one({"_id": 1}, {"$set": {"s": "x"}, "$inc": {"n": 2},
                                     "$push": {"tags": "b"}, "$unset": {"gone": ""}})
    assert r.matched_count == 1 and r.modified_count == 1
    db.c.update_one({"_id": 1}, {"$addToSet": {"tags": "a"}, "$pull": {"tags": "b"}})
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "n": 3, "tags": ["a"], "s": "x"}
    r = db.c.update_one({"_id": 1}, {"$set": {"s": "x"}})
    assert r.matched_count == 1 and r.modified_count == 0
    r = db.c.update_one({"_id": 2}, {"$set": {"v": 1}, "$setOnInsert": {"created": True}},
                        upsert=True)
    assert r.upserted_id == 2 and r.matched_count == 0
    r = db.c.update_one({"_id": 2}, {"$set": {"v": 2}, "$setOnInsert": {"created": False}},
                        upsert=True)
    assert r.upserted_id is None and db.c.find_one({"_id": 2}) == {"_id": 2, "v": 2,
                                                                     "created": True}
    r = db.c.update_many({}, {"$set": {"all": 1}})
    assert r.matched_count == 2 and r.modified_count == 2
    r = db.c.replace_one({"_id": 2}, {"only": 1})
    assert db.c.find_one({"_id": 2}) == {"_id": 2, "only": 1}
    r = db.command("update", "c", updates=[{"q": {"k": 9}, "u": {"$set": {"z": 1}},
                                             "upsert": True}])
    assert r["n"] == 1 and r["nModified"] == 0 and r["upserted"][0]["index"] == 0


def test_find_and_modify(db):
    coll = db.counters
    v = coll.find_one_and_update({"_id": "c1"}, {"$inc": {"seq": Int64(1)}}, upsert=True,
                                 return_document=ReturnDocument.AFTER)
    assert v == {"_id": "c1", "seq": 1} and isinstance(v["seq"], Int64)
    v = coll.find_one_and_update({"_id": "c1"}, {"$inc": {"seq": 1}},
                                 return_document=ReturnDocument.AFTER)
    assert v["seq"] == 2 and isinstance(v["seq"], Int64)  # long + int stays long
    r = db.command("findAndModify", "counters", query={"_id": "c1"},
                   update={"$inc": {"seq": 1}})
    assert r["value"]["seq"] == 2 and r["lastErrorObject"] == {"n": 1, "updatedExisting": True}
    r = db.command("findAndModify", "counters", query={"_id": "c2"},
                   update={"$inc": {"seq": 1}}, upsert=True)
    assert r["value"] is None
    assert r["lastErrorObject"] == {"n": 1, "updatedExisting": False, "upserted": "c2"}
    r = db.command("findAndModify", "counters", query={"_id": "none"},
                   update={"$inc": {"seq": 1}})
    assert r["value"] is None and r["lastErrorObject"]["n"] == 0
    # sort picks the target; fields projects the answer.
    coll.insert_many([{"q": 1, "p": 5}, {"q": 1, "p": 9}])
    r = db.command("findAndModify", "counters", query={"q": 1}, sort={"p": -1},
                   update={"$set": {"hit": True}}, fields={"_id": 0, "p": 1}, new=True)
    assert r["value"] == {"p": 9}
    r = db.command("findAndModify", "counters", query={"q": 1}, sort={"p": 1}, remove=True)
    assert r["value"]["p"] == 5 and coll.count_documents({"q": 1}) == 1


def test_concurrent_increments_are_atomic(server):
    clients = [pymongo.MongoClient("127.0.0.1", server, maxPoolSize=4) for _ in range(4)]
    name = "conc_" + uuid.uuid4().hex[:8]
    seen = []
    lock = threading.Lock()

    def work(c):
        for _ in range(40):
            v = c[name].ctr.find_one_and_update({"_id": "x"}, {"$inc": {"seq": 1}},
                                                 upsert=True,
                                                 return_document=ReturnDocument.AFTER)
            with lock:
                seen.append(v["seq"])

    threads = [threading.Thread(target=work, args=(clients[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 321))
    clients[0].drop_database(name)
    for c in clients:
        c.close()


def test_aggregate_count_distinct(db):
    db.m.insert_many([{"conv": i % 3, "n": i} for i in range(10)])
    assert db.m.count_documents({"conv": 1}) == 3
    assert db.m.count_documents({}, skip=2, limit=5) == 5
    assert db.m.estimated_document_count() == 10
    assert sorted(db.m.distinct("conv")) == [0, 1, 2]
    out = list(db.m.aggregate([{"$match": {"conv": 0}},
                               {"$group": {"_id": "$conv", "total": {"$sum": "$n"}}}]))
    assert out == [{"_id": 0, "total": 0 + 3 + 6 + 9}]
    assert list(out[0]) == ["_id", "total"]
    r = db.command("aggregate", "m", pipeline=[{"$sort": {"n": 1}}], cursor={"batchSize": 2})
    assert len(r["cursor"]["firstBatch"]) == 2 and r["cursor"]["id"] != 0
    with pytest.raises(OperationFailure) as e:
        db.command("aggregate", "m", pipeline=[])
    assert e.value.code == 9


def test_indexes_and_namespaces(db):
    db.c.create_index([("a", 1), ("b", -1)], name="a_b", unique=True)
    r = db.command("createIndexes", "c", indexes=[{"key": {"a": 1, "b": -1}, "name": "a_b",
                                                    "unique": True}])
    assert r["note"] == "all indexes already exist" and r["numIndexesAfter"] == 2
    with pytest.raises(OperationFailure) as e:
        db.command("createIndexes", "c", indexes=[{"key": {"a": 1}, "name": "a_b"}])
    assert e.value.code in (85, 86)
    ix = {i["name"]: i for i in db.c.list_indexes()}
    assert ix["a_b"]["key"] == {"a": 1, "b": -1} and ix["a_b"]["unique"] is True
    assert list(ix["a_b"]["key"]) == ["a", "b"]
    assert "c" in db.list_collection_names()
    db.create_collection("d")
    with pytest.raises(OperationFailure) as e:
        db.command("create", "d")
    assert e.value.code == 48
    assert db.list_collection_names(filter={"name": "d"}) == ["d"]
    db.c.drop_index("a_b")
    assert [i["name"] for i in db.c.list_indexes()] == ["_id_"]
    db.d.drop()
    assert "d" not in db.list_collection_names()
    with pytest.raises(OperationFailure) as e:
        db.command("listIndexes", "nothere")
    assert e.value.code == 26
    db.client.drop_database(db.name)
    assert db.list_collection_names() == []


def test_types_round_trip(raw):
    import datetime
    from bson.binary import Binary
    from bson.decimal128 import Decimal128
    name = "types_" + uuid.uuid4().hex[:8]
    doc = {"_id": 1, "i32": 5, "i64": Int64(5), "big": Int64(2 ** 40), "f": 1.5,
           "dt": datetime.datetime(2024, 1, 2, 3, 4, 5, 678000),
           "uuid4": Binary(uuid.uuid4().bytes, 4), "uuid3": Binary(uuid.uuid4().bytes, 3),
           "bin": b"\x00\x01", "dec": Decimal128("1.10"),
           "nested": {"arr": [1, Int64(2), None]}}
    r = op_msg(raw, {"insert": "t", "$db": name, "documents": [doc]})
    assert r["n"] == 1
    got = op_msg(raw, {"find": "t", "$db": name, "filter": {"_id": 1}})["cursor"]["firstBatch"]
    assert got == [doc]
    got = got[0]
    assert type(got["i32"]) is int and type(got["i64"]) is Int64
    assert type(got["nested"]["arr"][1]) is Int64
    assert got["uuid4"].subtype == 4 and got["uuid3"].subtype == 3
    op_msg(raw, {"dropDatabase": 1, "$db": name})


def test_sigterm_stops_cleanly_with_clients_connected():
    proc, port = start_server()
    s = socket.create_connection(("127.0.0.1", port))
    op_msg(s, {"ping": 1, "$db": "admin"})
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert time.monotonic() - t0 < 3
    assert s.recv(1) == b""  # connection closed by the server
    s.close()
    proc.stdout.close()
    proc.stderr.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_data_file_survives_restart(tmp_path):
    data = str(tmp_path / "data.bson")
    proc, port = start_server("--data-file", data)
    with pymongo.MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=3000) as c:
        c.keep.u.create_index("email", unique=True)
        c.keep.u.insert_one({"email": "a", "n": Int64(7)})
        c.keep.ctr.insert_one({"_id": "x", "seq": Int64(41)})
    stop_server(proc)
    assert proc.returncode == 0
    proc, port = start_server("--data-file", data)
    try:
        with pymongo.MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=3000) as c:
            assert c.keep.u.find_one({}, {"_id": 0}) == {"email": "a", "n": 7}
            with pytest.raises(DuplicateKeyError):
                c.keep.u.insert_one({"email": "a"})
            v = c.keep.ctr.find_one_and_update({"_id": "x"}, {"$inc": {"seq": 1}},
                                               return_document=ReturnDocument.AFTER)
            assert v["seq"] == 42 and isinstance(v["seq"], Int64)
    finally:
        stop_server(proc)


def test_unsupported_features_are_errors_not_guesses(db):
    db.c.insert_one({"a": [{"x": 1}]})
    with pytest.raises(OperationFailure) as e:
        db.c.find_one({"a": 1}, collation={"locale": "fr", "strength": 1})
    assert e.value.code == 238 and e.value.details["codeName"] == "NotImplemented"
    with pytest.raises(OperationFailure) as e:
        db.c.update_one({}, {"$set": {"a.$[e].x": 2}}, array_filters=[{"e.x": 1}])
    assert e.value.code == 238
    with pytest.raises(OperationFailure) as e:
        db.c.update_one({}, [{"$set": {"b": 1}}])
    assert e.value.code == 238
    assert db.c.find_one({}, {"_id": 0}) == {"a": [{"x": 1}]}


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
