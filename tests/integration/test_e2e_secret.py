"""Secret chats (API.md, Secret chats): two PyNaCl clients register devices,
fetch each other's bundles, agree on keys X3DH-style and exchange messages
through a secret conversation; the server relays one ciphertext per device,
never a plaintext, and the stored rows hold none either. Secret messages are
not searchable, not editable, and the conversation list shows no text."""
import asyncio
import glob
import os
import sqlite3
import uuid

from e2e_client import Device, open_sealed, seal
from messaging_helpers import Client, api, create_direct, run, uid

SECRETS = ["the eagle lands at midnight", "bring the blue folder", "zebra-quartz-7781"]


def register(server, session, device):
    r = api(server, "POST", "/api/devices", session, device.registration())
    assert r.status == 201, r
    device.id = r.json()["device"]["id"]


def ciphertexts_for(server, sender_session, sender_device, to_user, text, own=()):
    """One ciphertext per device of to_user (and of the sender's other
    devices), each after a fresh agreement through its bundle."""
    out = {}
    bundles = api(server, "GET", f"/api/users/{to_user}/keys", sender_session).json()["bundles"]
    for b in bundles:
        key, header = sender_device.initiate(b)
        out[b["device_id"]] = seal(key, header, text)
    for d in own:
        b = api(server, "GET", f"/api/users/{uid(sender_session)}/keys/{d.id}",
                sender_session).json()["bundle"]
        key, header = sender_device.initiate(b)
        out[d.id] = seal(key, header, text)
    return out


def stored_plaintext(server, needles):
    """The needles found in the store's rows: the SQLite files (database and
    WAL) or the MongoDB documents, read as bytes."""
    uri = server.env.get("PARLEY_MONGO_URI")
    found = set()
    if uri:
        import pymongo
        from bson import json_util
        client = pymongo.MongoClient(uri)
        try:
            db = client.get_default_database()
            for name in db.list_collection_names():
                for doc in db[name].find():
                    dump = json_util.dumps(doc)
                    found |= {n for n in needles if n in dump}
        finally:
            client.close()
    else:
        for path in glob.glob(os.path.join(server.data_dir, "parley.db*")):
            with open(path, "rb") as f:
                blob = f.read()
            found |= {n for n in needles if n.encode() in blob}
    return found


async def new_message(client, seq):
    """The message.new of seq (a sender's own sends reach its sessions too)."""
    while True:
        m = (await client.expect("message.new"))["message"]
        if m["seq"] == seq:
            return m


