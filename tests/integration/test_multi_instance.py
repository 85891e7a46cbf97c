"""Two parleyd processes on different ports sharing one Redis bus and one store:
messages, typing, read receipts, conversation and presence events cross between
them; an instance killed with SIGKILL loses nothing its clients cannot get back
with sync; every client sees each conversation in seq order, without repeats.

The store is shared too: with PARLEY_TEST_STORE=mongo both use one MongoDB
database; with SQLite both open the same file in one data directory (WAL, and
every write transaction is BEGIN IMMEDIATE with a busy timeout, so two
processes serialise their writes; seq stays gap-free, which the tests check)."""
import asyncio
import os
import signal
import uuid

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, api, create_direct, create_group, metric, post_message, run, uid


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    """Two instances on one store and one Redis."""
    env = {"PARLEY_REDIS_URL": redis_url}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_pair_{uuid.uuid4().hex[:10]}")
        one = start_server(env=env)
        two = start_server(env=env)
    else:
        # pytest owns tmp_path: it outlives the servers, which log into it.
        data = str(tmp_path)
        one = start_server(env=env, data_dir=data)
        two = start_server(env=env, data_dir=data)
    return one, two


async def settle():
    # The bus subscription of a fresh instance is asynchronous.
    await asyncio.sleep(0.3)


def test_messages_and_events_cross_instances(pair):
    s1, s2 = pair
    a, b, c = s1.signup(), s1.signup(), s2.signup()
    cid = create_direct(s1, a, b)["id"]

    async def main():
        a1 = await Client.connect(s1, a)
        b2 = await Client.connect(s2, b)
        await settle()
        await a1.send({"type": "message.send", "conversation_id": cid, "text": "from one", "client_id": "k1"})
        m = (await a1.expect("message.ack"))["message"]
        assert (await b2.expect("message.new"))["message"] == m
        # A REST send on the second instance reaches the first.
        r = post_message(s2, b, cid, "from two")
        assert r.status == 201
        assert (await a1.expect("message.new"))["message"]["seq"] == 2
        await b2.expect("message.new", timeout=2)  # b's own REST send, to b's session
        # Typing and read receipts cross.
        await b2.send({"type": "typing", "conversation_id": cid, "state": "start"})
        assert (await a1.expect("typing"))["user_id"] == uid(b)
        # (b's marker is at 2 already: a sender has read what they wrote.)
        await a1.send({"type": "read", "conversation_id": cid, "seq": 2})
        f = await b2.expect("read")
        assert (f["user_id"], f["seq"]) == (uid(a), 2)
        # conversation.updated and message.updated cross.
        g = create_group(s2, c, [a, b], name="Across")
        assert (await a1.expect("conversation.updated"))["conversation"]["id"] == g["id"]
        assert api(s2, "PATCH", f"/api/messages/{m['id']}", a, {"text": "edited"}).status == 200
        assert (await a1.expect("message.updated"))["message"]["text"] == "edited"
        assert (await b2.expect("message.updated"))["message"]["text"] == "edited"
        # Nothing arrives twice (the instance that stored a message ignores its echo).
        await a1.drain(0.5)
        await b2.drain(0.1)
        for cl in (a1, b2):
            news = [f["message"]["seq"] for f in cl.seen if f["type"] in ("message.new", "message.ack")]
            assert news == sorted(set(news)), news
        await a1.close()
        await b2.close()

    run(main())
    # Each stored message was published once, by the instance that stored it.
    assert metric(s1, "parley_messages_stored_total") == 1
    assert metric(s2, "parley_messages_stored_total") == 1
    for s in (s1, s2):
        assert metric(s, "parley_bus_published_total") >= 1
        assert metric(s, "parley_bus_received_total") >= 1


def test_presence_across_instances(pair):
    s1, s2 = pair
    a, b = s1.signup(), s1.signup()
    create_direct(s1, a, b)

    async def main():
        b2 = await Client.connect(s2, b)
        await settle()
        a1 = await Client.connect(s1, a)
        assert (await b2.expect("presence", user_id=uid(a)))["status"] == "online"
        a2 = await Client.connect(s2, a)
        await b2.expect_none("presence", user_id=uid(a))
        await a1.close()
        await b2.expect_none("presence", user_id=uid(a))
        await a2.close()
        assert (await b2.expect("presence", user_id=uid(a)))["status"] == "offline"
        await b2.close()

    run(main())


def test_killed_instance_loses_nothing(pair):
    s1, s2 = pair
    a, b = s1.signup(), s1.signup()
    cid = create_direct(s1, a, b)["id"]

    async def main():
        b2 = await Client.connect(s2, b)
        await settle()
        a1 = await Client.connect(s1, a)
        await b2.expect("presence", user_id=uid(a), status="online")
        for i in range(3):
            await b2.send({"type": "message.send", "conversation_id": cid, "text": f"before {i}", "client_id": f"b{i}"})
        got = [(await a1.expect("message.new"))["message"]["seq"] for _ in range(3)]
        assert got == [1, 2, 3]
        s1.proc.send_signal(signal.SIGKILL)
        s1.proc.wait()
        # Meanwhile, on the surviving instance.
        for i in range(5):
            await b2.send({"type": "message.send", "conversation_id": cid, "text": f"during {i}", "client_id": f"d{i}"})
            await b2.expect("message.ack")
        # The dead instance stops refreshing a's presence: b hears a went offline.
        f = await b2.expect("presence", user_id=uid(a), timeout=25)
        assert f["status"] == "offline"
        # a reconnects to the survivor and catches up with sync.
        a2 = await Client.connect(s2, a)
        await a2.send({"type": "sync", "conversation_id": cid, "after_seq": got[-1]})
        r = await a2.expect("sync.result")
        assert [m["seq"] for m in r["messages"]] == [4, 5, 6, 7, 8]
        assert [m["text"] for m in r["messages"]] == [f"during {i}" for i in range(5)]
        assert (await b2.expect("presence", user_id=uid(a)))["status"] == "online"
        await a2.close()
        await b2.close()

    run(main(), timeout=90)


def test_concurrent_senders_on_both_instances_same_order(pair):
    s1, s2 = pair
    people = [s1.signup() for _ in range(6)]
    cid = create_group(s1, people[0], people[1:])["id"]
    per_sender = 10
    total = per_sender * len(people)

    async def main():
        clients = [await Client.connect(s1 if i % 2 else s2, p) for i, p in enumerate(people)]
        await settle()

        async def blast(i, c):
            for k in range(per_sender):
                await c.send({"type": "message.send", "conversation_id": cid,
                              "text": f"{i}-{k}", "client_id": f"{i}-{k}"})

        await asyncio.gather(*(blast(i, c) for i, c in enumerate(clients)))
        for c in clients:
            seqs = []
            while len(seqs) < total:
                try:
                    f = await c.expect_any(("message.new", "message.ack"), timeout=15)
                except AssertionError:
                    raise AssertionError(f"got {seqs}; other frames {c.backlog}")
                seqs.append(f["message"]["seq"])
            assert seqs == list(range(1, total + 1)), seqs
        for c in clients:
            await c.close()

    run(main())
    r = api(s2, "GET", f"/api/conversations/{cid}/messages?limit=200", people[0])
    assert [m["seq"] for m in r.json()["messages"]] == list(range(1, total + 1))
