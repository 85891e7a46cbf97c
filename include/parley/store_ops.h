/* The store's operations: the one list every table keyed by an operation is made
 * from (an X-macro list). Define STORE_OP(op, name, kind), include this file, and
 * one line per operation expands: store.h makes `enum store_op` from it, store.c
 * the names and kinds, and each backend its table of functions, where operation
 * `name` is <backend>_<name>() (sqlite_user_create, mongo_user_create) in the file
 * named after the name's first word (sqlite_user.c, mongo_user.c). An operation
 * added here and not implemented by a backend does not link. No include guard:
 * this file is included once per table.
 *
 * kind says what a failure can leave behind (the SQLite backend runs WRITE
 * operations under a savepoint so that a failure undoes them):
 *   READ   writes nothing;
 *   CHECKS_FIRST  writes only once every check that can fail has passed, so a
 *          failed call wrote nothing, unless a statement failed (unavailable,
 *          a conflict): the SQLite backend then runs the batch again with a
 *          savepoint for every job;
 *   WRITE  may fail after it wrote.
 *
 * Parameters are a JSON object and results JSON values; "?" marks optional keys. */

STORE_OP(STORE_PING, ping, READ) /* {} -> {} ; readiness */

/* users: user = {id, email, name, avatar_url, status, last_seen, created_at,
 * email_verified}; status is the one the user chose (online, away, dnd,
 * invisible; "offline" in rows older than that choice means online), last_seen
 * when their last session closed (null: never). Deleted users also carry
 * "deleted": true. password_hash is returned only by USER_GET_BY_EMAIL. Users
 * stored before email_verified existed read as verified. */
/* {email, name, password_hash, email_verified?: bool (default false)} -> user
 * | ECONFLICT */
STORE_OP(USER_CREATE, user_create, WRITE)
/* {email} -> user + {password_hash} | ENOTFOUND (deleted: ENOTFOUND) */
STORE_OP(USER_GET_BY_EMAIL, user_get_by_email, READ)
/* {id} -> user | ENOTFOUND */
STORE_OP(USER_GET, user_get, READ)
/* {q, limit} -> {users: [user]}: case-insensitive name prefix or exact email, not
 * deleted, ordered by name then id */
STORE_OP(USER_SEARCH, user_search, READ)
/* {id, name?, avatar_url? (string|null), status?} -> user */
STORE_OP(USER_UPDATE, user_update, WRITE)
/* {id, attachment_id (string|null)} -> user (+ avatar_id while it has one) |
 * ENOTFOUND when the attachment is not the user's image with a thumbnail. The
 * attachment counts as sent from then on (the unsent-upload sweep keeps it). */
STORE_OP(USER_AVATAR, user_avatar, WRITE)
/* one-time codes mailed to a user (e-mail verification, password reset), stored
 * as a keyed hash: code = {id, user_id, purpose: "verify"|"reset", code_hash,
 * expires_at_ms, attempts, used}. */
/* {id, user_id, purpose, code_hash, expires_at_ms} -> {}: the user's earlier
 * codes of that purpose are dropped (one live code per user and purpose) */
STORE_OP(CODE_CREATE, code_create, WRITE)
/* {purpose, id | user_id, code_hash, now_ms, max_attempts, password_hash?} ->
 * user: the live code (not used, not expired, fewer than max_attempts wrong
 * tries; by id, or the user's code of that purpose) whose code_hash matches is
 * used up, the user's email_verified set and, with password_hash, the password
 * replaced. No live code, or a deleted user: ENOTFOUND. A wrong code_hash counts
 * one attempt on that code (kept although the answer is ENOTFOUND). */
STORE_OP(CODE_USE, code_use, WRITE)
/* {id} -> {}: anonymised (name "Deleted user", email freed, avatar null, status
 * "offline", deleted true, password cleared), every refresh token revoked;
 * messages kept */
STORE_OP(USER_DELETE, user_delete, WRITE)
/* {ids: [id], at most 1000} -> {users: [user]}: those that exist and are not
 * deleted, in no particular order; unknown ids are left out */
STORE_OP(USER_GET_MANY, user_get_many, READ)
/* {id, at_ms} -> {}: last_seen becomes at_ms unless it is already later (two
 * instances may both record one departure); unknown or deleted: ENOTFOUND */
STORE_OP(USER_SEEN, user_seen, WRITE)

/* refresh tokens: only hashes are stored (hex SHA-256 of the token). A family
 * of tokens (one login) is described by a login = {id (the family id),
 * device_name, ip, created_at, last_used_at}; revoking a family ends its login. */
/* {token_hash, user_id, family_id, expires_at_ms, device_name?, ip?, now_ms?} ->
 * {ended: [family ids]}. With device_name (a new login), the login is recorded
 * too, and when the user then has more than LOGINS_MAX live logins the least
 * recently used are ended (their families revoked) and named in ended. With
 * now_ms, the user's tokens expired by then and ended or expired logins are
 * dropped on the way (a rotation drops its family's expired tokens), so that
 * what is kept is bounded by one token lifetime. */
STORE_OP(REFRESH_CREATE, refresh_create, WRITE)
/* {token_hash, new_token_hash, new_expires_at_ms, now_ms, ip?} -> {user_id,
 * family_id}. Unknown, expired or revoked: ENOTFOUND. Already rotated (reuse):
 * the whole family is revoked, EREVOKED. The login's last use (and ip) move to
 * now. */
