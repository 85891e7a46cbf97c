"""Bots (API.md, Bots): accounts a user owns, their tokens (shown once, rotated,
refused outside the bot routes), and their webhook: every message of their
conversations delivered signed (HMAC-SHA256 over the body), one at a time,
retried with backoff after a failure, disabled after bot_max_failures (the owner
told), resumed after a restart. A local receiver started here checks every
signature and records what arrives."""
import json
import time

import pytest
import websockets

from bot_receiver import Receiver
from conftest import Server
from messaging_helpers import Client, api, create_group, run, uid

FAILURES = 3
PUBLIC_URL = "http://parley.test"


def wait_until(fn, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    return fn()


def bot_env(receiver):
    return {"PARLEY_API_CALL_ALLOW": f"127.0.0.1:{receiver.port}",
            "PARLEY_BOT_BACKOFF_MS": "20", "PARLEY_BOT_BACKOFF_MAX_MS": "80",
            "PARLEY_BOT_MAX_FAILURES": str(FAILURES), "PARLEY_BOT_POLL_MS": "50",
            "PARLEY_BOT_TIMEOUT_MS": "1000", "PARLEY_PUBLIC_URL": PUBLIC_URL}


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def srv(receiver):
    """One server for the module's tests (each uses its own users and bots)."""
    s = Server(env=bot_env(receiver))
    s.start()
    yield s
    report = s.cleanup()
    assert not report, "sanitizer report from parleyd:\n" + report


def bot_api(server, method, path, token, body=None):
    return server.request(method, path, body=body, headers={"Authorization": f"Bot {token}"})


def make_bot(server, owner, receiver, path, name="Helper"):
    r = api(server, "POST", "/api/bots", owner, {"name": name, "webhook_url": receiver.url(path)})
    assert r.status == 201, r
    out = r.json()
    receiver.secrets[out["bot"]["id"]] = out["signing_secret"]
    return out


def bot_of(server, owner, bot_id):
    r = api(server, "GET", f"/api/bots/{bot_id}", owner)
    assert r.status == 200, r
    return r.json()["bot"]


def test_token_shown_once_rotated_and_refused_elsewhere(srv, receiver):
    owner, other = srv.signup(), srv.signup()
    made = make_bot(srv, owner, receiver, "/crud")
    bot, token = made["bot"], made["token"]
    assert bot["status"] == "active" and bot["owner_id"] == uid(owner)
    listed = api(srv, "GET", "/api/bots", owner).json()["bots"]
    assert [b["id"] for b in listed] == [bot["id"]]
    assert all(k not in json.dumps(listed) for k in ("token", "secret")), listed
    assert api(srv, "GET", f"/api/bots/{bot['id']}", other).status == 404
    assert api(srv, "DELETE", f"/api/bots/{bot['id']}", other).status == 404
    # A bot is a user: found by id like one.
    u = api(srv, "GET", f"/api/users/{bot['id']}", owner)
    assert u.status == 200 and u.json()["user"]["kind"] == "bot", u
    # Its token reaches the bot routes only: no user routes, no WebSocket.
    assert bot_api(srv, "GET", "/api/bots", token).status == 401
    assert bot_api(srv, "GET", "/api/users/me", token).status == 401
    assert bot_api(srv, "GET", "/api/conversations", token).status == 401
    assert srv.request("GET", "/api/users/me", token=token).status == 401

    async def ws_refused():
        with pytest.raises(Exception):
            ws = await websockets.connect(f"{srv.ws_url}?token={token}", ping_interval=None)
            msg = json.loads(await ws.recv())
            await ws.close()
            assert msg["type"] == "ready"
    run(ws_refused())
    conv = create_group(srv, owner, [])
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    path = f"/api/conversations/{conv['id']}/messages"
    assert bot_api(srv, "GET", path, token).status == 200
    # Rotation: the old token fails at once, the new one works.
    r = api(srv, "POST", f"/api/bots/{bot['id']}/token", owner)
    assert r.status == 200, r
    new = r.json()["token"]
    assert new != token and "signing_secret" not in r.json()
    assert bot_api(srv, "GET", path, token).status == 401
    assert bot_api(srv, "GET", path, new).status == 200
    assert bot_api(srv, "GET", path, "x" * 43).status == 401
    # Deleted: its token is gone with it.
    assert api(srv, "DELETE", f"/api/bots/{bot['id']}", owner).status == 204
    assert bot_api(srv, "GET", path, new).status == 401
    assert api(srv, "GET", "/api/bots", owner).json()["bots"] == []


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data/",
                                 "http://127.0.0.1:1/hook", "ftp://example.com/hook",
                                 "http://user@127.0.0.1/hook", "not a url"])
