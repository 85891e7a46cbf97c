"""Presence in a connection storm (API.md, Presence): when many sessions of one
group open at once, each member hears its co-members come online in a few
presence.batch frames, not one frame per co-member, and what it ends up with is
right; a user who connects and leaves at once ends offline; and the same across
two instances on Redis."""
import asyncio
import os
import time
import uuid

import pytest

from conftest import mongo_uri
from messaging_helpers import Client, create_group, run, uid

STORM = 50  # one group of 50: each member has 49 co-members


def presence_frames(client):
    """The presence frames and batches the session got, as sent (not split)."""
    return [f for f in client.seen if f.get("type") in ("presence", "presence.batch")]


class View:
    """What a client shows of its co-members: the snapshot, then each presence
    entry applied in order (a frame after ready wins over the snapshot)."""

    def __init__(self, client):
        self.client = client
        self.status = {}
        self.snapshot = False

    async def update(self, timeout):
        f = await self.client.expect_any(("presence", "presence.snapshot"), timeout=timeout)
        if f["type"] == "presence.snapshot":
            for e in f["users"]:
                self.status.setdefault(e["user_id"], e["status"])
            self.snapshot = True
        else:
            self.status[f["user_id"]] = f["status"]

    async def until(self, want, timeout=30):
        """Reads frames until every user of want shows its status; fails after timeout."""
        deadline = time.monotonic() + timeout
        while not (self.snapshot and all(self.status.get(u) == s for u, s in want.items())):
            left = deadline - time.monotonic()
            assert left > 0, f"still {self.status} (want {want})"
            await self.update(left)


async def storm(servers, sessions):
    """Opens a session for each user at once, on servers in turn."""
    return await asyncio.gather(*(Client.connect(servers[i % len(servers)], s)
                                  for i, s in enumerate(sessions)))


def check_storm(clients, users, views):
    counts = []
    for c, u in zip(clients, users):
        frames = presence_frames(c)
        counts.append(len(frames))
        # Every entry names a co-member, never the member itself.
        entries = [e for f in frames for e in (f["users"] if f["type"] == "presence.batch" else [f])]
        assert uid(u) not in {e["user_id"] for e in entries}
    # A frame per pair would be 49 each; batching makes it a few (a frame at
    # once, then one per 200 ms window at most while the storm lasts).
    assert max(counts) <= 20, counts
    assert sum(counts) <= len(clients) * 10, counts
    assert any(f["type"] == "presence.batch" and len(f["users"]) > 1
               for c in clients for f in presence_frames(c))


def test_a_storm_of_one_group_reaches_each_member_in_a_few_batches(server):
    users = [server.signup() for _ in range(STORM)]
    create_group(server, users[0], users[1:], name="storm")

    async def main():
        clients = await storm([server], users)
        views = [View(c) for c in clients]
        for v, u in zip(views, users):
            await v.until({uid(o): "online" for o in users if o is not u})
        # Quiet now: nothing more is pending for anyone (a window's worth).
        await asyncio.sleep(0.5)
        await asyncio.gather(*(c.drain(0.1) for c in clients))
        check_storm(clients, users, views)
        for c in clients:
            await c.close()

    run(main(), timeout=90)


def test_a_quick_online_offline_flip_ends_offline(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    create_group(server, a, [b, c], name="flip")

    async def main():
        a1 = await Client.connect(server, a)
        view = View(a1)
        await view.until({})  # the snapshot
        # c's online opens a's window; b then comes and goes within it.
        c1 = await Client.connect(server, c)
        await view.until({uid(c): "online"})
        for _ in range(3):
            b1 = await Client.connect(server, b)
            await b1.close()
        await view.until({uid(b): "offline", uid(c): "online"})
        # Whatever was pending has gone out: b stays offline.
        await asyncio.sleep(0.6)
        await a1.drain(0.2)
        while a1.backlog:
            f = a1.backlog.pop(0)
            if f.get("type") == "presence":
                view.status[f["user_id"]] = f["status"]
        assert view.status[uid(b)] == "offline"
        await c1.close()
        await a1.close()

    run(main())


@pytest.fixture
def pair(start_server, redis_url, tmp_path):
    """Two instances on one store and one Redis."""
    env = {"PARLEY_REDIS_URL": redis_url}
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_storm_{uuid.uuid4().hex[:10]}")
        return start_server(env=env), start_server(env=env)
    data = str(tmp_path)
    return start_server(env=env, data_dir=data), start_server(env=env, data_dir=data)


def test_a_storm_across_two_instances_is_batched_on_each(pair):
    s1, s2 = pair
    users = [s1.signup() for _ in range(30)]
    create_group(s1, users[0], users[1:], name="storm")

    async def main():
        await asyncio.sleep(0.3)  # the fresh instances' bus subscriptions
        clients = await storm([s1, s2], users)  # half on each
        views = [View(c) for c in clients]
        for v, u in zip(views, users):
            await v.until({uid(o): "online" for o in users if o is not u})
        await asyncio.sleep(0.5)
        await asyncio.gather(*(c.drain(0.1) for c in clients))
        check_storm(clients, users, views)
        # One leaves on s2: members on both instances see it offline.
        await clients[1].close()
        for v, u in list(zip(views, users))[2:4]:
            await v.until({uid(users[1]): "offline"})
        for c in clients[:1] + clients[2:]:
            await c.close()

    run(main(), timeout=90)
