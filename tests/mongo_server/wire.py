"""MongoDB wire protocol framing for the test server: reads OP_MSG and legacy
OP_QUERY requests off a socket file and encodes OP_MSG / OP_REPLY answers.
Owns no state; called from each connection's thread."""
import itertools
import struct

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.int64 import Int64

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013
OP_COMPRESSED = 2012

MSG_CHECKSUM_PRESENT = 1 << 0
MSG_MORE_TO_COME = 1 << 1

MAX_MESSAGE_SIZE = 48000000

# Binary subtypes 3 and 4 must come back as they went in, so UUIDs stay Binary.
CODEC = CodecOptions(tz_aware=False, uuid_representation=UuidRepresentation.UNSPECIFIED)

_HEADER = struct.Struct("<iiii")


class ProtocolError(Exception):
    """The peer sent something this server cannot frame; the connection closes."""


class I64(Int64):
    """An Int64 whose arithmetic stays Int64, as MongoDB's $inc on a long does
    (plain Int64 + int gives a Python int, which would re-encode as int32)."""

    def _wrap(self, r):
        return I64(r) if isinstance(r, int) and not isinstance(r, bool) else r

    def __add__(self, o):
        return self._wrap(int.__add__(self, o))

    def __radd__(self, o):
        return self._wrap(int.__radd__(self, o))

    def __sub__(self, o):
        return self._wrap(int.__sub__(self, o))

    def __rsub__(self, o):
        return self._wrap(int.__rsub__(self, o))

    def __mul__(self, o):
        return self._wrap(int.__mul__(self, o))

    def __rmul__(self, o):
        return self._wrap(int.__rmul__(self, o))

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self


def _longs(value):
    """Replace decoded Int64 values with I64, in place, recursively."""
    if isinstance(value, dict):
        for k, v in value.items():
            if type(v) is Int64:
                value[k] = I64(v)
            elif isinstance(v, (dict, list)):
                _longs(v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if type(v) is Int64:
                value[i] = I64(v)
            elif isinstance(v, (dict, list)):
                _longs(v)
    return value


def decode(data):
    return _longs(bson.decode(data, CODEC))


class Request:
    def __init__(self, op, request_id, db, body, more_to_come=False, legacy_ns=None):
        self.op = op
        self.request_id = request_id
        self.db = db
        self.body = body
        self.more_to_come = more_to_come
        self.legacy_ns = legacy_ns


def _read_exact(f, n):
    data = f.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def _cstring(buf, pos):
    end = buf.index(b"\x00", pos)
    return buf[pos:end].decode("utf-8"), end + 1


def _bson_at(buf, pos):
    (size,) = struct.unpack_from("<i", buf, pos)
    if size < 5 or pos + size > len(buf):
        raise ProtocolError("bad BSON length")
    return buf[pos:pos + size], pos + size


def _parse_msg(request_id, payload):
    (flags,) = struct.unpack_from("<I", payload, 0)
    end = len(payload) - (4 if flags & MSG_CHECKSUM_PRESENT else 0)
    pos = 4
    body = None
    sequences = []
    while pos < end:
        kind = payload[pos]
        pos += 1
        if kind == 0:
            raw, pos = _bson_at(payload, pos)
            body = decode(raw)
        elif kind == 1:
            (size,) = struct.unpack_from("<i", payload, pos)
            sec_end = pos + size
            ident, p = _cstring(payload, pos + 4)
            docs = []
            while p < sec_end:
                raw, p = _bson_at(payload, p)
                docs.append(decode(raw))
            sequences.append((ident, docs))
            pos = sec_end
        else:
            raise ProtocolError("unknown OP_MSG section kind %d" % kind)
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    # Document sequences are the same as an array field of the body.
    for ident, docs in sequences:
        body.setdefault(ident, [])
        body[ident].extend(docs)
    return Request(OP_MSG, request_id, body.get("$db"), body,
                   more_to_come=bool(flags & MSG_MORE_TO_COME))


def _parse_query(request_id, payload):
    ns, pos = _cstring(payload, 4)
    pos += 8  # numberToSkip, numberToReturn
    raw, pos = _bson_at(payload, pos)
    query = decode(raw)
    # Drivers wrap the command as {$query: cmd, $readPreference: ...} on mongos.
    if "$query" in query:
        query = query["$query"]
    db = ns.split(".", 1)[0]
    return Request(OP_QUERY, request_id, db, query, legacy_ns=ns)


def read_request(f):
    """Read one request; returns a Request, or None for an opcode this server
    ignores (legacy ones that take no reply). Raises EOFError at end of stream."""
    header = _read_exact(f, 16)
    length, request_id, _response_to, op = _HEADER.unpack(header)
    if length < 16 or length > MAX_MESSAGE_SIZE:
        raise ProtocolError("bad message length %d" % length)
    payload = _read_exact(f, length - 16)
    if op == OP_MSG:
        return _parse_msg(request_id, payload)
    if op == OP_QUERY:
        return _parse_query(request_id, payload)
    raise ProtocolError("unsupported opcode %d" % op)


_next_id = itertools.count(1)


def encode_reply(request, doc):
    """Encode doc as the answer to request, in the matching opcode."""
    body = bson.encode(doc, codec_options=CODEC)
    rid = next(_next_id)
    if request.op == OP_MSG:
        payload = struct.pack("<I", 0) + b"\x00" + body
        op = OP_MSG
    else:
        # responseFlags 8 = AwaitCapable, cursorID 0, startingFrom 0, numberReturned 1.
        payload = struct.pack("<iqii", 8, 0, 0, 1) + body
        op = OP_REPLY
    return _HEADER.pack(16 + len(payload), rid, request.request_id, op) + payload
