"""Makes a fresh mongod, started with --replSet NAME --keyFile F, what
./scripts/test connects to: initiates the one-member replica set and creates
the users of a users file (name:password lines, as server.py --auth-file
reads) in the admin database with the root role. Runs through the localhost
exception (no user exists yet), as MongoDB's "deploy a replica set with keyfile
authentication" tutorial does; the passwords never appear on a command line.

Usage: mongod_init.py --port N --replset NAME --users FILE"""
import argparse
import sys
import time

import pymongo
from pymongo.errors import OperationFailure

import auth


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--replset", required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args(argv)
    host = "127.0.0.1:%d" % args.port
    client = pymongo.MongoClient(host, directConnection=True, serverSelectionTimeoutMS=5000)
    try:
        client.admin.command("replSetInitiate", {"_id": args.replset,
                                                 "members": [{"_id": 0, "host": host}]})
    except OperationFailure as exc:
        if exc.code != 23:  # AlreadyInitialized
            raise
    deadline = time.time() + args.timeout
    while not client.admin.command("hello").get("isWritablePrimary"):
        if time.time() > deadline:
            print("mongod_init: %s did not become primary" % host, file=sys.stderr)
            return 1
        time.sleep(0.2)
    for name, password in auth.read_users(args.users):
        try:
            client.admin.command("createUser", name, pwd=password, roles=["root"],
                                 mechanisms=["SCRAM-SHA-256"])
        except OperationFailure as exc:
            if exc.code != 51003:  # the user exists (a rerun)
                raise
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