def test_refused_webhook_urls(srv, url):
    owner = srv.signup()
    r = api(srv, "POST", "/api/bots", owner, {"name": "Bad", "webhook_url": url})
    assert r.status == 400 and r.json()["error"]["field"] == "webhook_url", r
    assert api(srv, "GET", "/api/bots", owner).json()["bots"] == []


def test_bad_input_changes_nothing(srv, receiver):
    owner = srv.signup()
    assert api(srv, "POST", "/api/bots", owner, {"webhook_url": receiver.url("/x")}).status == 400
    bot = make_bot(srv, owner, receiver, "/bad")["bot"]
    r = api(srv, "PATCH", f"/api/bots/{bot['id']}", owner, {"webhook_url": "http://10.1.2.3/"})
    assert r.status == 400 and r.json()["error"]["field"] == "webhook_url"
    assert api(srv, "PATCH", f"/api/bots/{bot['id']}", owner, {"enabled": False}).status == 400
    assert bot_of(srv, owner, bot["id"])["webhook_url"] == receiver.url("/bad")
    # Secret chats refuse bots.
    r = api(srv, "POST", "/api/conversations", owner, {"type": "secret", "participant_id": bot["id"]})
    assert r.status == 400, r


def test_messages_delivered_signed_in_order_with_commands(srv, receiver):
    owner, friend = srv.signup(), srv.signup()
    made = make_bot(srv, owner, receiver, "/chat")
    bot, token = made["bot"], made["token"]
    conv = create_group(srv, owner, [friend])
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    texts = ["/Weather@Helper  Paris  tomorrow ", "hello", "/start"]
    for t in texts:
        assert api(srv, "POST", f"/api/conversations/{conv['id']}/messages", friend,
                   {"text": t}).status == 201
    got = wait_until(lambda: len(receiver.at("/chat")) >= 3 and receiver.at("/chat"))
    assert [g["body"]["message"]["text"] for g in got] == texts
    assert all(g["signed"] and g["bot"] == bot["id"] for g in got)
    assert got[0]["body"]["type"] == "message.new"
    assert got[0]["body"]["conversation_id"] == conv["id"]
    assert got[0]["body"]["message"]["sender_id"] == uid(friend)
    assert got[0]["body"]["command"] == {"name": "weather", "bot": "helper",
                                         "args": "Paris  tomorrow", "argv": ["Paris", "tomorrow"]}
    assert got[1]["body"]["command"] is None
    assert got[2]["body"]["command"] == {"name": "start", "args": "", "argv": []}
    # The bot answers and edits through REST; people get it, the bot does not.

    async def flow():
        c = await Client.connect(srv, friend)
        r = bot_api(srv, "POST", f"/api/conversations/{conv['id']}/messages", token,
                    {"text": "Sunny", "client_id": "b1"})
        assert r.status == 201, r
        m = r.json()["message"]
        assert m["sender_id"] == bot["id"]
        f = await c.expect("message.new", timeout=5)
        assert f["message"]["id"] == m["id"]
        r = bot_api(srv, "PATCH", f"/api/messages/{m['id']}", token, {"text": "Sunny, 21°C"})
        assert r.status == 200 and r.json()["message"]["text"] == "Sunny, 21°C", r
        await c.expect("message.updated", timeout=5)
        await c.close()
    run(flow())
    # Its own message is not delivered to it; its own edit is (message.edited).
    got = wait_until(lambda: len(receiver.at("/chat")) >= 4 and receiver.at("/chat"))
    time.sleep(0.2)
    got = receiver.at("/chat")
    assert [g["body"]["type"] for g in got] == ["message.new"] * 3 + ["message.edited"], got
    assert got[3]["body"]["by"] == bot["id"] and got[3]["body"]["message"]["text"] == "Sunny, 21°C"
    assert wait_until(lambda: bot_of(srv, owner, bot["id"])["queued"] == 0)
    # A conversation the bot is not in is not its to write to.
    other = create_group(srv, owner, [friend])
    assert bot_api(srv, "POST", f"/api/conversations/{other['id']}/messages", token,
                   {"text": "x"}).status == 404