STORE_OP(REFRESH_ROTATE, refresh_rotate, WRITE)
/* {token_hash} -> {user_id, family_id}: revokes that token's family (logout);
 * an unknown token: {} */
STORE_OP(REFRESH_REVOKE, refresh_revoke, WRITE)
/* {user_id} -> {} */
STORE_OP(REFRESH_REVOKE_USER, refresh_revoke_user, WRITE)
/* {user_id, now_ms} -> {logins: [login]}: the user's live logins (not ended,
 * not expired), most recently used first, at most LOGINS_MAX */
STORE_OP(LOGIN_LIST, login_list, READ)
/* {user_id, now_ms, id? | except_id?} -> {ended: [family ids]}: id: that login
 * (not the user's, or not live: ENOTFOUND); except_id: every other live family
 * of the user (logins recorded or not); neither: all of them. A live family's
 * newest token is neither rotated, revoked nor expired at now_ms. */
STORE_OP(LOGIN_END, login_end, WRITE)

/* access-token revocations (a deleted account, an ended login), kept until the
 * tokens they cover have expired: revocation = {user_id, login_id|null,
 * before_ms}. One per user (login_id absent) or per login. */
/* {user_id, login_id?, before_ms, expires_at_ms} -> {}: saving one again keeps
 * the later before_ms and expires_at_ms; expired ones are dropped on the way */
STORE_OP(REVOKE_SAVE, revoke_save, WRITE)
/* {now_ms, since_ms?, limit} -> {revocations: [revocation]}: those not yet expired
 * at now_ms (and made at or after since_ms), newest (before_ms) first */
STORE_OP(REVOKE_LIST, revoke_list, READ)

/* conversations: conversation = {id, type, name, participants: [{id, name, role,
 * last_read_seq, last_delivered_seq, mention_count, muted_until}], last_seq, last_message
 * (message|null), created_at, updated_at, contact_id?}. updated_at moves with every message.
 * instagram conversations add owner_id (their creator, the account's owner), agents: [{id, name,
 * last_read_seq}] (the owner's agents, each with a read marker of its own), assignee_id
 * (string|null) and automation_paused_until (ISO string while the contact's automation is paused,
 * else null). An agent of the owner sees and writes in the owner's instagram conversations as a
 * participant does (role "agent" where a role is checked), without being one; the participant_ids
 * of results (fan-out) include the agents. */
/* {type: "direct"|"group"|"instagram", name|null, creator_id, participant_ids
 * (creator included), contact_id?} -> {conversation, created: bool}. direct: one
 * per pair (returns the existing one, created false); instagram: one per
 * (creator_id, contact_id). Unknown participant: EINVAL. The creator is admin of
 * a group. */
STORE_OP(CONV_CREATE, conv_create, WRITE)
/* {id, user_id?} -> conversation; user_id given and not a participant: ENOTFOUND */
STORE_OP(CONV_GET, conv_get, READ)
/* {user_id, limit, cursor?, type?, assigned?: "me"|"none"} -> {conversations,
 * next_cursor|null}, most recent activity (updated_at) first; cursor opaque.
 * The user's conversations and, as an agent, the instagram conversations of
 * every owner whose agent they are; assigned "me": assignee_id is user_id,
 * "none": no assignee. */
STORE_OP(CONV_LIST, conv_list, READ)
/* {id, user_id, name} -> conversation; not admin of a group or channel: EFORBIDDEN */
STORE_OP(CONV_RENAME, conv_rename, WRITE)
/* {id, user_id, attachment_id (string|null)} -> conversation (+ avatar_id
 * while it has one): a group's avatar, an image with a thumbnail that user_id
 * uploaded (else EINVAL; marked sent, so the sweep keeps it); not a
 * participant: ENOTFOUND; not an admin of a group: EFORBIDDEN */
STORE_OP(CONV_AVATAR, conv_avatar, WRITE)
/* {id, user_id, user_ids} -> conversation; group and channel admins only;
 * unknown user: EINVAL; existing members unchanged; a channel's limits as
 * CHANNEL_JOIN's (ECONFLICT) */
STORE_OP(CONV_ADD_MEMBERS, conv_add_members, WRITE)
/* {id, user_id, member_id} -> {conversation, removed_id}: an admin, or the member
 * leaving; not a member: ENOTFOUND; a channel's last admin leaving while
 * others remain: ECONFLICT */
STORE_OP(CONV_REMOVE_MEMBER, conv_remove_member, WRITE)
/* {id, user_id, seq} -> {last_read_seq}: never backwards, at most last_seq; a
 * participant's last_delivered_seq follows (reading implies delivery) and
 * mention_count becomes the number of messages after the new marker that
 * mention them */
STORE_OP(CONV_MARK_READ, conv_mark_read, WRITE)
/* {id, user_id, seq} -> {last_delivered_seq}: a participant's delivered
 * position, never backwards, at most last_seq, never behind last_read_seq; not
 * a participant (agents too): ENOTFOUND */
STORE_OP(CONV_MARK_DELIVERED, conv_mark_delivered, WRITE)
/* {id, user_id, muted_until (ISO-8601)|null} -> conversation: the participant's
 * own setting; not a participant (agents too): ENOTFOUND */
STORE_OP(CONV_SETTINGS, conv_settings, WRITE)
/* {id, user_id, assignee_id|null} -> conversation: an instagram conversation the
 * user sees (owner or agent); not instagram: EFORBIDDEN; assignee neither the
 * owner nor an agent: EINVAL */
STORE_OP(CONV_ASSIGN, conv_assign, WRITE)

