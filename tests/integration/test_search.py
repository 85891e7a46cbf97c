"""Message search (API.md, Search): GET /api/search/messages over the caller's
conversations only, folded for case and diacritics, ranked and paged, with
snippets whose highlights are code-point ranges; filters by conversation,
sender and date; edits and deletions reflected; bad queries and filters 400."""
import datetime
from urllib.parse import urlencode

from messaging_helpers import api, create_direct, create_group, post_message, uid


def search(server, session, **params):
    return api(server, "GET", "/api/search/messages?" + urlencode(params), session)


def found(server, session, **params):
    r = search(server, session, **params)
    assert r.status == 200, r
    return r.json()


def texts(body):
    return [hit["message"]["text"] for hit in body["results"]]


def highlighted(snippet):
    """The highlighted substrings, cut by code points as a client would."""
    return [snippet["text"][a:b] for a, b in snippet["highlights"]]


def test_search_finds_folded_words_in_own_conversations_only(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    group = create_group(server, a, [b])["id"]
    other = create_direct(server, b, c)["id"]
    assert post_message(server, a, group, "Un CAFÉ crème pour 🎉 moi").status == 201
    assert post_message(server, b, group, "cafeteria is another word").status == 201
    assert post_message(server, b, other, "café between b and c").status == 201

    body = found(server, a, q="cafe")
    assert texts(body) == ["Un CAFÉ crème pour 🎉 moi"]
    hit = body["results"][0]
    assert hit["conversation_id"] == group
    assert hit["message"]["sender_id"] == uid(a) and hit["message"]["seq"] == 1
    assert hit["snippet"] == {"text": "Un CAFÉ crème pour 🎉 moi", "highlights": [[3, 7]]}
    assert body["next_cursor"] is None

    # The emoji before "moi" is one code point, so "moi" starts at 21.
    assert found(server, a, q="MOI")["results"][0]["snippet"]["highlights"] == [[21, 24]]
    # B is in both conversations; C cannot see the group.
    assert len(found(server, b, q="café")["results"]) == 2
    assert texts(found(server, c, q="creme")) == []


def test_ranking_snippets_and_pages(server):
    a, b = server.signup(), server.signup()
    conv = create_direct(server, a, b)["id"]
    for i in range(25):
        post_message(server, a, conv, f"weekly report {i}")
    post_message(server, b, conv, "the report about the budget")
    long_text = ("filler words here " * 40) + "the budget is final" + (" and more text" * 40)
    post_message(server, b, conv, long_text)

    # The message with both words comes first.
    body = found(server, a, q="budget report", limit=2)
    assert texts(body)[0] == "the report about the budget"
    assert body["next_cursor"]
    # A long text's snippet is cut around the match, within the bound.
    body = found(server, a, q="final")
    assert texts(body) == [long_text]
    snippet = body["results"][0]["snippet"]
    assert len(snippet["text"]) <= 162 and snippet["text"].startswith("…")
    assert highlighted(snippet) == ["final"]

    # Pages of 10 through all 27 matches of "report" and "budget", no repeats.
    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": "report budget", "limit": 10}
        if cursor:
            params["cursor"] = cursor
        body = found(server, b, **params)
        seen += [hit["message"]["id"] for hit in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == 27 and len(set(seen)) == 27
    for hit in found(server, b, q="REPORT", limit=5)["results"]:
        assert highlighted(hit["snippet"]) == ["report"]


def test_filters(server):
    a, b, c = server.signup(), server.signup(), server.signup()
    group = create_group(server, a, [b, c])["id"]
    direct = create_direct(server, a, b)["id"]
    post_message(server, a, group, "launch plan from a")
    post_message(server, b, group, "launch plan from b")
    post_message(server, b, direct, "launch plan in private")

    assert sorted(texts(found(server, a, q="launch", conversation_id=direct))) == \
        ["launch plan in private"]
    assert sorted(texts(found(server, a, q="launch", sender_id=uid(b)))) == \
        ["launch plan from b", "launch plan in private"]
    now = datetime.datetime.now(datetime.timezone.utc)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
    hour = datetime.timedelta(hours=1)
    assert len(texts(found(server, a, q="launch", after=iso(now - hour),
                           before=iso(now + hour)))) == 3
    assert texts(found(server, a, q="launch", after=iso(now + hour))) == []
    assert texts(found(server, a, q="launch", before=iso(now - hour))) == []
    # A conversation the caller is not in answers 404, as everywhere.
    r = search(server, c, q="launch", conversation_id=direct)
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"


def test_edits_and_deletes_are_reflected(server):
    a, b = server.signup(), server.signup()
    conv = create_direct(server, a, b)["id"]
    m1 = post_message(server, a, conv, "an original sentence").json()["message"]
    m2 = post_message(server, a, conv, "a pineapple sentence").json()["message"]
    assert len(found(server, b, q="sentence")["results"]) == 2
    assert api(server, "PATCH", f"/api/messages/{m1['id']}", a, {"text": "rewritten"}).status == 200
    assert texts(found(server, b, q="original")) == []
    hit = found(server, b, q="rewritten")["results"][0]
    assert hit["message"]["edited_at"] is not None
    assert api(server, "DELETE", f"/api/messages/{m2['id']}", a).status == 204
    assert texts(found(server, b, q="pineapple sentence")) == []


def assert_invalid(server, session, field, **params):
    r = search(server, session, **params)
    assert r.status == 400, (params, r)
    err = r.json()["error"]
    assert err["code"] == "validation_failed" and err["field"] == field, (params, err)


def test_bad_input(server):
    a, b = server.signup(), server.signup()
    conv = create_direct(server, a, b)["id"]
    post_message(server, a, conv, "something to find")
    r = api(server, "GET", "/api/search/messages", a)
    assert r.status == 400 and r.json()["error"]["field"] == "q"
    assert_invalid(server, a, "q", q="x" * 257)
    assert_invalid(server, a, "q", q="é" * 257)
    assert_invalid(server, a, "q", q="  ?!.,;  — … ")
    assert_invalid(server, a, "q", q="")
    assert found(server, a, q="é" * 256)["results"] == []
    assert_invalid(server, a, "limit", q="find", limit=0)
    assert_invalid(server, a, "limit", q="find", limit=201)
    assert_invalid(server, a, "limit", q="find", limit="ten")
    assert_invalid(server, a, "cursor", q="find", cursor="garbage")
    assert_invalid(server, a, "cursor", q="find", cursor="s1.5000")
    assert_invalid(server, a, "conversation_id", q="find", conversation_id="not-an-id")
    assert_invalid(server, a, "sender_id", q="find", sender_id="{\"$gt\": \"\"}")
    assert_invalid(server, a, "before", q="find", before="yesterday")
    assert_invalid(server, a, "after", q="find", after="2026-13-01T00:00:00.000Z")
    assert_invalid(server, a, "after", q="find", after="2026-01-02T00:00:00.000Z",
                   before="2026-01-01T00:00:00.000Z")
    assert api(server, "GET", "/api/search/messages?q=find").status == 401
    # What was refused changed nothing: the message is still there to find.
    assert texts(found(server, a, q="find")) == ["something to find"]