def test_retried_after_500_and_disabled_after_failures(srv, receiver):
    owner, friend = srv.signup(), srv.signup()
    flaky = make_bot(srv, owner, receiver, "/flaky", name="Flaky")["bot"]
    dead = make_bot(srv, owner, receiver, "/dead", name="Dead")["bot"]
    receiver.plans["/flaky"] = [500, 500]
    receiver.plans["/dead"] = [500] * 50
    conv = create_group(srv, owner, [friend])
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [flaky["id"], dead["id"]]}).status == 200

    async def flow():
        c = await Client.connect(srv, owner)
        assert api(srv, "POST", f"/api/conversations/{conv['id']}/messages", friend,
                   {"text": "ping"}).status == 201
        f = await c.expect("bot.disabled", timeout=10)
        assert f["bot"]["id"] == dead["id"] and f["bot"]["status"] == "disabled"
        await c.close()
    run(flow())
    got = wait_until(lambda: [g for g in receiver.at("/flaky") if g["status"] == 200])
    flaky_all = receiver.at("/flaky")
    assert [g["status"] for g in flaky_all] == [500, 500, 200]
    assert len({g["delivery"] for g in flaky_all}) == 1 and got[0]["signed"]
    assert wait_until(lambda: bot_of(srv, owner, flaky["id"])["queued"] == 0)
    assert bot_of(srv, owner, flaky["id"])["status"] == "active"
    d = bot_of(srv, owner, dead["id"])
    assert d["status"] == "disabled" and d["failures"] == FAILURES and d["disabled_at"]
    assert "500" in d["last_error"] and d["queued"] == 1
    assert len(receiver.at("/dead")) == FAILURES
    # Disabled: nothing more is tried, and new messages are not queued.
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/messages", friend,
               {"text": "again"}).status == 201
    time.sleep(0.3)
    assert len(receiver.at("/dead")) == FAILURES
    # Enabled again by its owner: the kept delivery goes out.
    receiver.plans["/dead"] = []
    r = api(srv, "PATCH", f"/api/bots/{dead['id']}", owner, {"enabled": True})
    assert r.status == 200 and r.json()["bot"]["status"] == "active"
    ok = wait_until(lambda: [g for g in receiver.at("/dead") if g["status"] == 200])
    assert ok[0]["body"]["message"]["text"] == "ping"


def test_restart_resumes_deliveries(start_server, receiver):
    """A retry due while the server is stopped goes out from the restarted one."""
    env = dict(bot_env(receiver), PARLEY_BOT_BACKOFF_MS="1500", PARLEY_BOT_BACKOFF_MAX_MS="1500")
    srv = start_server(env=env)
    owner, friend = srv.signup(), srv.signup()
    bot = make_bot(srv, owner, receiver, "/restart")["bot"]
    receiver.plans["/restart"] = [503]
    conv = create_group(srv, owner, [friend])
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/messages", friend,
               {"text": "kept"}).status == 201
    assert wait_until(lambda: receiver.at("/restart"))
    srv.stop()
    stopped = len(receiver.at("/restart"))
    if srv.env.get("PARLEY_MONGO_URI"):
        env["PARLEY_MONGO_URI"] = srv.env["PARLEY_MONGO_URI"]
    srv = start_server(env=env, data_dir=srv.data_dir)
    ok = wait_until(lambda: [g for g in receiver.at("/restart") if g["status"] == 200])
    assert stopped == 1 and ok, receiver.at("/restart")
    assert ok[0]["body"]["message"]["text"] == "kept" and ok[0]["signed"]
    assert len({g["delivery"] for g in receiver.at("/restart")}) == 1
    assert wait_until(lambda: bot_of(srv, owner, bot["id"])["queued"] == 0)