/* channels: conversations of type "channel", where admins post and members
 * read. Members live outside the conversation's row or document (SQLite's
 * participants table, MongoDB's "channel_members" collection), so no call
 * reads them all: a channel carries public (bool), member_count and, for an
 * admin, invite_token (string|null) instead of participants, and "me": {id,
 * role, last_read_seq} when read for a member (CONV_GET and CONV_LIST with a
 * user; CHANNEL_JOIN). The participant_ids of a channel's results are empty:
 * fan-out reaches a channel's members through each instance's connected
 * members (chat/channel_subs.h). CONV_CREATE takes type "channel" with name
 * and public; its creator is its first admin. MSG_INSERT into a channel by
 * anyone but an admin: EFORBIDDEN (a member) or ENOTFOUND. At most
 * CHANNEL_MEMBERS_MAX members per channel and CHANNELS_PER_USER_MAX channels
 * per user (ECONFLICT beyond). */
/* {token} | {id} with {user_id} -> {conversation (with me), joined: bool}: by
 * an invite token, or by id when public (a private channel, an unknown one or
 * a token that is not current: ENOTFOUND). A member already: joined false. */
STORE_OP(CHANNEL_JOIN, channel_join, WRITE)
/* {id, user_id, revoke: bool} -> conversation: a new invite token (the old one
 * stops working), or none with revoke; channel admins only (EFORBIDDEN; not a
 * channel: EINVAL) */
STORE_OP(CHANNEL_INVITE, channel_invite, WRITE)
/* {id, user_id, member_id, role: "admin"|"member"} -> {member: {id, name,
 * role}}; channel admins only (EFORBIDDEN); not a member: ENOTFOUND; the last
 * admin demoting themselves: ECONFLICT; not a channel: EINVAL */
STORE_OP(CHANNEL_SET_ROLE, channel_set_role, WRITE)
/* {user_id, limit, cursor?} -> {channels: [conversation], next_cursor|null}:
 * public channels, newest first, each with "me" when user_id is a member */
STORE_OP(CHANNEL_LIST_PUBLIC, channel_list_public, READ)
/* {user_id} -> {ids}: every channel the user is a member of (at most
 * CHANNELS_PER_USER_MAX), for the fan-out's connected members */
STORE_OP(CHANNEL_IDS_OF_USER, channel_ids_of_user, READ)
/* {user_ids: [id] (1 to CHANNEL_IDS_BATCH_MAX)} -> {ids: {user id: [channel
 * id]}}: CHANNEL_IDS_OF_USER for several users in one job (the sessions a
 * connection storm opens in one turn); every user id is a key */
STORE_OP(CHANNEL_IDS_OF_USERS, channel_ids_of_users, READ)
/* {id, user_id, limit, cursor?} -> {members: [{id, name, role}], next_cursor
 * |null}: a page of any conversation's members the user sees, in user id
 * order (the cursor is the last id); not visible: ENOTFOUND */
STORE_OP(CONV_MEMBERS, conv_members, READ)

/* messages: message = {id, conversation_id, seq, sender_id, text|null,
 * client_id|null, source, created_at, edited_at|null, deleted, reactions:
 * [{emoji, user_ids}], attachments: [{type, url} (Instagram) | {id, type,
 * content_type, size, name} (uploaded)], external_id?, status?, error?,
 * reply_to?: {id, seq, sender_id, text}, mentions?: [user id]}; reply_to and
 * mentions only on messages that have them.
 * status ("pending"|"sent"|"failed") and error ({code, message}|null) only on
 * messages sent through the Graph API. Results that
 * change a message carry the conversation's participant ids for fan-out. */
/* {conversation_id, sender_id, text|null, client_id?, source, attachments?,
 * external_id?, status?, check_member?: bool, reply_to? (message id),
 * mentions? ([user id])} -> {message, created: bool, participant_ids}.
 * reply_to: a message of the same conversation, not deleted, whose preview
 * (store_reply_preview: {id, seq, sender_id, text cut to
 * MSG_REPLY_PREVIEW_MAX}) the new message keeps as its reply_to; mentions: at
 * most MSG_MENTIONS_MAX distinct participants, each of whom but the sender
 * has mention_count raised by one. Either in an instagram conversation, or
 * not as said: EINVAL, nothing stored.
 * seq is last_seq + 1 in the same transaction; (conversation_id, sender_id,
 * client_id) seen before: the original, created false (a client_id "flow-..."
 * also matches the conversation's message of source "flow" whatever its
 * sender: a flow's message is retried by any participant); external_id (Instagram
 * mid) seen before: the original, created false. check_member and the sender is
 * not a participant: ENOTFOUND. attachment_ids?: ids of the sender's
 * attachments, which become the message's attachments (in that order); one
 * unknown or another user's: ENOTFOUND. The sender's read marker moves to the
 * new seq. event_id?: a webhook event marked processed once the message (new,
 * or the original of a retry) is stored, and then event_processed: true in
 * the result (SQLite: in the same transaction; MongoDB: right after, and
 * without event_processed if that update failed). */
STORE_OP(MSG_INSERT, msg_insert, CHECKS_FIRST)
/* {conversation_id, user_id, limit, before_seq?, after_seq?} -> {messages
 * (ascending seq), has_more}; not a participant: ENOTFOUND. No cursor: newest
 * `limit`; before_seq: newest below it; after_seq: oldest above it. The page's
 * reactions are read in one query, whatever its length. */
