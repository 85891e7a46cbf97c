"""A minimal $text for the test server, which mongomock lacks: an aggregate
pipeline whose first stage is {$match: {$text: {$search}, ...}} over a
collection with a text index. Real MongoDB's text search is the target and
this is only a stand-in for it: words are whole words after case and
diacritic folding (as a version-3 text index with language "none" folds them:
no stemming, no stop words), the terms of $search are ORed, and the score is
a simple one in MongoDB's spirit (per matched term 0.5 + 0.5 * its share of
the field's words, summed), so a document with more of the terms, or shorter,
scores higher. Phrases ("...") and negations (-word) are not implemented and
answer code 238. {$meta: "textScore"} is understood in $addFields, $set,
$project and $sort of the stages that follow. Runs under the server's lock."""
import re
import unicodedata

import mongomock

SCORE = "__parley_text_score"
_WORD = re.compile(r"[^\W_]+")


class TextError(Exception):
    def __init__(self, code, errmsg):
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg


def fold(s):
    """Case and diacritics folded: NFKD without combining marks, casefolded."""
    decomposed = unicodedata.normalize("NFKD", s)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(s):
    return _WORD.findall(fold(s)) if isinstance(s, str) else []


def _text_fields(coll):
    for index in coll._store.indexes.values():
        fields = [k for k, v in index["key"] if v == "text"]
        if fields:
            return fields
    raise TextError(27, "text index required for $text query")


def _score(doc, fields, terms):
    score = 0.0
    for f in fields:
        ws = words(doc.get(f))
        for t in terms:
            n = ws.count(t)
            if n:
                score += 0.5 + 0.5 * n / len(ws)
    return score


def _meta(value):
    return isinstance(value, dict) and value == {"$meta": "textScore"}


def _rewrite(stage):
    """The stage with {$meta: "textScore"} read from the hidden score field."""
    (op, spec), = stage.items()
    if op in ("$addFields", "$set", "$project") and isinstance(spec, dict):
        return {op: {k: ("$" + SCORE if _meta(v) else v) for k, v in spec.items()}}
    if op == "$sort" and isinstance(spec, dict):
        return {op: {(SCORE if _meta(v) else k): (-1 if _meta(v) else v)
                     for k, v in spec.items()}}
    return stage


def is_text_pipeline(pipeline):
    first = pipeline[0] if pipeline else None
    return isinstance(first, dict) and isinstance(first.get("$match"), dict) \
        and "$text" in first["$match"]


def aggregate(coll, pipeline):
    """Runs a pipeline that starts with a $text match; returns the documents."""
    match = dict(pipeline[0]["$match"])
    text = match.pop("$text")
    if not isinstance(text, dict) or not isinstance(text.get("$search"), str):
        raise TextError(2, "$text needs a $search string")
    search = text["$search"]
    if '"' in search or re.search(r"(^|\s)-", search):
        raise TextError(238, "phrases and negations in $text are not implemented here")
    if text.get("$caseSensitive") or text.get("$diacriticSensitive"):
        raise TextError(238, "case or diacritic sensitive $text is not implemented here")
    fields = _text_fields(coll)
    terms = set(words(search))
    scratch = mongomock.MongoClient().db.scratch
    for doc in coll.find(match):
        score = _score(doc, fields, terms)
        if score > 0:
            doc[SCORE] = score
            scratch.insert_one(doc)
    rest = [_rewrite(s) for s in pipeline[1:]]
    out = list(scratch.aggregate(rest)) if rest else list(scratch.find())
    for doc in out:
        doc.pop(SCORE, None)
    return out
