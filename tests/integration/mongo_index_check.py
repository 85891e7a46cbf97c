"""Whether an index the MongoDB backend creates serves each query it sends
(issue 21): the stand-in records every query's shape and every createIndexes
(tests/mongo_server/querylog.py, {parleyQueryShapes: 1}); unserved() applies
MongoDB's prefix rule to them. A query is served when _id is one of its
equalities, when a unique index's fields are all among its equalities (one
document at most is left to filter), or when its equality fields (any order),
then its sort fields (in order, all in the index's directions or all
reversed; a sort field also tested for equality drops out), then its range
fields (any order; a range on a sort field is that field's segment) are a
prefix of an index's keys, whose partial filter's fields the query tests too
(those need no key). Each branch of an $or must be served with the
clauses beside the $or. A text search needs a text index.

Queries that may scan are listed in EXCEPTIONS with the reason."""

# (collection, command or None for any, eq fields, range fields) -> why the
# index that serves the leading fields leaves few enough documents to filter
# (or why a scan is fine). Each was looked at for issue 21.
EXCEPTIONS = {
    ("revocations", "find", (), ("before_ms", "expires_at_ms")):
        "the revocations not yet expired: kept only for an access token's lifetime",
    ("bots", "find", (), ()):
        "every bot's id, the set each instance holds and reloads (bots are few beside users)",
    ("messages", "find", ("status",), ()):
        "MSG_FAIL_PENDING: status_1 (partial: pending) finds the sends in flight, few; "
        "sorted by created_at in memory",
    ("refresh_tokens", None, ("user_id",), ("expires_at_ms",)):
        "a user's refresh tokens (user_id_1): their logins' (LOGINS_MAX) live tokens",
    ("refresh_tokens", None, ("family_id",), ("expires_at_ms",)):
        "one login's tokens (family_id_1)",
    ("refresh_tokens", "find", ("family_id", "revoked", "rotated", "user_id"),
     ("expires_at_ms",)): "one login's tokens (family_id_1)",
    ("refresh_tokens", "find", ("revoked", "rotated", "user_id"),
     ("expires_at_ms", "family_id")): "a user's tokens (user_id_1), as above",
    ("logins", "find", ("ended", "user_id"), ("expires_at_ms",)):
        "a user's logins (user_id_1_last_used_at_ms_-1), at most LOGINS_MAX",
    ("messages", "aggregate", ("conversation_id", "mentions"), ("seq",)):
        "CONV_MARK_READ recounting mentions after the new marker, only when the reader had "
        "some: the messages after it by conversation_id_1_seq_1",
    ("ig_agents", "find", ("owner_id",), ()):
        "an owner's agents (owner_id_1_user_id_1), a team",
    ("conversations", "find", ("participants.id", "type"), ()):
        "the instagram inbox alias: a user's conversations by activity "
        "(participants.id_1_activity_-1), the type filtered; an owner's are instagram ones",
    ("conversations", "find", ("assignee_id", "participants.id", "type"), ()):
        "the same, with an assignee tab",
    ("conversations", "find", ("type",), ()):
        "an agent's inbox filtered by type: each $or branch walks its index by activity",
    ("conversations", "find", ("assignee_id", "type"), ()):
        "an agent's inbox by assignee tab: each $or branch walks its index by activity",
    ("conversations", None, ("contact_id", "type"), ()):
        "a contact's conversations (contact_id_1): one per owner",
    ("conversations", "update", ("assignee_id", "creator_id", "type"), ()):
        "an agent removed: the owner's instagram conversations (creator_id_1_type_1) lose "
        "that assignee; rare",
    ("flows", "find", ("owner_id", "status"), ()): "an owner's flows (owner_id_1_ord_1)",
    ("flows", "find", ("name", "owner_id"), ()): "an owner's flows (owner_id_1_ord_1)",
    ("flow_runs", "find", ("flow_id", "owner_id"), ()):
        "a flow's runs (flow_id_1_ord_-1): owner_id is the flow's own",
    ("flow_runs", "find", ("contact_id", "flow_id", "owner_id"), ()):
        "a contact's runs of a flow (flow_id_1_contact_id_1_ord_-1): owner_id is the flow's own",
    ("push_subscriptions", "aggregate", ("user_id",), ("endpoint",)):
        "a user's push subscriptions (user_id_1), at most PUSH_SUBS_MAX",
    ("conversations", "find", ("assignee_id",), ()):
        "an agent's inbox by assignee tab: each $or branch walks its index by activity",
    ("users", "find", (), ("deleted",)):
        "user search: a name prefix by name_1__id_1 or an email by email_1; deleted filtered",
    ("bots", "find", ("owner_id",), ()):
        "an owner's bots (owner_id_1_created_at_1), sorted by _id within one created_at",
    ("contacts", "find", ("owner_id", "tags"), ()):
        "an owner's contacts in id order (owner_id_1__id_1), a tag filtered: a page stops "
        "when full",
}


def _exception(q):
    for (coll, cmd, eq, rng), _why in EXCEPTIONS.items():
        if coll == q["collection"] and cmd in (None, q["command"]) and \
                sorted(eq) == q["eq"] and sorted(rng) == q["range"]:
            return True
    return False


def _prefix_ok(eq, rng, sort, ix):
    keys = [k for k, _ in ix["key"]]
    if any(isinstance(d, str) for _, d in ix["key"]):
        return False  # text or hashed: not for these
    if not set(ix["partial"]) <= (eq | rng):
        return False
    # a field the partial filter fixes needs no key; a range on a sort field
    # is the sort's own segment of the index
    eq = eq - set(ix["partial"])
    rng = rng - set(ix["partial"]) - {f for f, _ in sort}
    n = len(eq)
    if set(keys[:n]) != eq:
        return False
    sort = [(f, d) for f, d in sort if f not in eq]
    if sort:
        seg = ix["key"][n:n + len(sort)]
        if [f for f, _ in seg] != [f for f, _ in sort]:
            return False
        same = all(d == sd for (_, d), (_, sd) in zip(seg, sort))
        flipped = all(d == -sd for (_, d), (_, sd) in zip(seg, sort))
        if not (same or flipped):
            return False
        n += len(sort)
    if rng and set(keys[n:n + len(rng)]) != rng:
        return False
    return bool(eq or rng or sort)


def _served(eq, rng, sort, text, indexes):
    if text:
        return any(any(d == "text" for _, d in ix["key"]) for ix in indexes)
    if "_id" in eq:
        return True
    for ix in indexes:
        keys = {k for k, _ in ix["key"]}
        if ix["unique"] and not ix["partial"] and keys <= eq:
            return True
        if _prefix_ok(eq, rng, sort, ix):
            return True
    # sort only on _id with nothing else: the _id index walks it
    return not eq and not rng and sort and all(f == "_id" for f, _ in sort)


def unserved(shapes):
    """The recorded queries no created index serves (and not excepted)."""
    indexes = shapes["indexes"]
    bad = []
    for q in shapes["queries"]:
        ixs = indexes.get(q["collection"], [])
        eq, rng = set(q["eq"]), set(q["range"])
        sort = [(f, d) for f, d in q["sort"]]
        if q["scan"]:
            ok = False
        elif q["or"]:
            # every $or (usually one) must have each branch served
            ok = all(all(_served(eq | set(b["eq"]), rng | set(b["range"]), sort,
                                 q["text"] or b["text"], ixs)
                         for b in branches) for branches in q["or"]) or \
                _served(eq, rng, sort, q["text"], ixs)
        else:
            ok = _served(eq, rng, sort, q["text"], ixs)
        if not ok and not _exception(q):
            bad.append(q)
    return bad
