"""Tests for the MongoDB test server: start server.py on a free port and talk
to it as drivers do, with pymongo (Debian's python3-pymongo 3.11) and with raw
OP_QUERY / OP_MSG frames. Run: /usr/bin/python3 -m pytest tests/mongo_server -q"""
import json
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


# -- replica-set mode, login, retryable writes, write concerns ----------------

sys.path.insert(0, HERE)
import auth  # noqa: E402

USER, PASSWORD = "parley", "s3cret, p=ss"  # a comma and an '=' as SCRAM escapes them


@pytest.fixture(scope="module")
def rs_server(tmp_path_factory):
    users = tmp_path_factory.mktemp("rs") / "users"
    users.write_text("# admin users\n%s:%s\nother:other-password\n" % (USER, PASSWORD))
    proc, port = start_server("--replset", "rs0", "--auth-file", str(users))
    yield port
    stop_server(proc)


def rs_uri(port, user=USER, password=PASSWORD, extra=""):
    from urllib.parse import quote
    return ("mongodb://%s:%s@127.0.0.1:%d/?replicaSet=rs0&authSource=admin%s"
            % (quote(user, safe=""), quote(password, safe=""), port, extra))


@pytest.fixture
def rs_client(rs_server):
    c = pymongo.MongoClient(rs_uri(rs_server), serverSelectionTimeoutMS=3000)
    yield c
    c.close()


def test_replica_set_hello_describes_a_primary(rs_server):
    with socket.create_connection(("127.0.0.1", rs_server)) as s:
        me = "127.0.0.1:%d" % rs_server
        for hello in (op_query(s, "admin.$cmd", {"isMaster": 1}),
                      op_msg(s, {"hello": 1, "$db": "admin"})):
            assert hello["setName"] == "rs0" and hello["setVersion"] == 1
            assert hello["hosts"] == [me] and hello["primary"] == me and hello["me"] == me
            assert hello["secondary"] is False
            assert hello.get("isWritablePrimary", hello.get("ismaster")) is True
            assert isinstance(hello["electionId"], bson.ObjectId)
            assert hello["lastWrite"]["opTime"]["t"] == 1
            assert "clusterTime" in hello["$clusterTime"] and "operationTime" in hello


def test_driver_discovers_the_set_and_cluster_time_advances(rs_client):
    db = rs_client["rs_" + uuid.uuid4().hex[:8]]
    t0 = db.command("ping")["operationTime"]
    db.c.insert_one({"x": 1})
    # pymongo's primary is None unless it found a replica set with a primary.
    assert rs_client.primary == ("127.0.0.1", rs_client.address[1])
    assert rs_client.nodes == {rs_client.primary} and rs_client.secondaries == set()
    t1 = db.command("ping")["operationTime"]
    assert t1 > t0


def login(sock, user, password, mechanism="SCRAM-SHA-256", tamper=None):
    """A SCRAM-SHA-256 login written from RFC 5802/7677; returns the reply of
    the failing step or of the last one."""
    import base64
    import hashlib
    import hmac as hm
    cnonce = base64.b64encode(os.urandom(18)).decode()
    name = user.replace("=", "=3D").replace(",", "=2C")
    first_bare = "n=%s,r=%s" % (name, cnonce)
    r = op_msg(sock, {"saslStart": 1, "mechanism": mechanism, "$db": "admin",
                      "payload": ("n,," + first_bare).encode(),
                      "options": {"skipEmptyExchange": True}})
    if not r["ok"]:
        return r
    server_first = bytes(r["payload"]).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    assert attrs["r"].startswith(cnonce) and int(attrs["i"]) == 15000
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hm.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    if tamper == "nonce":
        final_bare = "c=biws,r=" + cnonce + "x"
    message = ",".join((first_bare, server_first, final_bare)).encode()
    proof = bytes(a ^ b for a, b in zip(client_key, hm.new(stored, message, hashlib.sha256)
                                        .digest()))
    if tamper == "proof":
        proof = bytes([proof[0] ^ 1]) + proof[1:]
    r = op_msg(sock, {"saslContinue": 1, "conversationId": r["conversationId"], "$db": "admin",
                      "payload": (final_bare + ",p=" + base64.b64encode(proof).decode())
                      .encode()})
    if r["ok"]:
        server_key = hm.new(salted, b"Server Key", hashlib.sha256).digest()
        expected = "v=" + base64.b64encode(hm.new(server_key, message, hashlib.sha256)
                                           .digest()).decode()
        assert bytes(r["payload"]).decode() == expected  # the server proves it knows us too
        assert r["done"] is True
    return r


