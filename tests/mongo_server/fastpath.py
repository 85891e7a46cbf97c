"""Lookup by _id for the test server: mongomock scans every document for
every filter; a filter that is only {_id: <value>} is answered from the
store's dict instead (findAndModify on counters, updates by _id).
Patched into mongomock once at start; runs under the server's lock."""
import re

from bson.regex import Regex
from mongomock import collection as mm_collection
from mongomock.filtering import filter_applies

import uniques

_scan = mm_collection.Collection._iter_documents


def _iter_documents(self, filter):
    if isinstance(filter, dict) and len(filter) == 1 and "_id" in filter:
        v = filter["_id"]
        if not isinstance(v, (dict, list, Regex, re.Pattern)):
            store = self._store
            key = uniques._id_key(v)
            try:
                doc = store[key] if key in store else None
            except TypeError:  # unhashable value: let mongomock scan
                return _scan(self, filter)
            return iter([doc] if doc is not None and filter_applies(filter, doc) else [])
    return _scan(self, filter)


def install():
    mm_collection.Collection._iter_documents = _iter_documents