STORE_OP(MSG_LIST, msg_list, READ)
/* {id? | external_id?} -> {message, participant_ids} */
STORE_OP(MSG_GET, msg_get, READ)
/* {id, user_id, text, check_member?: bool} -> {message, participant_ids}; not
 * the sender: EFORBIDDEN; deleted: EFORBIDDEN. check_member false lets an
 * Instagram contact ("ig:<id>"), not a participant, edit its own message */
STORE_OP(MSG_EDIT, msg_edit, WRITE)
/* {id, user_id, check_member?: bool} -> {message, participant_ids,
 * removed_files}; sender or group admin; check_member false as for MSG_EDIT.
 * The message keeps no attachments; each of its attachments is used by one
 * message less (an attachment counts the messages that took it), and those
 * no message and no avatar uses any more are removed: removed_files names
 * their storage keys (files and thumbnails), whose bytes are the caller's to
 * remove. */
STORE_OP(MSG_DELETE, msg_delete, WRITE)
/* {id, user_id, emoji, add: bool, check_member?: bool} -> {message,
 * participant_ids}; check_member false lets a non-participant (an Instagram
 * contact "ig:<id>") react */
STORE_OP(MSG_REACT, msg_react, WRITE)
/* {user_id, terms: [folded words], conversation_id?, sender_id?, before?, after?
 * (ISO-8601, exclusive), exclude_types: [type], offset, limit, window} ->
 * {results: [{message, score}], has_more}. Searches the conversations user_id
 * is in whose type is not excluded; conversation_id given and not one of
 * them: ENOTFOUND. A message matches when its text holds any of the terms as a
 * whole word, case and diacritics folded; deleted messages never match. The
 * newest `window` matches (by creation) are ranked, best first (more of the
 * terms score higher; SQLite's bm25 also weighs rarer terms more, MongoDB's
 * textScore does not; ties newest first), and [offset,
 * offset + limit) of that ranking is answered. score is the backend's own
 * (higher is better), comparable only within one answer. */
STORE_OP(MSG_SEARCH, msg_search, READ)
/* {id, status, error?: {code, message}|null, external_id?, expect?,
 * pending_until_ms?} -> {message, participant_ids, changed: bool}: a message
 * with a delivery status that is not "sent" (and, with expect, is in status
 * expect) takes status, error and external_id (unless another message holds that
 * external_id already: an echo matched it first); otherwise nothing changes
 * (changed false). pending_until_ms: the lease of a send claimed again (status
 * "pending"), see MSG_FAIL_PENDING. Unknown id: ENOTFOUND. brief: a change
 * may be answered without its message ({participant_ids, changed: true}: the
 * caller holds what it sent and reads it again only if it needs it); no
 * change is answered in full. conversation_id: the message's, as the caller
 * holds it (a message in another conversation does not change); a brief
 * answer then reads the participants without looking the message up. Checks
 * first: one statement writes, what follows it only reads. */
STORE_OP(MSG_SET_DELIVERY, msg_set_delivery, CHECKS_FIRST)
/* {now_ms, stale_before, limit} -> {failed: n, messages: [{message,
 * participant_ids}]}: "pending" messages whose send lease ran out become
 * "failed" with error code "unknown_outcome", at most limit of them, oldest
 * first. A send claimed again carries its lease (pending_until_ms < now_ms: out);
 * a new one is leased from its creation (created_at < stale_before, ISO-8601).
 * Each message changes once however many instances sweep at the same time. */
STORE_OP(MSG_FAIL_PENDING, msg_fail_pending, WRITE)
/* {conversation_id, external_id, text} -> {message, participant_ids}: Meta's
 * echo of a send whose Graph answer has not arrived yet. The oldest message of
 * the conversation with a delivery status, no external_id and the same text
 * (pending, sent without Meta's id, or failed with code "unknown_outcome")
 * takes external_id and status "sent". None, or external_id already held by a
 * message: ENOTFOUND (the echo is then stored, or found, by MSG_INSERT). */
STORE_OP(MSG_MATCH_ECHO, msg_match_echo, WRITE)

/* Instagram accounts: account = {id, user_id, ig_user_id, username, connected_at,
 * status: "connected"|"reconnect_needed", status_error: {code, message}|null,
 * token_expires_at|null}; token_cipher (base64) is returned only when
 * {with_token: true}. */
/* {user_id, ig_user_id, username|null, token_cipher, token_expires_at?} -> account
 * (status "connected" again); ig_user_id connected by another user: ECONFLICT */
STORE_OP(IG_ACCOUNT_UPSERT, ig_account_upsert, WRITE)
/* {user_id | ig_user_id, with_token?} -> account | ENOTFOUND */
STORE_OP(IG_ACCOUNT_GET, ig_account_get, READ)
/* {user_id} -> {} | ENOTFOUND */
STORE_OP(IG_ACCOUNT_DELETE, ig_account_delete, WRITE)
/* {user_id, status?, status_error?: {..}|null, token_cipher?, token_expires_at?,
 * timezone? (an IANA name; "" or null: UTC), if_token?} -> account; with if_token, only while
 * token_cipher is still if_token (a reconnect meanwhile wins: ECONFLICT) */
STORE_OP(IG_ACCOUNT_UPDATE, ig_account_update, WRITE)
/* {before, limit} -> {accounts (with token_cipher)}: status "connected" and
 * token_expires_at before `before` (ISO-8601), soonest first */
