"""Parley's MongoDB stand-in: a wire-compatible test server (OP_MSG, legacy
OP_QUERY handshake) over mongomock, for when no real mongod is available.
Owns the listening socket and one thread per client connection; commands run
in commands.Backend under its global lock.

Usage: server.py --host 127.0.0.1 --port N [--port-file F] [--data-file F]
                 [--replset NAME] [--auth-file F] [--verbose]
Prints "ready" once listening; SIGTERM or SIGINT stops it cleanly."""
import argparse
import os
import signal
import socket
import socketserver
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth  # noqa: E402
import persist  # noqa: E402
import wire  # noqa: E402
from commands import Backend  # noqa: E402


class Handler(socketserver.StreamRequestHandler):
    """One client connection: read a request, run it, answer, repeat."""

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.request, True)
        self.conn = self.server.backend.new_connection()
        self.conn_id = self.conn.id

    def finish(self):
        self.server.track(self.request, False)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self):
        backend = self.server.backend
        while True:
            try:
                req = wire.read_request(self.rfile)
            except (EOFError, ConnectionError, OSError, ValueError):
                return
            except wire.ProtocolError as exc:
                self.server.log("conn %d: protocol error: %s" % (self.conn_id, exc))
                return
            reply = backend.run(req.db, req.body, self.conn)
            if self.server.verbose:
                self.server.log("conn %d %s.%s -> %s" % (
                    self.conn_id, req.db, next(iter(req.body), "?"),
                    "ok" if reply.get("ok") else reply))
            if req.more_to_come:
                continue  # unacknowledged write (w:0): the client expects no answer
            try:
                self.wfile.write(wire.encode_reply(req, reply))
                self.wfile.flush()
            except OSError:
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, backend, verbose):
        self.backend = backend
        self.verbose = verbose
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, Handler)

    def track(self, sock, add):
        with self.conns_lock:
            (self.conns.add if add else self.conns.discard)(sock)

    def close_connections(self):
        with self.conns_lock:
            conns = list(self.conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def log(self, msg):
        print("mongo_server: " + msg, file=sys.stderr, flush=True)


def _write_port_file(path, port):
    # Write then rename, so a reader never sees a half-written file.
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=27017)
    ap.add_argument("--port-file")
    ap.add_argument("--data-file", help="load data from F at start, save it there at a "
                                        "clean stop (default: memory only)")
    ap.add_argument("--replset", metavar="NAME",
                    help="answer as the primary of a one-member replica set NAME "
                         "(default: a standalone server)")
    ap.add_argument("--auth-file", metavar="F",
                    help="require SCRAM-SHA-256 login; F holds the admin database's "
                         "users, one name:password a line")
    ap.add_argument("--verbose", action="store_true", help="log every command on stderr")
    args = ap.parse_args(argv)

    users = auth.load_users(args.auth_file) if args.auth_file else None
    backend = Backend(replset=args.replset, users=users)
    if args.data_file:
        persist.load(backend, args.data_file)
    server = Server((args.host, args.port), backend, args.verbose)
    port = server.server_address[1]
    backend.set_address("%s:%d" % (args.host, port))
    if args.port_file:
        _write_port_file(args.port_file, port)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                               name="accept")
    serving.start()
    print("ready", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    serving.join()
    server.server_close()
    server.close_connections()
    if args.data_file:
        persist.save(backend, args.data_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