def test_scram_sha_256_follows_rfc_7677_test_vector():
    """RFC 7677's example conversation, run through the server's side."""
    import base64
    a = auth.Authenticator({("admin", "user"): auth.Credential(
        "pencil", salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), iterations=4096)})
    a.server_nonce = lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

    class Conn:
        user = sasl = None
    conn = Conn()
    r = a.start(conn, "admin", {"mechanism": "SCRAM-SHA-256",
                                "payload": b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"})
    assert bytes(r["payload"]) == (b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                   b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    r = a.proceed(conn, "admin", {"conversationId": r["conversationId"], "payload": (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")})
    assert bytes(r["payload"]) == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert r["done"] is False and conn.user is None  # no skipEmptyExchange: one more step
    r = a.proceed(conn, "admin", {"conversationId": r["conversationId"], "payload": b""})
    assert r["done"] is True and conn.user == ("admin", "user")


def test_login_required_and_checked(rs_server):
    with socket.create_connection(("127.0.0.1", rs_server)) as s:
        # What a client needs before it logs in is answered...
        for cmd in ("hello", "isMaster", "ping", "buildInfo"):
            assert op_msg(s, {cmd: 1, "$db": "admin"})["ok"] == 1, cmd
        # ...anything else is refused.
        for cmd in ({"find": "c"}, {"insert": "c", "documents": [{}]}, {"listDatabases": 1},
                    {"parleyWriteConcerns": 1}, {"endSessions": []}):
            r = op_msg(s, dict(cmd, **{"$db": "admin"}))
            assert (r["ok"], r["code"], r["codeName"]) == (0, 13, "Unauthorized"), r
        for bad in ({"password": "wrong"}, {"tamper": "proof"}, {"tamper": "nonce"},
                    {"user": "nobody"}, {"mechanism": "SCRAM-SHA-1"}):
            r = login(s, bad.get("user", USER), bad.get("password", PASSWORD),
                      bad.get("mechanism", "SCRAM-SHA-256"), bad.get("tamper"))
            assert (r["ok"], r["code"], r["errmsg"]) == (0, 18, "Authentication failed."), bad
            assert op_msg(s, {"find": "c", "$db": "x"})["code"] == 13
        r = op_msg(s, {"saslContinue": 1, "conversationId": 1, "payload": b"", "$db": "admin"})
        assert r["ok"] == 0 and r["code"] == 17
        assert login(s, USER, PASSWORD)["ok"] == 1
        assert op_msg(s, {"find": "c", "$db": "x"})["ok"] == 1
    with socket.create_connection(("127.0.0.1", rs_server)) as s:  # per connection
        assert op_msg(s, {"find": "c", "$db": "x"})["code"] == 13


def test_drivers_log_in_with_negotiation_and_speculative_auth(rs_server):
    with socket.create_connection(("127.0.0.1", rs_server)) as s:
        hello = op_msg(s, {"hello": 1, "$db": "admin", "saslSupportedMechs": "admin." + USER})
        assert hello["saslSupportedMechs"] == ["SCRAM-SHA-256"]
        hello = op_msg(s, {"hello": 1, "$db": "admin", "saslSupportedMechs": "admin.nobody"})
        assert "saslSupportedMechs" not in hello
        hello = op_msg(s, {"hello": 1, "$db": "admin", "speculativeAuthenticate": {
            "saslStart": 1, "mechanism": "SCRAM-SHA-256", "db": "admin",
            "payload": b"n,,n=%s,r=abc" % USER.replace(",", "=2C").replace("=", "=3D").encode()}})
        spec = hello["speculativeAuthenticate"]
        assert spec["done"] is False and bytes(spec["payload"]).startswith(b"r=abc")
    for user, password, ok in ((USER, PASSWORD, True), (USER, "wrong", False),
                               ("other", "other-password", True), ("nobody", "x", False)):
        c = pymongo.MongoClient(rs_uri(rs_server, user, password), serverSelectionTimeoutMS=3000)
        try:
            if ok:
                c.t.c.insert_one({})
            else:
                with pytest.raises(OperationFailure) as e:
                    c.t.c.find_one()
                assert e.value.code == 18
        finally:
            c.close()


def test_retryable_writes_run_once(rs_server, rs_client):
    db = "retry_" + uuid.uuid4().hex[:8]
    lsid = {"id": bson.Binary(uuid.uuid4().bytes, 4)}
    with socket.create_connection(("127.0.0.1", rs_server)) as s:
        assert login(s, USER, PASSWORD)["ok"] == 1

        def cmd(c, txn, **extra):
            return op_msg(s, dict(c, lsid=lsid, txnNumber=Int64(txn), **{"$db": db}, **extra))
        assert cmd({"insert": "c", "documents": [{"_id": 1}]}, 5)["n"] == 1
        # The retry of txnNumber 5 answers the first reply: no duplicate key, no second run.
        assert cmd({"insert": "c", "documents": [{"_id": 1}]}, 5)["n"] == 1
        inc = {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}]}
        assert cmd(inc, 6)["nModified"] == 1
        assert cmd(inc, 6)["nModified"] == 1
        assert rs_client[db].c.find_one({"_id": 1}) == {"_id": 1, "n": 1}
        assert cmd({"insert": "c", "documents": [{"_id": 2}]}, 4)["code"] == 225  # too old
        assert cmd({"find": "c"}, 7)["code"] == 50768  # NotARetryableWriteCommand
        assert cmd({"insert": "c", "documents": [{"_id": 3}]}, 8, autocommit=False,
                   startTransaction=True)["code"] == 238  # no transactions in the stand-in
        r = op_msg(s, {"insert": "c", "documents": [{"_id": 3}], "txnNumber": Int64(1),
                       "$db": db})
        assert r["code"] == 72  # a txnNumber needs a session
    assert rs_client[db].c.count_documents({}) == 1
    # A driver's retryable writes: pymongo sends lsid + txnNumber on its own.
    rs_client[db].d.insert_one({"_id": "p"})
    log = rs_client[db].command("parleyWriteConcerns")["writes"]
    assert any(w["collection"] == "d" and "txnNumber" in w for w in log), log


def test_standalone_refuses_transaction_numbers(db):
    with pytest.raises(OperationFailure) as e:
        db.command({"insert": "c", "documents": [{}], "lsid": {"id": bson.Binary(
            uuid.uuid4().bytes, 4)}, "txnNumber": Int64(1)})
    assert e.value.code == 20


def test_write_concerns_are_recorded_per_database(rs_server):
    from pymongo.write_concern import WriteConcern
    c = pymongo.MongoClient(rs_uri(rs_server, extra="&w=majority&journal=true"),
                            serverSelectionTimeoutMS=3000)
    try:
        one, two = (c["wc_" + uuid.uuid4().hex[:8]] for _ in range(2))
        one.c.insert_one({"_id": 1})
        one.c.update_one({"_id": 1}, {"$set": {"a": 1}})
        one.c.find_one_and_update({"_id": 1}, {"$set": {"a": 2}})
        one.c.delete_one({"_id": 1})
        one.c.find_one()  # a read: not recorded
        one.get_collection("c", write_concern=WriteConcern(w=1)).insert_one({"_id": 2})
        two.c.insert_one({"_id": 1})
        log = one.command("parleyWriteConcerns")["writes"]
        assert [(w["command"], w["collection"]) for w in log] == [
            ("insert", "c"), ("update", "c"), ("findAndModify", "c"), ("delete", "c"),
            ("insert", "c")]
        assert all(w["writeConcern"] == {"w": "majority", "j": True} for w in log[:4]), log
        assert log[4]["writeConcern"] == {"w": 1}
        assert len(two.command("parleyWriteConcerns")["writes"]) == 1
        with pytest.raises(OperationFailure) as e:
            one.command({"insert": "c", "documents": [{}], "writeConcern": 1})
        assert e.value.code == 14
    finally:
        c.close()


def test_text_search_in_aggregate(db):
    """The minimal $text (textsearch.py): whole words after case and diacritic
    folding, terms ORed, more terms scoring higher; textScore in later stages."""
    c = db.notes
    c.create_index([("text", "text")], name="text_text", default_language="none")
    c.insert_many([
        {"_id": 1, "text": "Un CAFÉ crème", "k": "a"},
        {"_id": 2, "text": "cafe au lait", "k": "a"},
        {"_id": 3, "text": "cafeteria", "k": "a"},
        {"_id": 4, "text": "café", "k": "b"},
        {"_id": 5, "text": None, "k": "a"},
    ])
    out = list(c.aggregate([
        {"$match": {"$text": {"$search": "lait Cafe"}, "k": "a"}},
        {"$addFields": {"score": {"$meta": "textScore"}}},
        {"$sort": {"score": -1, "_id": 1}},
    ]))
    assert [d["_id"] for d in out] == [2, 1]
    assert out[0]["score"] > out[1]["score"] > 0
    assert all("__parley_text_score" not in d for d in out)
    with pytest.raises(OperationFailure) as e:
        list(c.aggregate([{"$match": {"$text": {"$search": "\"cafe au\""}}}]))
    assert e.value.code == 238
    with pytest.raises(OperationFailure) as e:
        list(db.no_index.aggregate([{"$match": {"$text": {"$search": "x"}}}]))
    assert e.value.code == 27


def test_query_shapes_are_recorded_per_database(client, db):
    db.m.create_index([("conversation_id", 1), ("seq", 1)], unique=True)
    db.m.create_index([("status", 1)], partialFilterExpression={"status": "pending"})
    list(db.m.find({"conversation_id": "c", "seq": {"$lt": 9}}).sort("seq", -1))
    list(db.m.find({"$or": [{"a": {"$in": [1]}}, {"b": 2, "c": {"$gt": 1}}]}))
    db.m.update_one({"_id": 1, "x": None}, {"$set": {"y": 1}})
    list(db.m.aggregate([{"$match": {"status": "pending"}}, {"$sort": {"created_at": 1}},
                         {"$group": {"_id": None}}]))
    try:  # recorded before it runs, whatever the stand-in makes of it
        db.m.find_one_and_update({"$text": {"$search": "w"}, "$where": "1"}, {"$set": {"z": 1}})
    except OperationFailure:
        pass
    client["other_" + uuid.uuid4().hex[:8]].n.find_one({"k": 1})
    got = db.command("parleyQueryShapes")
    shapes = {(q["command"], json.dumps(q, sort_keys=True)) for q in got["queries"]}
    by_cmd = {}
    for q in got["queries"]:
        by_cmd.setdefault(q["command"], []).append(q)
    assert all(q["collection"] == "m" for q in got["queries"]), shapes
    find = by_cmd["find"]
    assert {"eq": ["conversation_id"], "range": ["seq"], "sort": [["seq", -1]]}.items() <= \
        find[0].items()
    assert find[1]["or"] == [[
        {"eq": ["a"], "range": [], "or": [], "text": False, "scan": False},
        {"eq": ["b"], "range": ["c"], "or": [], "text": False, "scan": False}]]
    assert by_cmd["update"][0]["eq"] == ["_id", "x"]
    assert (by_cmd["aggregate"][0]["eq"], by_cmd["aggregate"][0]["sort"]) == \
        (["status"], [["created_at", 1]])
    fam = by_cmd["findAndModify"][0]
    assert fam["text"] and fam["scan"]
    assert sorted(map(str, got["indexes"]["m"])) == sorted(map(str, [
        {"key": [["conversation_id", 1], ["seq", 1]], "unique": True, "partial": []},
        {"key": [["status", 1]], "unique": False, "partial": ["status"]}]))
    # the same query twice is one shape; the admin database answers every database's
    list(db.m.find({"conversation_id": "d", "seq": {"$lt": 3}}).sort("seq", -1))
    assert len(db.command("parleyQueryShapes")["queries"]) == len(got["queries"])
    everything = client.admin.command("parleyQueryShapes")["queries"]
    assert any(q["collection"] == "n" for q in everything)


def test_index_check_applies_the_prefix_rule():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "integration"))
    import mongo_index_check as check

    def shape(eq=(), rng=(), sort=(), ors=(), coll="m"):
        return {"command": "find", "collection": coll, "eq": sorted(eq), "range": sorted(rng),
                "sort": [list(s) for s in sort], "text": False, "scan": False,
                "or": [[{"eq": sorted(b[0]), "range": sorted(b[1]), "text": False,
                         "scan": False, "or": []} for b in ors]] if ors else []}

    idx = {"m": [{"key": [["c", 1], ["s", 1]], "unique": True, "partial": []},
                 {"key": [["u", 1], ["t", -1], ["_id", -1]], "unique": False, "partial": []},
                 {"key": [["c", 1], ["k", 1]], "unique": False, "partial": ["src"]}]}
    served = [shape(eq=["c"], rng=["s"], sort=[("s", -1)]), shape(eq=["c", "s", "x"]),
              shape(eq=["u"], sort=[("t", 1), ("_id", 1)]), shape(eq=["_id", "zz"]),
              shape(eq=["c", "k", "src"]), shape(ors=[(["c"], []), (["u"], [])])]
    unserved = [shape(eq=["s"]), shape(eq=["u"], sort=[("t", -1), ("_id", 1)]),
                shape(eq=["c", "x"]), shape(), shape(eq=["c", "k"]),
                shape(ors=[(["c"], []), (["v"], [])]), shape(eq=["u"], rng=["q"])]
    assert check.unserved({"queries": served, "indexes": idx}) == []
    assert check.unserved({"queries": unserved, "indexes": idx}) == unserved