STORE_OP(IG_ACCOUNT_LIST_DUE, ig_account_list_due, READ)
/* {user_id, if_token, now_ms, until_ms} -> account: the right to refresh the
 * token, one instance at a time: taken while token_cipher is still if_token and
 * no other claim is live (its until_ms passed); else ECONFLICT (none: ENOTFOUND) */
STORE_OP(IG_ACCOUNT_CLAIM_REFRESH, ig_account_claim_refresh, WRITE)

/* contacts: contact = {id, owner_id, ig_user_id, username, name, profile_pic,
 * profile_fetched_at|null, tags: [..], variables: {..}, last_inbound_at|null,
 * last_read_seq, automation_paused_until|null}. Instagram conversations embed their contact
 * (without owner_id) as "contact", next to contact_id. */
/* {owner_id, ig_user_id, username?, last_inbound_at?} -> contact. One
 * statement writes; what follows it only reads. */
STORE_OP(CONTACT_UPSERT, contact_upsert, CHECKS_FIRST)
/* {id, owner_id} | {owner_id, ig_user_id} -> contact */
STORE_OP(CONTACT_GET, contact_get, READ)
/* {owner_id, limit?, cursor?, tag?, q?} -> {contacts, next_cursor|null} in id
 * order; tag: carrying it; q: case-insensitive substring of username or name */
STORE_OP(CONTACT_LIST, contact_list, READ)
/* {id, owner_id, add_tags?: [..], tags?: [..] (replaces), set_variables?: {..}
 * (merged; a null value deletes), ig_user_id?} -> contact. ig_user_id: a
 * hint, the contact's own (a backend may find its row by it). Checks first:
 * the bounds are checked before the one statement that writes. */
STORE_OP(CONTACT_UPDATE, contact_update, CHECKS_FIRST)
/* {id, owner_id, name|null, username?, profile_pic|null} -> {contact,
 * conversations}: the Graph profile, stamped profile_fetched_at now; the
 * contact's instagram conversations are renamed to name (else username) */
STORE_OP(CONTACT_PROFILE, contact_profile, WRITE)
/* {id | ig_user_id, owner_id, seq} -> contact: last_read_seq moves forward only */
STORE_OP(CONTACT_MARK_READ, contact_mark_read, WRITE)

/* {id, user_id, until_ms|null} | {conversation_id, until_ms} -> contact +
 * {conversation_ids: the contact's instagram conversations}:
 * automation of the contact paused until until_ms (null: resumed; scheduled
 * steps held for the contact are then due at once). With user_id the contact
 * must be the user's own or, as an agent, their owner's (else ENOTFOUND); with
 * conversation_id, the contact of that instagram conversation (none:
 * ENOTFOUND). contact.automation_paused_until is an ISO string while paused,
 * else null. */
STORE_OP(CONTACT_PAUSE, contact_pause, WRITE)

/* team inbox: the agents of an owner's Instagram inbox. agent = {id, name,
 * added_at} (id is the agent's user id). At most 50 per owner. */
/* {owner_id, user_id} -> {agent, created: bool}; unknown or deleted user, or
 * the owner: EINVAL; already 50: EFORBIDDEN; added before: created false */
STORE_OP(AGENT_ADD, agent_add, WRITE)
/* {owner_id, user_id} -> {}; not an agent: ENOTFOUND */
STORE_OP(AGENT_REMOVE, agent_remove, WRITE)
/* {owner_id} -> {agents} in the order they were added */
STORE_OP(AGENT_LIST, agent_list, READ)

/* webhook events: event = {id, mid|null, payload (object), processed, created_at} */
/* {events: [{id?, mid|null, payload}]} -> {inserted: [ids], duplicates: n}; a mid
 * seen before is skipped; id (24 characters) is the caller's, else a new one.
 * Its only failure after a write is a statement's (unavailable, conflict),
 * on which SQLite runs the batch again under savepoints. */
STORE_OP(EVENT_INSERT, event_insert, CHECKS_FIRST)
/* {limit, payload_text?} -> {events} oldest first; with payload_text true each
 * event carries payload_text (the stored JSON text) instead of payload */
STORE_OP(EVENT_LIST_PENDING, event_list_pending, READ)
/* {id} -> {} (one statement) */
STORE_OP(EVENT_MARK_PROCESSED, event_mark_processed, CHECKS_FIRST)

/* flows: flow = {id, owner_id, name, status, trigger, nodes, edges, start,
 * created_at, updated_at}; run = {id, flow_id, owner_id, contact_id, status,
 * trace, state, created_at, updated_at} */
/* {owner_id, flow} -> flow */
STORE_OP(FLOW_CREATE, flow_create, WRITE)
/* {id, owner_id} | {name, owner_id} -> flow */
STORE_OP(FLOW_GET, flow_get, READ)
/* {owner_id, status?} -> {flows} oldest first */
STORE_OP(FLOW_LIST, flow_list, READ)
/* {id, owner_id, flow} -> flow */
STORE_OP(FLOW_UPDATE, flow_update, WRITE)
/* {id, owner_id} -> {} */
STORE_OP(FLOW_DELETE, flow_delete, WRITE)
/* {run, claim_once?, brief?} -> run: insert when run.id is absent, else replace.
 * claim_once (an insert of a run with a contact_id): the run claims its flow
 * for its contact in the same operation, once ever; a claim taken before (by
 * any instance, however close the race): ECONFLICT, nothing stored. Deleting
 * the flow deletes its claims. brief: the run answered without its trace
 * and state (the caller holds them), and on SQLite as written, not read
 * back (created_at and version only when inserted). A trace equal to the
 * state's trace is stored once, inside the state, and read back from it.
 * Checks first: a lost claim wrote nothing, and one statement writes the run. */
