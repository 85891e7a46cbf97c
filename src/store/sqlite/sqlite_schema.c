/* The SQLite schema and its numbered migrations. The version applied is kept in
 * the schema_version table; each migration runs once, in its own transaction.
 * Runs on the loop thread at start-up, before the store thread exists. */
#include <stdio.h>

#include "parley/log.h"
#include "store/sqlite/sqlite_internal.h"

/* Migration n (1-based) is migrations[n - 1]. Never edit one that has shipped:
 * append a new one. */
static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE users ("
    " id TEXT PRIMARY KEY, email TEXT UNIQUE, name TEXT NOT NULL, avatar_url TEXT,"
    " status TEXT NOT NULL DEFAULT 'offline', password_hash TEXT, deleted INTEGER NOT NULL DEFAULT "
    "0,"
    " created_at TEXT NOT NULL);"
    "CREATE INDEX users_name ON users(lower(name), id);"
    "CREATE TABLE refresh_tokens ("
    " token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, family_id TEXT NOT NULL,"
    " expires_at_ms INTEGER NOT NULL, rotated INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX refresh_family ON refresh_tokens(family_id);"
    "CREATE INDEX refresh_user ON refresh_tokens(user_id);"
    "CREATE TABLE conversations ("
    " id TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT, creator_id TEXT NOT NULL, contact_id "
    "TEXT,"
    " pair_key TEXT UNIQUE, last_seq INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE participants ("
    " conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(id), role TEXT NOT NULL,"
    " last_read_seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (conversation_id, user_id));"
    "CREATE INDEX participants_user ON participants(user_id);"
    "CREATE TABLE messages ("
    " id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE "
    "CASCADE,"
    " seq INTEGER NOT NULL, sender_id TEXT NOT NULL, text TEXT, client_id TEXT,"
    " source TEXT NOT NULL, attachments TEXT, external_id TEXT, created_at TEXT NOT NULL,"
    " edited_at TEXT, deleted INTEGER NOT NULL DEFAULT 0, UNIQUE (conversation_id, seq));"
    "CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender_id, client_id)"
    " WHERE client_id IS NOT NULL;"
    "CREATE UNIQUE INDEX messages_external ON messages(external_id) WHERE external_id IS NOT NULL;"
    "CREATE TABLE reactions ("
    " message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE, emoji TEXT NOT NULL,"
    " user_id TEXT NOT NULL, PRIMARY KEY (message_id, emoji, user_id));"
    "CREATE TABLE instagram_accounts ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, ig_user_id TEXT NOT NULL UNIQUE,"
    " username TEXT, token_cipher TEXT, connected_at TEXT NOT NULL);"
    "CREATE TABLE contacts ("
    " id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, ig_user_id TEXT NOT NULL, username TEXT,"
    " tags TEXT NOT NULL DEFAULT '[]', variables TEXT NOT NULL DEFAULT '{}', last_inbound_at TEXT,"
    " UNIQUE (owner_id, ig_user_id));"
    "CREATE TABLE webhook_events ("
    " id TEXT PRIMARY KEY, mid TEXT UNIQUE, payload TEXT NOT NULL,"
    " processed INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);"
    "CREATE INDEX webhook_pending ON webhook_events(processed);"
    "CREATE TABLE flows ("
    " id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,"
    " def TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX flows_owner ON flows(owner_id, name);"
    "CREATE TABLE flow_runs ("
    " id TEXT PRIMARY KEY, flow_id TEXT NOT NULL, owner_id TEXT NOT NULL, contact_id TEXT,"
    " status TEXT NOT NULL, trace TEXT, state TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT "
    "NULL);"
    "CREATE INDEX flow_runs_flow ON flow_runs(flow_id, created_at);"
    "CREATE TABLE scheduled_steps ("
    " id TEXT PRIMARY KEY, run_id TEXT NOT NULL, due_at_ms INTEGER NOT NULL);"
    "CREATE INDEX scheduled_due ON scheduled_steps(due_at_ms);",
    /* 2: messages without the foreign key to conversations. Checking it cost a
     * lookup per insert (about a sixth of the insert rate); MSG_INSERT checks
     * the conversation itself in the same transaction, and conversations are
     * never deleted, so its cascade never ran. SQLite cannot drop a constraint:
     * the table is rebuilt (rowids kept) and its indexes made again. */
    "CREATE TABLE messages_v2 ("
    " id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, sender_id TEXT NOT NULL, text TEXT, client_id TEXT,"
    " source TEXT NOT NULL, attachments TEXT, external_id TEXT, created_at TEXT NOT NULL,"
    " edited_at TEXT, deleted INTEGER NOT NULL DEFAULT 0, UNIQUE (conversation_id, seq));"
    "INSERT INTO messages_v2 (rowid, id, conversation_id, seq, sender_id, text, client_id, source,"
    " attachments, external_id, created_at, edited_at, deleted)"
    " SELECT rowid, id, conversation_id, seq, sender_id, text, client_id, source,"
    " attachments, external_id, created_at, edited_at, deleted FROM messages;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v2 RENAME TO messages;"
    "CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender_id, client_id)"
    " WHERE client_id IS NOT NULL;"
    "CREATE UNIQUE INDEX messages_external ON messages(external_id) WHERE external_id IS NOT NULL;",
    /* 3: indexes whose order, (key, rowid), is the ORDER BY rowid of the reads that
     * list a conversation's participants and a message's reactions: without them
     * each of those reads sorted its rows (a sorter allocated and freed per
     * conversation of a CONV_LIST page). */
    "CREATE INDEX participants_conv ON participants(conversation_id);"
    "CREATE INDEX reactions_message ON reactions(message_id);",
    /* 4: access-token revocations (REVOKE_SAVE), kept until their tokens expire. */
    "CREATE TABLE revocations ("
    " subject TEXT PRIMARY KEY, user_id TEXT NOT NULL, login_id TEXT,"
    " before_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);"
    "CREATE INDEX revocations_expiry ON revocations(expires_at_ms);",
    /* 5: full-text search (MSG_SEARCH). An external-content FTS5 index over the
     * text, conversation and sender of messages that are not deleted, folding
     * case and diacritics; the triggers keep it in step with every insert, edit
     * and delete in the writing statement's own transaction, and the last
     * statement indexes the messages stored before this migration. It is keyed
     * by the messages' rowid, which nothing renumbers (no VACUUM: that may
     * change the rowids of a table without an INTEGER PRIMARY KEY). */
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, conversation_id, sender_id,"
    " content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2');"
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages"
    " WHEN new.text IS NOT NULL AND new.deleted = 0 BEGIN"
    " INSERT INTO messages_fts (rowid, text, conversation_id, sender_id)"
    " VALUES (new.rowid, new.text, new.conversation_id, new.sender_id); END;"
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages"
    " WHEN old.text IS NOT NULL AND old.deleted = 0 BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text, conversation_id, sender_id)"
    " VALUES ('delete', old.rowid, old.text, old.conversation_id, old.sender_id); END;"
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, deleted ON messages BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text, conversation_id, sender_id)"
    " SELECT 'delete', old.rowid, old.text, old.conversation_id, old.sender_id"
    " WHERE old.text IS NOT NULL AND old.deleted = 0;"
    " INSERT INTO messages_fts (rowid, text, conversation_id, sender_id)"
    " SELECT new.rowid, new.text, new.conversation_id, new.sender_id"
    " WHERE new.text IS NOT NULL AND new.deleted = 0; END;"
    "INSERT INTO messages_fts (rowid, text, conversation_id, sender_id)"
    " SELECT rowid, text, conversation_id, sender_id FROM messages"
    " WHERE text IS NOT NULL AND deleted = 0;",
    /* 6: Instagram delivery and account health: a message sent through the
     * Graph API carries its delivery status ('pending', 'sent', 'failed') and
     * Graph's error (JSON); an account its health and its token's expiry. */
    "ALTER TABLE messages ADD COLUMN status TEXT;"
    "ALTER TABLE messages ADD COLUMN error TEXT;"
    "CREATE INDEX messages_pending ON messages(status) WHERE status = 'pending';"
    "ALTER TABLE instagram_accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'connected';"
    "ALTER TABLE instagram_accounts ADD COLUMN status_error TEXT;"
    "ALTER TABLE instagram_accounts ADD COLUMN token_expires_at TEXT;",
    /* 7: the team inbox and human takeover (issue 16): an owner's agents, their
     * read markers in the owner's instagram conversations, a conversation's
     * assignee, a contact's automation pause and the steps it holds. */
    "CREATE TABLE ig_agents ("
    " owner_id TEXT NOT NULL, user_id TEXT NOT NULL, added_at TEXT NOT NULL,"
    " PRIMARY KEY (owner_id, user_id));"
    "CREATE INDEX ig_agents_user ON ig_agents(user_id);"
    "CREATE TABLE agent_reads ("
    " conversation_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " last_read_seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (conversation_id, user_id));"
    "ALTER TABLE conversations ADD COLUMN assignee_id TEXT;"
    "CREATE INDEX conversations_creator ON conversations(creator_id, type);"
    "ALTER TABLE contacts ADD COLUMN automation_paused_until_ms INTEGER;"
    "ALTER TABLE scheduled_steps ADD COLUMN held_for TEXT;"
    "CREATE INDEX scheduled_held ON scheduled_steps(held_for) WHERE held_for IS NOT NULL;",
    /* 8: contacts are people: the profile Graph answers (name, picture, when it
     * was fetched), the contact's read position, and the index that pages an
     * owner's contacts in id order. */
    "ALTER TABLE contacts ADD COLUMN name TEXT;"
    "ALTER TABLE contacts ADD COLUMN profile_pic TEXT;"
    "ALTER TABLE contacts ADD COLUMN profile_fetched_at TEXT;"
    "ALTER TABLE contacts ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX contacts_owner ON contacts(owner_id, id);",
    /* 9: sessions and devices (issue 17): a login (a refresh family) with the
     * device it was made from, its address and its last use. Families made
     * before it have no row: they are not listed, but ending logins ends them. */
    "CREATE TABLE logins ("
    " family_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_name TEXT NOT NULL,"
    " ip TEXT NOT NULL, created_at_ms INTEGER NOT NULL, last_used_at_ms INTEGER NOT NULL,"
    " expires_at_ms INTEGER NOT NULL, ended INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX logins_user ON logins(user_id, last_used_at_ms);",
    /* 10: delivery receipts (issue 17): each participant's delivered position,
     * never behind their read position (reading implies delivery), so it
     * starts there. */
    "ALTER TABLE participants ADD COLUMN last_delivered_seq INTEGER NOT NULL DEFAULT 0;"
    "UPDATE participants SET last_delivered_seq = last_read_seq;",
    /* 11: presence (issue 17): when a user's last session closed, and the
     * status the user chose, where 'offline' (never settable) meant online. */
    "ALTER TABLE users ADD COLUMN last_seen TEXT;"
    "UPDATE users SET status = 'online' WHERE status NOT IN ('online', 'away', 'dnd', "
    "'invisible');",
    /* 12: the full-text index off the insert path (issue 13): no trigger on
     * insert; messages above the mark messages_fts_state.indexed are indexed in
     * batches by the store thread (sqlite_msg_index.c), always before a search.
     * Edits and deletions of messages below the mark still update the index in
     * their own statement; a deletion that takes the largest rowids away lowers
     * the mark to the largest left, since SQLite hands those rowids out again.
     * Migration 5's triggers kept the index complete, so the mark starts at the
     * largest rowid. */
    "DROP TRIGGER messages_fts_insert;"
    "DROP TRIGGER messages_fts_delete;"
    "DROP TRIGGER messages_fts_update;"
    "CREATE TABLE messages_fts_state (indexed INTEGER NOT NULL);"
    "INSERT INTO messages_fts_state (indexed) SELECT coalesce(max(rowid), 0) FROM messages;"
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages"
    " WHEN old.rowid <= (SELECT indexed FROM messages_fts_state) BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text, conversation_id, sender_id)"
    " SELECT 'delete', old.rowid, old.text, old.conversation_id, old.sender_id"
    " WHERE old.text IS NOT NULL AND old.deleted = 0;"
    " UPDATE messages_fts_state SET indexed = (SELECT coalesce(max(rowid), 0) FROM messages)"
    " WHERE indexed > (SELECT coalesce(max(rowid), 0) FROM messages); END;"
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, deleted ON messages"
    " WHEN old.rowid <= (SELECT indexed FROM messages_fts_state) BEGIN"
    " INSERT INTO messages_fts (messages_fts, rowid, text, conversation_id, sender_id)"
    " SELECT 'delete', old.rowid, old.text, old.conversation_id, old.sender_id"
    " WHERE old.text IS NOT NULL AND old.deleted = 0;"
    " INSERT INTO messages_fts (rowid, text, conversation_id, sender_id)"
    " SELECT new.rowid, new.text, new.conversation_id, new.sender_id"
    " WHERE new.text IS NOT NULL AND new.deleted = 0; END;",
    /* 13: several instances (issue 16): a send claimed again carries the lease
     * of its sender (pending_until_ms; a new send is leased from created_at),
     * and an account the claim of the one instance refreshing its token. */
    "ALTER TABLE messages ADD COLUMN pending_until_ms INTEGER;"
    "ALTER TABLE instagram_accounts ADD COLUMN refresh_until_ms INTEGER;",
    /* 14: a contact's instagram conversations by contact (a stored profile
     * renames them, a pause announces itself in them), not by a scan of every
     * conversation. */
    "CREATE INDEX conversations_contact ON conversations(contact_id) WHERE contact_id IS NOT NULL;",
    /* 15: e-mail verification and password reset (issue 17): whether a user's
     * address is verified (accounts made before count as verified), and the
     * one-time codes mailed, stored as keyed hashes. */
    "ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 1;"
    "CREATE TABLE email_codes ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL, purpose TEXT NOT NULL,"
    " code_hash TEXT NOT NULL, expires_at_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, used INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX email_codes_user ON email_codes(user_id, purpose);",
    /* 16: channels (issue 17): public or by invitation, their member count kept
     * beside the row (members stay in participants, never read whole), the
     * current invite token, and the index that pages public channels. */
    "ALTER TABLE conversations ADD COLUMN public INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE conversations ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE conversations ADD COLUMN invite_token TEXT;"
    "CREATE UNIQUE INDEX conversations_invite ON conversations(invite_token)"
    " WHERE invite_token IS NOT NULL;"
    "CREATE INDEX conversations_public ON conversations(id) WHERE type = 'channel' AND public = 1;",
    /* 17: replies, mentions and mute (issue 17): a message's quoted preview
     * and mentioned users (JSON), a participant's count of unread mentions
     * and the time its conversation is muted until (ISO-8601). */
    "ALTER TABLE messages ADD COLUMN reply_to TEXT;"
    "ALTER TABLE messages ADD COLUMN mentions TEXT;"
    "ALTER TABLE participants ADD COLUMN mention_count INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE participants ADD COLUMN muted_until TEXT;",
    /* 18: attachments (issue 18): the records of uploaded files, whose bytes
     * are in files storage under the same id. */
    "CREATE TABLE attachments (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
    " type TEXT NOT NULL, content_type TEXT NOT NULL, size INTEGER NOT NULL,"
    " name TEXT NOT NULL, created_at TEXT NOT NULL);"
    "CREATE INDEX attachments_user ON attachments (user_id);",
    /* 19: the end-to-end key directory (issue 20): devices with their public
     * keys (listed in the order they were made: rowid), and their one-time
     * prekeys, handed out oldest (lowest id) first. */
    "CREATE TABLE devices (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT,"
    " identity_key TEXT NOT NULL, signed_prekey TEXT NOT NULL,"
    " signed_prekey_signature TEXT NOT NULL, created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL);"
    "CREATE INDEX devices_user ON devices (user_id);"
    "CREATE TABLE device_prekeys (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL,"
    " key TEXT NOT NULL, UNIQUE (device_id, key));",
    /* 20: flow versions and analytics (issue 19): a flow's published versions
     * (immutable graphs), the latest one's number and graph on the flow, the
     * version each run started on, and counters per flow, version and key. */
    "CREATE TABLE flow_versions (flow_id TEXT NOT NULL, n INTEGER NOT NULL,"
    " owner_id TEXT NOT NULL, def TEXT NOT NULL, created_at TEXT NOT NULL,"
    " PRIMARY KEY (flow_id, n));"
    "ALTER TABLE flows ADD COLUMN version INTEGER;"
    "ALTER TABLE flows ADD COLUMN live TEXT;"
    "ALTER TABLE flow_runs ADD COLUMN version INTEGER;"
    "CREATE INDEX flow_runs_live ON flow_runs (flow_id, version)"
    " WHERE status IN ('running', 'waiting');"
    "CREATE TABLE flow_stats (flow_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " key TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (flow_id, version, key));",
    /* 21: secret chats and calls (issue 20): what a message carries beside
     * its text, as a JSON object merged into it (ciphertexts per device, a
     * call's record). */
    "ALTER TABLE messages ADD COLUMN payload TEXT;",
    /* 22: uploads never sent (issue 18): an attachment is marked sent when a
     * message first takes it; those left unsent are swept after
     * upload_unsent_ttl_s. Records made before count as sent (never swept). */
    "ALTER TABLE attachments ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;"
    "UPDATE attachments SET sent = 1;"
    "CREATE INDEX attachments_unsent ON attachments (created_at) WHERE sent = 0;",
    /* 23: images (issue 18): an image's size as shown, 0 when unknown, and
     * its thumbnail's storage key, size and type. */
    "ALTER TABLE attachments ADD COLUMN width INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE attachments ADD COLUMN height INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE attachments ADD COLUMN thumbnail_key TEXT;"
    "ALTER TABLE attachments ADD COLUMN thumbnail_size INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE attachments ADD COLUMN thumbnail_content_type TEXT;",
    /* 24: flows (issue 19): a contact's runs of a flow (run once, cooldown),
     * the step of an "ask" waiting for a contact's answer, and the account's
     * time zone (time conditions). */
    "CREATE INDEX flow_runs_contact ON flow_runs (flow_id, contact_id, created_at);"
    "ALTER TABLE scheduled_steps ADD COLUMN wait_for TEXT;"
    "CREATE INDEX scheduled_wait ON scheduled_steps (wait_for) WHERE wait_for IS NOT NULL;"
    "ALTER TABLE instagram_accounts ADD COLUMN timezone TEXT;",
    /* 25: calls (issue 20): signalling state and the lease that keeps a call
     * (and its users busy) alive while its instance lives. */
    "CREATE TABLE calls (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
    " caller_id TEXT NOT NULL, callee_id TEXT NOT NULL, media TEXT NOT NULL,"
    " state TEXT NOT NULL, created_at_ms INTEGER NOT NULL, answered_at_ms INTEGER,"
    " ended_at_ms INTEGER, lease_until_ms INTEGER NOT NULL);"
    "CREATE INDEX calls_caller ON calls (caller_id) WHERE state != 'ended';"
    "CREATE INDEX calls_callee ON calls (callee_id) WHERE state != 'ended';"
    "CREATE INDEX calls_lease ON calls (lease_until_ms) WHERE state != 'ended';",
    /* 26: avatars (issue 18): a user's and a group's avatar, an uploaded
     * image (its attachment id). */
    "ALTER TABLE users ADD COLUMN avatar_id TEXT;"
    "ALTER TABLE conversations ADD COLUMN avatar_id TEXT;",
    /* 27: flows (issue 19): run once per contact, claimed atomically: a run
     * of a "run once" flow inserts its (flow, contact) row as it starts, so
     * two messages racing for it start one run. */
    "CREATE TABLE flow_claims (flow_id TEXT NOT NULL, contact_id TEXT NOT NULL,"
    " run_id TEXT NOT NULL, PRIMARY KEY (flow_id, contact_id)) WITHOUT ROWID;",
    /* 28: flow analytics (issue 19): the contacts that reached each node, per
     * flow and version (-1: any version), so a node's count of contacts grows
     * only with a contact not counted before. */
    "CREATE TABLE flow_reached (flow_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " node_id TEXT NOT NULL, contact_id TEXT NOT NULL,"
    " PRIMARY KEY (flow_id, version, node_id, contact_id)) WITHOUT ROWID;",
    /* 29: "Continue with Instagram" (issue 19): each state used once; its
     * record kept until the state expires. */
    "CREATE TABLE oauth_states (key TEXT PRIMARY KEY, expires_at_ms INTEGER NOT NULL);"
    "CREATE INDEX oauth_states_expiry ON oauth_states (expires_at_ms);",
    /* 30: bots (issue 20): a bot is a user of kind 'bot'; its webhook, token
     * hash and sealed signing secret, the lease of its delivery in flight,
     * and its outbox of deliveries (oldest first by id). */
    "ALTER TABLE users ADD COLUMN kind TEXT;"
    "CREATE TABLE bots ("
    " id TEXT PRIMARY KEY REFERENCES users(id), owner_id TEXT NOT NULL,"
    " webhook_url TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, secret_cipher TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'active', failures INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, disabled_at TEXT, queued INTEGER NOT NULL DEFAULT 0,"
    " next_at_ms INTEGER NOT NULL DEFAULT 0, lease_until_ms INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL);"
    "CREATE INDEX bots_owner ON bots(owner_id, created_at, id);"
    "CREATE INDEX bots_due ON bots(next_at_ms) WHERE status = 'active' AND queued > 0;"
    "CREATE TABLE bot_deliveries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, bot_id TEXT NOT NULL, message_id TEXT NOT NULL,"
    " payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, UNIQUE (bot_id, message_id));"
    "CREATE INDEX bot_deliveries_bot ON bot_deliveries(bot_id, id);",
    /* 31: Instagram media (issue 18): an incoming attachment's record keeps
     * Meta's URL and its message; its fetch into storage is pending (due at
     * fetch_after_ms), stored or failed; NULL for uploads. */
    "ALTER TABLE attachments ADD COLUMN source_url TEXT;"
    "ALTER TABLE attachments ADD COLUMN message_id TEXT;"
    "ALTER TABLE attachments ADD COLUMN fetch_state TEXT;"
    "ALTER TABLE attachments ADD COLUMN fetch_attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE attachments ADD COLUMN fetch_after_ms INTEGER;"
    "CREATE INDEX attachments_fetch ON attachments (fetch_after_ms)"
    " WHERE fetch_state = 'pending';",
    /* 32: deleting a message deletes its attachments once no other message
     * uses them (issue 18): the messages (not deleted) that carry each, counted
     * here once from their copies. */
    "ALTER TABLE attachments ADD COLUMN refs INTEGER NOT NULL DEFAULT 0;"
    "UPDATE attachments SET refs = (SELECT count(*) FROM messages m, json_each(m.attachments) j"
    " WHERE m.deleted = 0 AND m.attachments IS NOT NULL"
    " AND json_extract(j.value, '$.id') = attachments.id);",
    /* 33: Web Push (issue 20): browsers' push subscriptions, an endpoint
     * once, found by user. */
    "CREATE TABLE push_subscriptions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
    " endpoint TEXT NOT NULL UNIQUE, p256dh TEXT NOT NULL, auth TEXT NOT NULL,"
    " preview INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL);"
    "CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);",
    /* 34: flows (issue 19): a cooldown is claimed like run once, with the
     * time it ends (NULL: run once, for ever). */
    "ALTER TABLE flow_claims ADD COLUMN until_ms INTEGER;",
    /* 35: bots in channels (issue 20): a participant that is a bot is marked
     * (bot = 1, by a trigger whatever path adds it), so a channel post finds
     * its bots through a partial index, not by reading 100,000 members. */
    "ALTER TABLE participants ADD COLUMN bot INTEGER;"
    "UPDATE participants SET bot = 1 WHERE user_id IN (SELECT id FROM bots);"
    "CREATE INDEX participants_bot ON participants(conversation_id) WHERE bot = 1;"
    "CREATE TRIGGER participants_bot AFTER INSERT ON participants"
    " WHEN EXISTS (SELECT 1 FROM bots WHERE id = NEW.user_id)"
    " BEGIN UPDATE participants SET bot = 1 WHERE rowid = NEW.rowid; END;",
    /* 36: the fingerprints of the keys every instance must share (KEY_CHECK). */
    "CREATE TABLE key_checks (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);",
    /* 37: the inbox by activity (issue 21): a member of a conversation that is
     * not a channel keeps its updated_at (activity), indexed by user, so
     * CONV_LIST reads a page's rows in order instead of every conversation
     * of the user, sorted (10,000 of them cost 50 ms a page). Triggers keep it
     * in step with every write of updated_at and every new member. A
     * channel's members keep NULL (a post would rewrite up to
     * CHANNEL_MEMBERS_MAX rows); CONV_LIST reads a user's channels (at most
     * CHANNELS_PER_USER_MAX) by the second index. */
    "ALTER TABLE participants ADD COLUMN activity TEXT;"
    "UPDATE participants SET activity = (SELECT c.updated_at FROM conversations c"
    " WHERE c.id = participants.conversation_id AND c.type != 'channel');"
    "CREATE INDEX participants_activity ON participants(user_id, activity, conversation_id)"
    " WHERE activity IS NOT NULL;"
    "CREATE INDEX participants_unsorted ON participants(user_id) WHERE activity IS NULL;"
    "CREATE TRIGGER participants_activity_conv AFTER UPDATE OF updated_at ON conversations"
    " WHEN new.type != 'channel' BEGIN"
    " UPDATE participants SET activity = new.updated_at WHERE conversation_id = new.id; END;"
    "CREATE TRIGGER participants_activity_new AFTER INSERT ON participants BEGIN"
    " UPDATE participants SET activity = (SELECT c.updated_at FROM conversations c"
    " WHERE c.id = new.conversation_id AND c.type != 'channel') WHERE rowid = new.rowid; END;",
    /* 38: a flow's message retried by another sender (MSG_INSERT) is found by
     * conversation and client_id among the flow's messages, not by a scan of
     * the conversation's messages with a client_id; whether an attachment is
     * an avatar (its release), not by a scan of every user and conversation
     * (issue 21). */
    "CREATE INDEX messages_flow_client ON messages(conversation_id, client_id)"
    " WHERE source = 'flow';"
    "CREATE INDEX users_avatar ON users(avatar_id) WHERE avatar_id IS NOT NULL;"
    "CREATE INDEX conversations_avatar ON conversations(avatar_id) WHERE avatar_id IS NOT NULL;",
    /* 39: an agent's inbox (issue 21): each owner's instagram conversations in
     * activity order, so CONV_LIST reads the newest page of each owner the
     * agent serves (LIST_TEAM) instead of sorting all of them. Partial: only
     * instagram conversations pay for it when updated_at moves. */
    "CREATE INDEX conversations_instagram ON conversations(creator_id, updated_at, id)"
    " WHERE type = 'instagram';",
    /* 40: 37's trigger rewrote every member's activity (and its index entry)
     * at each message: 100 rows a message in a group of 100 (issue 21). Now a
     * write of updated_at only notes the conversation in activity_pending
     * (once: a row already there is not written again), and the store brings
     * its members up to date from it (sqlite_activity_flush) before any read
     * of activity (CONV_LIST) and at the end of a batch a second at most after
     * the last, so a busy group's members are rewritten once a second. The
     * note commits with the write it follows, so no crash loses one. */
    "CREATE TABLE IF NOT EXISTS activity_pending (conversation_id TEXT PRIMARY KEY)"
    " WITHOUT ROWID;"
    "DROP TRIGGER IF EXISTS participants_activity_conv;"
    "CREATE TRIGGER participants_activity_conv AFTER UPDATE OF updated_at ON conversations"
    " WHEN new.type != 'channel' BEGIN INSERT INTO activity_pending (conversation_id)"
    " SELECT new.id WHERE NOT EXISTS (SELECT 1 FROM activity_pending WHERE conversation_id = "
    "new.id);"
    " END;",
    /* 41: 40's trigger read activity_pending in the INSERT that writes it, so
     * SQLite built and dropped a temporary table for its SELECT at every
     * message (about 23,000 instructions of each, hooks4's profile). A
     * conflict on the key now leaves the row there, unwritten, as the NOT
     * EXISTS did: no UPDATE of conversations carries a conflict clause of its
     * own, which would take the trigger's place. */
    "DROP TRIGGER IF EXISTS participants_activity_conv;"
    "CREATE TRIGGER participants_activity_conv AFTER UPDATE OF updated_at ON conversations"
    " WHEN new.type != 'channel' BEGIN INSERT OR IGNORE INTO activity_pending (conversation_id)"
    " VALUES (new.id);"
    " END;",
};

