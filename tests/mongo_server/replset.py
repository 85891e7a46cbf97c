"""Replica-set mode of the test server: a single-member set (this server is
its primary) as a driver discovers it through hello, the cluster time it
gossips, and retryable writes (lsid + txnNumber): a retried write answers
the reply of the first attempt instead of running again, as MongoDB's
session catalogue makes it. Called under the backend's lock."""
import collections
import datetime
import time

from bson.objectid import ObjectId
from bson.timestamp import Timestamp

MAX_SESSIONS = 10000  # remembered sessions; the oldest is forgotten first
RETRYABLE = {"insert", "update", "delete", "findAndModify", "findandmodify"}
WRITES = RETRYABLE | {"createIndexes", "dropIndexes", "deleteIndexes", "drop",
                      "dropDatabase", "create"}


class TxnError(Exception):
    def __init__(self, code, errmsg):
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg


class ReplicaSet:
    def __init__(self, name):
        self.name = name
        self.address = None  # "host:port", set once the listener is bound
        self.election_id = ObjectId("7fffffff0000000000000001")
        self.term = 1
        self.last_ts = Timestamp(int(time.time()), 1)
        self.last_write = datetime.datetime.now(datetime.timezone.utc)
        self.sessions = collections.OrderedDict()  # lsid id -> [txnNumber, reply]

    # -- topology --------------------------------------------------------

    def hello_fields(self):
        """What a primary adds to hello: the set, its members and its state."""
        op_time = {"ts": self.last_ts, "t": self.term}
        return {
            "hosts": [self.address],
            "setName": self.name,
            "setVersion": 1,
            "secondary": False,
            "primary": self.address,
            "me": self.address,
            "electionId": self.election_id,
            "lastWrite": {"opTime": op_time, "lastWriteDate": self.last_write,
                          "majorityOpTime": op_time, "majorityWriteDate": self.last_write},
        }

    def tick(self, wrote):
        """The cluster time: advances with every write, as the oplog's does."""
        if wrote:
            now = int(time.time())
            inc = self.last_ts.inc + 1 if now <= self.last_ts.time else 1
            self.last_ts = Timestamp(max(now, self.last_ts.time), inc)
            self.last_write = datetime.datetime.now(datetime.timezone.utc)
        return self.last_ts

    def gossip(self, reply):
        """$clusterTime and operationTime on every answer, as a member sends."""
        ts = self.last_ts
        reply["$clusterTime"] = {"clusterTime": ts,
                                 "signature": {"hash": b"\x00" * 20, "keyId": 0}}
        reply["operationTime"] = ts

    # -- retryable writes --------------------------------------------------

    def before(self, name, body):
        """For a command with txnNumber: the first attempt's reply when this is
        a retry, else None (the command runs). Raises TxnError when MongoDB
        would refuse the number."""
        txn = body.get("txnNumber")
        if "autocommit" in body or "startTransaction" in body:
            raise TxnError(238, "multi-document transactions are not implemented by the "
                                "mongomock test server")
        if name not in RETRYABLE:
            raise TxnError(50768, "txnNumber may only be provided for multi-document "
                                  "transactions and retryable write commands. autocommit:false "
                                  "was not provided, and %s is not a retryable write command."
                                  % name)
        lsid = body.get("lsid")
        if not isinstance(lsid, dict) or "id" not in lsid:
            raise TxnError(72, "Transaction number requires a session ID to also be specified")
        if isinstance(txn, bool) or not isinstance(txn, int) or txn < 0:
            raise TxnError(14, "BSON field 'txnNumber' is the wrong type, expected type 'long'")
        key = self._key(lsid)
        seen = self.sessions.get(key)
        if seen is not None:
            self.sessions.move_to_end(key)
            if txn < seen[0]:
                raise TxnError(225, "Retryable write with txnNumber %d is prohibited on "
                                    "session %s because a newer retryable write with "
                                    "txnNumber %d has already started on this session."
                               % (txn, key.hex(), seen[0]))
            if txn == seen[0] and seen[1] is not None:
                return dict(seen[1])
        return None

    def after(self, body, reply):
        """Remembers the reply of a write that ran under (lsid, txnNumber)."""
        key = self._key(body["lsid"])
        self.sessions[key] = [body["txnNumber"], dict(reply) if reply.get("ok") else None]
        self.sessions.move_to_end(key)
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)

    @staticmethod
    def _key(lsid):
        sid = lsid.get("id")
        return bytes(sid) if isinstance(sid, (bytes, bytearray)) else repr(sid).encode()