STORE_OP(FLOW_RUN_SAVE, flow_run_save, CHECKS_FIRST)
/* {flow_id, owner_id, limit, contact_id?} -> {runs} newest first; with
 * contact_id only that contact's (run once, cooldown) */
STORE_OP(FLOW_RUN_LIST, flow_run_list, READ)
/* {id} -> run */
STORE_OP(FLOW_RUN_GET, flow_run_get, READ)

/* flow versions (API.md, Flows: versions): version = {version, created_at,
 * trigger, nodes, edges, start}, immutable. A flow carries version (the
 * latest published number, null before the first) and live (that version's
 * graph, for the runner). FLOW_CREATE and FLOW_UPDATE with publish: true
 * publish in the same operation. FLOW_GET with version: n answers the flow
 * with that version's graph (ENOTFOUND when pruned); FLOW_LIST with live: true
 * answers each flow with its live graph. Publishing a graph equal to the live
 * one makes no new version. At most FLOW_VERSIONS_KEPT are kept per flow,
 * plus any a running or waiting run started on. */
/* {id, owner_id} -> flow, status "active", the draft published */
STORE_OP(FLOW_PUBLISH, flow_version_publish, WRITE)
/* {id, owner_id} -> {versions: [{version, created_at}]} newest first */
STORE_OP(FLOW_VERSION_LIST, flow_version_list, READ)
/* {id, owner_id, version} -> version */
STORE_OP(FLOW_VERSION_GET, flow_version_get, READ)
/* {id, owner_id, version} -> flow whose draft is that version's graph */
STORE_OP(FLOW_VERSION_RESTORE, flow_version_restore, WRITE)

/* flow analytics: counters per (flow, version), keys "started", "completed",
 * "failed", "step_limit", "output_limit", "node:<id>" (runs that reached the
 * node), "contacts:<id>" and "contacts_all:<id>" (distinct contacts, below), "sent:<id>" and
 * "click:<id>" (a message node's sends, its buttons' clicks), "day:<YYYY-MM-DD>" (runs started that
 * day, UTC). Incremented in place (n = n + d, $inc), so instances never lose each other's counts.
 */
/* {flow_id, version (0: unversioned), inc: {key: d}, contact_id?, reached?} -> {}; with
 * contact_id, each "node:<id>" key also puts the contact in the node's reached
 * set of the version and of the flow (any version), insert-if-absent, and a
 * contact new to a set adds 1 to "contacts:<id>" (that version's distinct
 * contacts) or "contacts_all:<id>" (the flow's, counted once over all its
 * versions), in the version's counters. reached: {node_id: [contact_id]}, the
 * same for many contacts at once (the runner's batch; inc carries the
 * "node:<id>" counts apart). The sets go with the flow and with a pruned
 * version. */
STORE_OP(FLOW_STATS_INC, flow_stats_inc, WRITE)
/* {flow_id, version?} -> {counters: {key: n}}, summed over versions without one */
STORE_OP(FLOW_STATS_GET, flow_stats_get, READ)

/* scheduled steps (flow delays): step = {id, run_id, due_at_ms} */
/* {run_id, due_at_ms, held_for?, wait_for?} -> step; held_for: the contact
 * whose paused automation holds the step (CONTACT_PAUSE with null releases
 * it); wait_for: the contact whose answer the run waits for ("ask"), the step
 * being the wait's timeout */
STORE_OP(SCHED_INSERT, sched_insert, WRITE)
/* {now_ms, limit} -> {steps} due, oldest first */
STORE_OP(SCHED_DUE, sched_due, READ)
/* {id} -> {}; gone (claimed by someone else): ENOTFOUND */
STORE_OP(SCHED_DELETE, sched_delete, WRITE)
/* {wait_for} -> step: claims (deletes) the newest step waiting for that
 * contact's answer; none: ENOTFOUND. A step is claimed once, by this or by
 * SCHED_DELETE. Asked on every direct message; the claim is its one write. */
STORE_OP(SCHED_TAKE_WAIT, sched_take_wait, CHECKS_FIRST)

/* attachments (uploaded files; the bytes are in files storage under the id):
 * attachment = {id, user_id, type, content_type, size, name, created_at}, type
 * one of image, video, audio, file */
/* {id, user_id, type, content_type, size, name, width?, height?,
 * thumbnail_key?, thumbnail_size?, thumbnail_content_type?} -> attachment (an
 * image's size and thumbnail when it has them; the thumbnail's three together) */
STORE_OP(ATTACH_CREATE, attach_create, WRITE)
/* {id} -> attachment | ENOTFOUND */
STORE_OP(ATTACH_GET, attach_get, READ)
/* {user_id} -> {bytes, count}: what the user's attachments take up */
STORE_OP(ATTACH_USAGE, attach_usage, READ)
/* {before_ms, limit} -> {removed: [id], thumbnails: [key]}: removes up to
 * limit records of uploads never sent in a message and made before before_ms,
 * and names them and their thumbnails (their bytes are the caller's to remove). A record that a
 * message takes at the same time is either taken (and kept) or removed (and the send answers
 * not_found), never both: the send marks it sent, the sweep removes only
 * unsent ones, each atomically. */
STORE_OP(ATTACH_SWEEP, attach_sweep, WRITE)
/* Instagram media (issue 18, point 6): an incoming message's attachment is a
 * record too, its bytes fetched from Meta's URL (source_url) in the
 * background. Its message's copy is {id, type, name, source_url, fetch:
 * "pending"} until it is stored, then {id, type, content_type, size, name,
 * width?, height?, thumbnail_key?, source_url}. */