def test_secret_chat_end_to_end(server):
    a, b = server.signup(), server.signup()
    a1, a2, b1 = Device(), Device(), Device()
    register(server, a, a1)
    register(server, a, a2)
    register(server, b, b1)
    r = api(server, "POST", "/api/conversations", a, {"type": "secret", "participant_id": uid(b)})
    assert r.status == 201, r
    conv = r.json()["conversation"]
    assert conv["type"] == "secret"
    # One per pair, apart from the direct conversation.
    again = api(server, "POST", "/api/conversations", b, {"type": "secret", "participant_id": uid(a)})
    assert again.status == 200 and again.json()["conversation"]["id"] == conv["id"]
    direct = create_direct(server, a, b)
    assert direct["id"] != conv["id"]

    async def main():
        wa = await Client.connect(server, a)
        wb = await Client.connect(server, b)
        # a -> b over WebSocket: b's device and a's other device can read it.
        cts = ciphertexts_for(server, a, a1, uid(b), SECRETS[0], own=[a2])
        assert set(cts) == {b1.id, a2.id}
        await wa.send({"type": "message.send", "conversation_id": conv["id"],
                       "ciphertexts": cts, "client_id": "s1"})
        ack = (await wa.expect("message.ack", client_id="s1"))["message"]
        assert ack["text"] is None and ack["ciphertexts"] == cts
        got = await new_message(wb, 1)
        assert got["ciphertexts"] == cts and got["text"] is None
        assert open_sealed(b1, got["ciphertexts"][b1.id]) == SECRETS[0]
        assert open_sealed(a2, got["ciphertexts"][a2.id]) == SECRETS[0]
        # b -> a over REST: each of a's devices gets its own ciphertext.
        cts = ciphertexts_for(server, b, b1, uid(a), SECRETS[1])
        assert set(cts) == {a1.id, a2.id}
        r = api(server, "POST", f"/api/conversations/{conv['id']}/messages", b,
                {"ciphertexts": cts, "client_id": "s2"})
        assert r.status == 201, r
        got = await new_message(wa, 2)
        assert open_sealed(a1, got["ciphertexts"][a1.id]) == SECRETS[1]
        assert open_sealed(a2, got["ciphertexts"][a2.id]) == SECRETS[1]
        # A third, to check a reply the other way with new prekeys.
        cts = ciphertexts_for(server, a, a2, uid(b), SECRETS[2])
        await wa.send({"type": "message.send", "conversation_id": conv["id"], "ciphertexts": cts})
        got = await new_message(wb, 3)
        assert open_sealed(b1, got["ciphertexts"][b1.id]) == SECRETS[2]
        # The wrong kind of send, each an error frame that stores nothing.
        await wa.send({"type": "message.send", "conversation_id": conv["id"], "text": "plain",
                       "client_id": "bad1"})
        e = await wa.expect("error", ref="bad1")
        assert e["code"] == "validation_failed" and e["field"] == "text"
        await wa.send({"type": "message.send", "conversation_id": direct["id"],
                       "ciphertexts": {b1.id: "QUJD"}, "client_id": "bad2"})
        e = await wa.expect("error", ref="bad2")
        assert e["code"] == "validation_failed" and e["field"] == "ciphertexts"
        await wa.send({"type": "message.send", "conversation_id": conv["id"],
                       "ciphertexts": {b1.id: "not base64!"}, "client_id": "bad3"})
        e = await wa.expect("error", ref="bad3")
        assert e["field"] == "ciphertexts"
        await wa.close()
        await wb.close()

    run(main())

    # History: 3 messages, no text anywhere.
    msgs = api(server, "GET", f"/api/conversations/{conv['id']}/messages", b).json()["messages"]
    assert [m["seq"] for m in msgs] == [1, 2, 3] and all(m["text"] is None for m in msgs)
    assert all(isinstance(m["ciphertexts"], dict) for m in msgs)
    # The conversation list shows no plaintext of the last message.
    (listed,) = [c for c in api(server, "GET", "/api/conversations", a).json()["conversations"]
                 if c["id"] == conv["id"]]
    assert listed["type"] == "secret" and listed["last_message"]["text"] is None
    # Not editable by anyone through the server; deletable by its sender.
    r = api(server, "PATCH", f"/api/messages/{msgs[0]['id']}", a, {"text": "changed"})
    assert r.status == 403, r
    # Search finds nothing of it, and no plaintext is stored anywhere.
    for word in ("eagle", "folder", "zebra"):
        r = api(server, "GET", f"/api/search/messages?q={word}", a)
        assert r.status == 200 and r.json()["results"] == []
    # What is stored is the ciphertext (read where it lies: the check reads the
    # right rows), and no plaintext.
    sealed = next(iter(msgs[1]["ciphertexts"].values()))
    assert stored_plaintext(server, SECRETS + ["eagle", "folder", sealed]) == {sealed}
    r = api(server, "DELETE", f"/api/messages/{msgs[0]['id']}", a)
    assert r.status == 204
    m0 = api(server, "GET", f"/api/conversations/{conv['id']}/messages", a).json()["messages"][0]
    assert m0["deleted"] and "ciphertexts" not in m0


def test_secret_send_rules_over_rest(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    conv = api(server, "POST", "/api/conversations", a,
               {"type": "secret", "participant_id": uid(b)}).json()["conversation"]
    path = f"/api/conversations/{conv['id']}/messages"

    def refused(body, field, status=400):
        r = api(server, "POST", path, a, body)
        assert r.status == status and r.json()["error"]["field"] == field, (body, r)

    refused({"text": "hello"}, "text")
    refused({"ciphertexts": {}}, "ciphertexts")
    refused({"ciphertexts": {"d1": "QUJD"}, "text": "hi"}, "text")
    refused({"ciphertexts": {"d1": "QUJD"}, "reply_to": "x"}, "reply_to")
    refused({"ciphertexts": {"d1": "QUJD"}, "attachment_ids": ["x"]}, "attachment_ids")
    refused({"ciphertexts": {"d1": "A" * 16385}}, "ciphertexts")
    refused({"ciphertexts": {f"d{i}": "QUJD" for i in range(21)}}, "ciphertexts")
    refused({"ciphertexts": {"$where": "QUJD"}}, "ciphertexts")
    refused({"ciphertexts": {"d1": 5}}, "ciphertexts")
    assert api(server, "GET", path, a).json()["messages"] == []
    # Not a participant: 404, as for any conversation.
    r = api(server, "POST", path, c, {"ciphertexts": {"d1": "QUJD"}})
    assert r.status == 404
    assert api(server, "POST", path, a, {"ciphertexts": {"d1": "QUJD"}}).status == 201
    r = api(server, "POST", "/api/conversations", a, {"type": "secret", "participant_id": uid(a)})
    assert r.status == 400 and r.json()["error"]["field"] == "participant_id"