def test_two_instances_send_each_delivery_once(start_server, receiver, tmp_path):
    """Two instances on one store: each message reaches the bot once, whichever
    instance stored it and whichever claimed it."""
    import os
    import uuid
    from conftest import mongo_uri
    env = dict(bot_env(receiver), PARLEY_SECRET_KEY="ab" * 32)
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_bots_{uuid.uuid4().hex[:10]}")
        one, two = start_server(env=env), start_server(env=env)
    else:
        one, two = start_server(env=env, data_dir=str(tmp_path)), start_server(env=env, data_dir=str(tmp_path))
    owner, friend = one.signup(), one.signup()
    bot = make_bot(one, owner, receiver, "/pair")["bot"]
    conv = create_group(one, owner, [friend])
    assert api(one, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    time.sleep(0.6)  # the other instance's registry learns the new bot (10 polls)
    sent = []
    for i in range(10):
        for srv in (one, two):
            r = api(srv, "POST", f"/api/conversations/{conv['id']}/messages", friend, {"text": f"m{i}"})
            assert r.status == 201, r
            sent.append(r.json()["message"]["id"])
    got = wait_until(lambda: len(receiver.at("/pair")) >= 20 and receiver.at("/pair"))
    time.sleep(0.3)  # nothing more comes
    got = receiver.at("/pair")
    assert sorted(g["body"]["message"]["id"] for g in got) == sorted(sent)
    assert len({g["delivery"] for g in got}) == 20 and all(g["signed"] for g in got)


def test_a_new_bot_is_known_to_every_instance_at_once(start_server, receiver, redis_url, tmp_path):
    """A bot created on one instance gets a message stored on the other right
    after, though the other reloads its bot ids only every 3 s here: the
    creation reaches it on the bus."""
    import os
    import uuid
    from conftest import mongo_uri
    env = dict(bot_env(receiver), PARLEY_SECRET_KEY="cd" * 32, PARLEY_REDIS_URL=redis_url,
               PARLEY_BOT_POLL_MS="300")  # ids reloaded every 3 s
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_bots_{uuid.uuid4().hex[:10]}")
        one, two = start_server(env=env), start_server(env=env)
    else:
        one, two = start_server(env=env, data_dir=str(tmp_path)), start_server(env=env, data_dir=str(tmp_path))
    owner, friend = one.signup(), one.signup()
    conv = create_group(one, owner, [friend])
    time.sleep(0.5)  # both have loaded their (empty) bot ids and subscribed to the bus
    bot = make_bot(one, owner, receiver, "/fresh")["bot"]
    assert api(one, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    r = api(two, "POST", f"/api/conversations/{conv['id']}/messages", friend, {"text": "hi bot"})
    assert r.status == 201, r
    got = wait_until(lambda: receiver.at("/fresh"), timeout=2.5)
    assert [g["body"]["message"]["text"] for g in got] == ["hi bot"]


def deliveries(receiver, path, n):
    """The first n deliveries to path (waits for them), each body once: a
    retried one is counted once."""
    def seen():
        out, ids = [], set()
        for g in receiver.at(path):
            if g["status"] == 200 and g["delivery"] not in ids:
                ids.add(g["delivery"])
                out.append(g)
        return out if len(out) >= n else None
    got = wait_until(seen)
    assert got, receiver.at(path)
    return got


def test_edits_deletes_and_reactions_reach_the_bot_in_order(srv, receiver):
    """Every change to a message of the bot's conversation, whoever made it,
    reaches the bot through its outbox, after the message itself."""
    owner, friend = srv.signup(), srv.signup()
    made = make_bot(srv, owner, receiver, "/changes")
    bot, token = made["bot"], made["token"]
    conv = create_group(srv, owner, [friend])
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    steps = []
    r = api(srv, "POST", f"/api/conversations/{conv['id']}/messages", friend, {"text": "hello"})
    assert r.status == 201
    mid = r.json()["message"]["id"]
    steps.append(("message.new", None))
    assert api(srv, "PATCH", f"/api/messages/{mid}", friend, {"text": "hello all"}).status == 200
    steps.append(("message.edited", uid(friend)))
    assert api(srv, "POST", f"/api/messages/{mid}/reactions", owner, {"emoji": "👍"}).status == 200
    steps.append(("message.reaction", uid(owner)))
    assert api(srv, "DELETE", f"/api/messages/{mid}/reactions/%F0%9F%91%8D", owner).status == 204
    steps.append(("message.reaction", uid(owner)))
    mine = bot_api(srv, "POST", f"/api/conversations/{conv['id']}/messages", token, {"text": "hi"})
    assert mine.status == 201
    assert bot_api(srv, "DELETE", f"/api/messages/{mine.json()['message']['id']}", token).status == 204
    steps.append(("message.deleted", bot["id"]))
    assert api(srv, "DELETE", f"/api/messages/{mid}", friend).status == 204
    steps.append(("message.deleted", uid(friend)))
    got = deliveries(receiver, "/changes", len(steps))
    bodies = [g["body"] for g in got]
    assert [(b["type"], b.get("by")) for b in bodies] == steps, bodies
    assert all(g["signed"] for g in got)
    assert all(b["conversation_id"] == conv["id"] for b in bodies)
    assert bodies[1]["message"]["text"] == "hello all" and bodies[1]["message"]["edited_at"]
    assert "command" not in bodies[1]
    assert bodies[2]["reaction"] == {"emoji": "👍", "added": True}
    assert bodies[2]["message"]["reactions"] == [{"emoji": "👍", "user_ids": [uid(owner)]}]
    assert bodies[3]["reaction"] == {"emoji": "👍", "added": False}
    assert bodies[4]["message"]["id"] == mine.json()["message"]["id"]
    assert bodies[5]["message"]["id"] == mid and bodies[5]["message"]["deleted"] is True
    assert bodies[5]["message"]["text"] is None
    assert len({g["delivery"] for g in got}) == len(steps)
    # A change the store refused reaches no one.
    assert api(srv, "PATCH", f"/api/messages/{mid}", owner, {"text": "not mine"}).status in (403, 404)
    time.sleep(0.2)
    assert len(receiver.at("/changes")) == len(steps)


def test_attachments_carry_signed_urls_the_bot_fetches(srv, receiver):
    """An attachment reaches the bot as its view: a signed, time-limited URL on
    public_url that needs no token, not a bare id."""
    owner, friend = srv.signup(), srv.signup()
    bot = make_bot(srv, owner, receiver, "/files")["bot"]
    conv = create_group(srv, owner, [friend])
    assert api(srv, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    data = b"%PDF-1.4\n% a bot reads this\n%%EOF\n"
    up = api(srv, "POST", "/api/uploads?name=report.pdf", friend, raw_body=data,
             headers={"Content-Type": "application/octet-stream"})
    assert up.status == 201, up
    att = up.json()["attachment"]
    r = api(srv, "POST", f"/api/conversations/{conv['id']}/messages", friend,
            {"text": "the report", "attachment_ids": [att["id"]]})
    assert r.status == 201, r
    body = deliveries(receiver, "/files", 1)[0]["body"]
    a = body["message"]["attachments"][0]
    assert a["id"] == att["id"] and a["name"] == "report.pdf" and a["size"] == len(data)
    assert not {"user_id", "thumbnail_key", "storage_key", "key"} & set(a), a
    assert a["url"].startswith(PUBLIC_URL + f"/api/attachments/{att['id']}?c={conv['id']}&exp="), a
    path = a["url"][len(PUBLIC_URL):]
    got = srv.request("GET", path)
    assert got.status == 200 and got.body == data
    # Altered, the URL opens nothing.
    assert srv.request("GET", path[:-1] + ("0" if path[-1] != "0" else "1")).status == 404


def test_channel_bots_get_posts_and_post_as_admins(srv, receiver):
    """A bot in a channel gets every post (a member's delivery, though a
    channel's members are never loaded); promoted to admin, it posts."""
    owner, reader = srv.signup(), srv.signup()
    made = make_bot(srv, owner, receiver, "/channel")
    bot, token = made["bot"], made["token"]
    r = api(srv, "POST", "/api/conversations", owner, {"type": "channel", "name": "News", "public": True})
    assert r.status == 201, r
    ch = r.json()["conversation"]
    assert api(srv, "POST", "/api/channels/join", reader, {"conversation_id": ch["id"]}).status == 201
    r = api(srv, "POST", f"/api/conversations/{ch['id']}/members", owner, {"user_ids": [bot["id"]]})
    assert r.status == 200 and r.json()["conversation"]["member_count"] == 3, r
    path = f"/api/conversations/{ch['id']}/messages"
    r = api(srv, "POST", path, owner, {"text": "/digest today"})
    assert r.status == 201
    first = r.json()["message"]["id"]
    body = deliveries(receiver, "/channel", 1)[0]["body"]
    assert body["type"] == "message.new" and body["conversation_id"] == ch["id"]
    assert body["message"]["id"] == first and body["command"]["name"] == "digest"
    # A member reads; only an admin posts.
    assert bot_api(srv, "GET", path, token).status == 200
    r = bot_api(srv, "POST", path, token, {"text": "not yet"})
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden", r
    r = api(srv, "PATCH", f"/api/conversations/{ch['id']}/members/{bot['id']}", owner, {"role": "admin"})
    assert r.status == 200, r
    r = bot_api(srv, "POST", path, token, {"text": "Today: sun", "client_id": "d1"})
    assert r.status == 201, r
    mine = r.json()["message"]
    texts = [m["text"] for m in api(srv, "GET", path, reader).json()["messages"]]
    assert texts == ["/digest today", "Today: sun"]
    # Its own post is not delivered to it; a change in the channel is.
    assert api(srv, "PATCH", f"/api/messages/{first}", owner, {"text": "/digest now"}).status == 200
    got = deliveries(receiver, "/channel", 2)
    assert got[1]["body"]["type"] == "message.edited" and got[1]["body"]["by"] == uid(owner)
    time.sleep(0.2)
    assert all(g["body"]["message"]["id"] != mine["id"] for g in receiver.at("/channel"))
    # A channel without bots queues nothing for anyone's bot.
    other = api(srv, "POST", "/api/conversations", owner, {"type": "channel", "name": "Quiet"}).json()
    assert api(srv, "POST", f"/api/conversations/{other['conversation']['id']}/messages", owner,
               {"text": "quiet"}).status == 201
    time.sleep(0.2)
    assert len(receiver.at("/channel")) == 2


def test_a_deleted_bot_leaves_its_conversations(srv, receiver):
    """Deleting a bot takes it out of every conversation it was in (members
    hear it leave, as a member leaving) and drops its queued deliveries."""
    owner, friend = srv.signup(), srv.signup()
    bot = make_bot(srv, owner, receiver, "/gone")["bot"]
    receiver.plans["/gone"] = [500] * 50
    group = create_group(srv, owner, [friend])
    direct = api(srv, "POST", "/api/conversations", friend,
                 {"type": "direct", "participant_id": bot["id"]}).json()["conversation"]
    ch = api(srv, "POST", "/api/conversations", owner, {"type": "channel", "name": "Feed"}).json()
    ch = ch["conversation"]
    for conv in (group, ch):
        assert api(srv, "POST", f"/api/conversations/{conv['id']}/members", owner,
                   {"user_ids": [bot["id"]]}).status == 200
    assert api(srv, "POST", f"/api/conversations/{group['id']}/messages", friend,
               {"text": "held"}).status == 201
    assert wait_until(lambda: bot_of(srv, owner, bot["id"])["status"] == "disabled")
    assert bot_of(srv, owner, bot["id"])["queued"] == 1

    async def flow():
        c = await Client.connect(srv, friend)
        assert api(srv, "DELETE", f"/api/bots/{bot['id']}", owner).status == 204
        seen = {}
        while set(seen) != {group["id"], direct["id"]}:
            f = await c.expect("conversation.updated", timeout=5)
            seen[f["conversation"]["id"]] = f["conversation"]
        await c.close()
        return seen
    seen = run(flow())
    for conv in (group, direct):
        assert bot["id"] not in [p["id"] for p in seen[conv["id"]]["participants"]]
        r = api(srv, "GET", f"/api/conversations/{conv['id']}", friend)
        assert bot["id"] not in [p["id"] for p in r.json()["conversation"]["participants"]], r
    r = api(srv, "GET", f"/api/conversations/{ch['id']}", owner).json()["conversation"]
    assert r["member_count"] == 1, r
    members = api(srv, "GET", f"/api/conversations/{ch['id']}/members", owner).json()["members"]
    assert [m["id"] for m in members] == [uid(owner)]
    # Nothing of it is left to send, and nothing new is queued.
    receiver.plans["/gone"] = []
    tried = len(receiver.at("/gone"))
    assert api(srv, "POST", f"/api/conversations/{group['id']}/messages", friend,
               {"text": "after"}).status == 201
    time.sleep(0.3)
    assert len(receiver.at("/gone")) == tried
    assert api(srv, "GET", f"/api/bots/{bot['id']}", owner).status == 404


def test_a_bot_deleted_on_one_instance_is_gone_from_both(start_server, receiver, redis_url, tmp_path):
    """Deleted on one instance while the other retries its delivery: neither
    sends it again, and a member connected to the other sees the bot leave."""
    import os
    import uuid
    from conftest import mongo_uri
    env = dict(bot_env(receiver), PARLEY_SECRET_KEY="ef" * 32, PARLEY_REDIS_URL=redis_url,
               PARLEY_BOT_MAX_FAILURES="1000")
    if os.environ.get("PARLEY_TEST_STORE") == "mongo":
        env["PARLEY_MONGO_URI"] = mongo_uri(f"parley_bots_{uuid.uuid4().hex[:10]}")
        one, two = start_server(env=env), start_server(env=env)
    else:
        one, two = start_server(env=env, data_dir=str(tmp_path)), start_server(env=env, data_dir=str(tmp_path))
    owner, friend = one.signup(), one.signup()
    bot = make_bot(one, owner, receiver, "/both")["bot"]
    receiver.plans["/both"] = [500] * 100000
    conv = create_group(one, owner, [friend])
    assert api(one, "POST", f"/api/conversations/{conv['id']}/members", owner,
               {"user_ids": [bot["id"]]}).status == 200
    assert api(two, "POST", f"/api/conversations/{conv['id']}/messages", friend,
               {"text": "retried"}).status == 201
    assert wait_until(lambda: len(receiver.at("/both")) >= 3)  # retried, by either instance

    async def flow():
        c = await Client.connect(two, friend)
        assert api(one, "DELETE", f"/api/bots/{bot['id']}", owner).status == 204
        f = await c.expect("conversation.updated", timeout=5)
        await c.close()
        return f
    f = run(flow())
    assert f["conversation"]["id"] == conv["id"]
    assert bot["id"] not in [p["id"] for p in f["conversation"]["participants"]]
    time.sleep(0.3)  # a request already out may still arrive
    settled = len(receiver.at("/both"))
    time.sleep(0.5)  # retries were every 20 to 80 ms: none comes any more
    assert len(receiver.at("/both")) == settled