/* {message_id, user_id, items: [{id, type, name, source_url}]} -> {added}:
 * records the media of a stored message, pending, due at once, counted as
 * sent; an id recorded already is left as it is (a retried event). */
STORE_OP(ATTACH_MEDIA_ADD, attach_media_add, WRITE)
/* {now_ms, lease_ms, limit} -> {media: [{id, type, source_url, message_id,
 * attempts}], next_ms|null}: claims up to limit pending media due by now_ms
 * (each is due again at now_ms + lease_ms, so an instance that dies
 * mid-fetch leaves it to another); next_ms: when the earliest other pending
 * one is due. */
STORE_OP(ATTACH_MEDIA_CLAIM, attach_media_claim, WRITE)
/* {id, content_type, size, width?, height?, thumbnail_key?, thumbnail_size?,
 * thumbnail_content_type?} -> {message, participant_ids}: the medium is
 * stored; its record and its message's copy take the fields. Gone (its
 * message deleted it): ENOTFOUND, and the caller removes the bytes. Or {id,
 * retry_at_ms|null} -> {}: the fetch failed; due again then (attempts + 1),
 * or, with null, failed for good (the message keeps Meta's URL). */
STORE_OP(ATTACH_MEDIA_DONE, attach_media_done, WRITE)

/* end-to-end key directory (devices): device = {id, user_id, name,
 * identity_key, signed_prekey, signed_prekey_signature, one_time_prekeys (how
 * many are left), created_at, updated_at}. Keys are unpadded base64url text
 * that the handler checked (lengths, the signature); the store keeps them as
 * given and never sees a private key. A device holds at most
 * DEVICE_PREKEYS_MAX one-time prekeys; a user at most DEVICES_MAX devices. */
/* {id, user_id, name, identity_key, signed_prekey, signed_prekey_signature,
 * one_time_prekeys: [key]} -> device; the user has DEVICES_MAX already:
 * ECONFLICT, nothing stored */
STORE_OP(DEVICE_CREATE, device_create, CHECKS_FIRST)
/* {user_id} -> {devices} oldest first */
STORE_OP(DEVICE_LIST, device_list, READ)
/* {id, user_id} -> device; another user's or unknown: ENOTFOUND */
STORE_OP(DEVICE_GET, device_get, READ)
/* {id, user_id, signed_prekey?, signed_prekey_signature?, add_prekeys?: [key]}
 * -> device: the signed prekey replaced, the one-time prekeys added (one
 * already held is kept once); more than DEVICE_PREKEYS_MAX held after:
 * ECONFLICT, nothing changed */
STORE_OP(DEVICE_UPDATE, device_update, WRITE)
/* {id, user_id} -> {}: the device and its prekeys gone; ENOTFOUND */
STORE_OP(DEVICE_DELETE, device_delete, WRITE)
/* {user_id, id?} -> {bundles: [{device_id, user_id, identity_key,
 * signed_prekey, signed_prekey_signature, one_time_prekey (key|null),
 * remaining}]}: the user's devices (only id's, when given: unknown ENOTFOUND),
 * each handing out its oldest one-time prekey, which is deleted in the same
 * atomic step so that no two callers, on any instance, get the same one;
 * remaining is what the device holds after. */
STORE_OP(DEVICE_CLAIM, device_claim, WRITE)

/* calls (WebRTC signalling, chat/calls.h): call = {id, conversation_id,
 * caller_id, callee_id, media, state: "ringing"|"active"|"ended",
 * created_at_ms, answered_at_ms|null, ended_at_ms|null, lease_until_ms}. The
 * instance that started a call renews its lease while it lives; a user is in
 * a call (busy) while one of theirs is not ended and its lease has not run
 * out, so a call whose instance died stops counting by itself. */
/* {id, conversation_id, caller_id, callee_id, media, now_ms, lease_until_ms}
 * -> call (ringing); the caller or the callee in a live call: ECONFLICT with
 * nothing stored (also between instances starting calls at once) */
STORE_OP(CALL_CREATE, call_create, WRITE)
/* {id} -> call | ENOTFOUND */
STORE_OP(CALL_GET, call_get, READ)
/* {id, from: [state], state: "active"|"ended", now_ms} -> call: a call in one
 * of the states from takes state (active: answered_at_ms now; ended:
 * ended_at_ms now, its users free); in another state: ECONFLICT, unchanged.
 * Each transition happens once, whatever the instances racing for it. */
STORE_OP(CALL_SET_STATE, call_set_state, WRITE)
/* {ids: [id], lease_until_ms} -> {live: [id]}: those not ended have their
 * lease extended and are named in live */
STORE_OP(CALL_RENEW, call_renew, WRITE)
/* {now_ms, limit} -> {calls: [call]}: calls not ended whose lease ran out (their
 * instance stopped renewing), at most limit, each ended now (ended_at_ms is
 * when the lease ran out) and answered once only */
STORE_OP(CALL_SWEEP, call_sweep, WRITE)

/* "Continue with Instagram" states, one use each (API.md): the handler checks
 * a state's signature and expiry, then uses it here before the code exchange. */
/* {key, expires_at_ms, now_ms} -> {}: records the state's key (its MAC) as
 * used until expires_at_ms; used before (by any instance, however close the
 * race): ECONFLICT. Also deletes up to 100 records whose state expired, so
 * the records are those of the last 10 minutes' connections. */
