"""The write concern each write carried, kept per database so that a test can
ask what durability a client requested: {parleyWriteConcerns: 1} run on a
database answers that database's writes, oldest first. Bounded: the last
MAX_PER_DB writes of the last MAX_DBS databases written to. Called under the
backend's lock."""
import collections

MAX_PER_DB = 1000
MAX_DBS = 1000


class WriteLog:
    def __init__(self):
        self.dbs = collections.OrderedDict()  # db -> deque of entries

    def record(self, db, name, body):
        entry = {"command": name}
        target = body.get(name)
        if isinstance(target, str):
            entry["collection"] = target
        if "writeConcern" in body:
            entry["writeConcern"] = body["writeConcern"]
        if "txnNumber" in body:
            entry["txnNumber"] = body["txnNumber"]
        log = self.dbs.get(db)
        if log is None:
            log = self.dbs[db] = collections.deque(maxlen=MAX_PER_DB)
            while len(self.dbs) > MAX_DBS:
                self.dbs.popitem(last=False)
        else:
            self.dbs.move_to_end(db)
        log.append(entry)

    def query(self, db):
        return {"writes": list(self.dbs.get(db, ()))}