static int current_version(sqlite_db_t *d, int *version) {
  if (sqlite_db_exec_plain(
          d, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)") != 0)
    return -1;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(d->db, "SELECT max(version) FROM schema_version", -1, &st, NULL) !=
      SQLITE_OK)
    return -1;
  *version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_finalize(st);
  return 0;
}

/* 1 when PRAGMA foreign_key_check finds rows that break a foreign key. */
static int broken_keys(sqlite_db_t *d) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(d->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) return 1;
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) log_error("store: sqlite migration would break a foreign key");
  return rc != SQLITE_DONE;
}

/* Runs with foreign keys off (see sqlite_schema_migrate), checked before COMMIT. */
static int apply(sqlite_db_t *d, int n) {
  char record[96];
  snprintf(record, sizeof(record), "INSERT INTO schema_version (version) VALUES (%d)", n);
  if (sqlite_db_exec_plain(d, "BEGIN IMMEDIATE") != 0) return -1;
  if (sqlite_db_exec_plain(d, migrations[n - 1]) != 0 || sqlite_db_exec_plain(d, record) != 0 ||
      broken_keys(d)) {
    sqlite_db_exec_plain(d, "ROLLBACK");
    return -1;
  }
  if (sqlite_db_exec_plain(d, "COMMIT") != 0) return -1;
  log_info("store: sqlite schema migrated to version %d", n);
  return 0;
}

int sqlite_schema_migrate(sqlite_db_t *d) {
  int version = 0;
  int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
  if (current_version(d, &version) != 0) return -1;
  if (version > latest) {
    log_error("store: sqlite schema version %d is newer than this build (%d)", version, latest);
    return -1;
  }
  if (version == latest) return 0;
  /* A table rebuild (SQLite's recipe for changing constraints) must not cascade
   * the DROP of the old table into the tables that reference it; the pragma is
   * a no-op inside a transaction, hence around them. */
  if (sqlite_db_exec_plain(d, "PRAGMA foreign_keys=OFF") != 0) return -1;
  int rc = 0;
  for (int n = version + 1; n <= latest && rc == 0; n++) rc = apply(d, n);
  if (sqlite_db_exec_plain(d, "PRAGMA foreign_keys=ON") != 0) return -1;
  return rc;
}