STORE_OP(OAUTH_STATE_USE, oauth_state_use, WRITE)

/* bots (src/bots/): a bot is a user (kind "bot", no email or password) owned
 * by its creator, with a webhook and an outbox of deliveries. bot = {id, name,
 * owner_id, webhook_url, status: "active"|"disabled", failures, last_error|null,
 * disabled_at|null, queued, created_at}; secret_cipher (the sealed signing
 * secret) is returned only by BOT_AUTH and BOT_CLAIM. The token is stored as
 * its hash only. A bot's deliveries go out one at a time, oldest first: the
 * bot holds the lease (lease_until_ms) while one is in flight, so two
 * instances never send the same delivery, nor two of one bot at once. */
/* {owner_id, name, webhook_url, token_hash, secret_cipher, max} -> bot: a new
 * bot user; the owner with max bots already: ECONFLICT */
STORE_OP(BOT_CREATE, bot_create, CHECKS_FIRST)
/* {owner_id} -> {bots: [bot]}, oldest first */
STORE_OP(BOT_LIST, bot_list, READ)
/* {id, owner_id} -> bot | ENOTFOUND (another owner's too) */
STORE_OP(BOT_GET, bot_get, READ)
/* {id, owner_id, name?, webhook_url?, enable?: true} -> bot: a new
 * webhook_url or enable makes a disabled bot active again (failures 0, due
 * now) | ENOTFOUND */
STORE_OP(BOT_UPDATE, bot_update, WRITE)
/* {id, owner_id, token_hash} -> bot: the token replaced (the old one fails from
 * now on) | ENOTFOUND */
STORE_OP(BOT_TOKEN, bot_token, WRITE)
/* {id, owner_id} -> {conversations: [conversation]}: the bot, its deliveries
 * and its token gone, the bot out of every conversation and channel it was in
 * (conversations: the ones not channels, loaded after); its user anonymised
 * as USER_DELETE does (its messages kept) | ENOTFOUND */
STORE_OP(BOT_DELETE, bot_delete, WRITE)
/* {token_hash} -> bot | ENOTFOUND */
STORE_OP(BOT_AUTH, bot_auth, READ)
/* {} -> {ids: [id]}: every bot's id */
STORE_OP(BOT_IDS, bot_ids, READ)
/* {bot_ids: [id], message_id, key?, channel_id?, except?, payload (text),
 * queue_max, now_ms}, or {items: [that]} (at most BOTS_ENQUEUE_BATCH, queued
 * in turn) -> {queued: [id], full: [id]}: one delivery of the event to each
 * active bot of bot_ids and, with channel_id, each bot member of that channel
 * but except (others ignored; a delivery of the same key, default message_id,
 * already there kept), unless the bot holds queue_max already (named in full,
 * nothing queued) */
STORE_OP(BOT_ENQUEUE, bot_enqueue, WRITE)
/* {now_ms, lease_ms, limit} -> {deliveries: [{id, bot_id, message_id, payload,
 * attempts, webhook_url, secret_cipher, lease_until_ms}], next_due_ms|null}:
 * the oldest delivery of up to limit active bots that are due (next_at_ms and
 * lease_until_ms at most now_ms), each bot leased until now_ms + lease_ms;
 * next_due_ms: when the next bot not leased is due */
STORE_OP(BOT_CLAIM, bot_claim, WRITE)
/* {bot_id, delivery_id, lease_until_ms, ok: bool, error?, next_at_ms?,
 * max_failures, now_ms} -> {bot, disabled: bool} | ENOTFOUND when the lease is
 * no longer the one claimed (another instance took the bot over): ok deletes
 * the delivery and resets failures; otherwise the delivery's attempts and the
 * bot's failures count one more, the bot is due again at next_at_ms, or is
 * disabled (disabled true) when failures reach max_failures */
STORE_OP(BOT_DONE, bot_done, WRITE)
/* Web Push subscriptions (API.md, Push): subscription = {id, user_id,
 * endpoint, p256dh, auth, preview: bool, created_at}; keys as the browser gave
 * them (unpadded base64url, checked by the handler). An endpoint is held once:
 * a browser profile's subscription belongs to whoever subscribed on it last. */
/* {id, user_id, endpoint, p256dh, auth, preview} -> {subscription, created:
 * bool}: the endpoint held already (by this user or another) takes the new
 * keys, owner and preview (created false, its id kept); the user holding
 * PUSH_SUBS_MAX others: ECONFLICT, nothing changed */
STORE_OP(PUSH_SUB_SAVE, push_sub_save, WRITE)
/* {user_ids: [id], at most PUSH_SUB_LIST_MAX} -> {subscriptions}: theirs, in
 * no particular order */
STORE_OP(PUSH_SUB_LIST, push_sub_list, READ)
/* {id, user_id} | {endpoint} -> {}: the user's subscription, or whoever's holds
 * the endpoint (the push service said it expired); none: ENOTFOUND */
STORE_OP(PUSH_SUB_DELETE, push_sub_delete, WRITE)
/* Keys every instance must share (src/app.c): a fingerprint of a key that
 * data in the store depends on (the secret key that seals tokens and bots'
 * secrets, the VAPID key browsers subscribed with). */
/* {name (1..64), fingerprint (1..128)} -> {fingerprint}: the one stored under
 * name, which is this one when none was stored (by any instance, however close
 * the race) */
STORE_OP(KEY_CHECK, key_check, CHECKS_FIRST)
