"""Provenance profiles: the ``{field: source}`` maps that repeat in millions of rows, kept once.

A row's compact provenance (:mod:`records.provenance`) lists the fields that came from another
source than the row's own, and most rows of an entity list the same few: every visit booked on
the web form names the same workshop and survey fields. Those bare-source entries are stored
once, as a *profile*, in ``record_provenance_profiles``, under a key made of their content; the
row keeps the key and its timed entries only:

    {"@": "hX3k9_aQ0bZr", "mileage_km": ["rectification", "2026-04-01T10:00:00+00:00"]}

The key is the first 9 bytes of the SHA-256 of the profile's canonical JSON (sorted keys, no
spaces, UTF-8), base64url without padding: 12 characters, the same in every database and
process, so profiles are immutable and two writers interning the same map write the same row.
A row keeps its inline form when the key would not make it shorter, and when the database
holds another profile under the same key (a 72-bit collision: practically never). ``"@"`` is
never a field name, so rows written inline, and those of earlier versions, read as before.

:class:`ProvenanceProfiles` turns compact maps into stored ones (``encode``, interning new
profiles in the caller's transaction) and back (``decode``). A batch costs one ``SELECT`` at
most for the keys not yet known, and when it makes new profiles one ``INSERT`` of them all (in
key order) and a ``SELECT`` checking what was stored. Profiles read from the database are
cached per engine (bounded, least recently used first out); a key is trusted as committed only
once a ``SELECT`` found it outside the transaction that inserted it, so a rolled-back insert
never leaves the cache claiming a profile that is not there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Transaction
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from kernel.errors import RecordError
from schemas.tables import new_metadata

__all__ = [
    "CACHE_SIZE",
    "PROFILE_KEY",
    "ProvenanceProfiles",
    "canonical",
    "profile_key",
    "profile_metadata",
    "profiles_table",
]

PROFILE_KEY: Final = "@"
"""The entry of a stored provenance map that names its profile (never a field name)."""
CACHE_SIZE: Final = 4096
"""Profiles kept in memory per engine."""
_CHUNK: Final = 500  # keys per IN (...) or per multi-row INSERT
_KEY_BYTES: Final = 9  # 72 bits: 12 base64url characters

_metadata = new_metadata()

profiles_table = Table(
    "record_provenance_profiles",
    _metadata,
    Column("key", String(16), primary_key=True, comment="profile_key() of the profile"),
    Column(
        "profile",
        Text,
        nullable=False,
        comment="canonical JSON {field: source} shared by the rows naming this key",
    ),
    comment="provenance maps repeated across rows of the system of record, kept once",
)
"""Content-addressed ``{field: source}`` maps that stored provenance names by key."""

Bind = Connection | Session


def profile_metadata() -> MetaData:
    """The MetaData of the profiles table (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return _metadata


def canonical(profile: Mapping[str, str]) -> str:
    """The one JSON text of ``profile``: sorted keys, no spaces, non-ASCII kept as it is."""
    return json.dumps(profile, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def profile_key(text: str) -> str:
    """The key of a profile's canonical JSON ``text``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()[:_KEY_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _size(stored: Mapping[str, Any]) -> int:
    return len(json.dumps(stored, separators=(",", ":"), ensure_ascii=False))


def _connection(bind: Bind) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class _Known:
    """Profiles found committed in one database: key → (canonical text, map), LRU-bounded."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[str, tuple[str, dict[str, str]]] = OrderedDict()

    def get(self, key: str) -> tuple[str, dict[str, str]] | None:
        hit = self.entries.get(key)
        if hit is not None:
            self.entries.move_to_end(key)
        return hit

    def put(self, key: str, text: str) -> tuple[str, dict[str, str]]:
        entry = self.entries[key] = (text, json.loads(text))
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return entry


_lock = threading.Lock()
_inserted: weakref.WeakKeyDictionary[Transaction, set[str]] = weakref.WeakKeyDictionary()
"""Keys each open transaction inserted (process-wide, whichever instance inserted them): a
SELECT in that transaction finds them before they are committed, and must not trust them."""


def _insert_ignoring(conn: Connection) -> Insert:
    """An INSERT into the profiles table that leaves a key already present alone."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(profiles_table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(profiles_table).on_conflict_do_nothing()
    if dialect in {"mysql", "mariadb"}:
        return profiles_table.insert().prefix_with("IGNORE")
    return profiles_table.insert()


class ProvenanceProfiles:
    """Stored provenance with its repeated ``{field: source}`` entries interned as profiles.

    One per :class:`records.store.RecordStore` (``store.profiles``); safe to share between
    threads. Every method takes the caller's connection or session and works in its
    transaction.
    """

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self.cache_size = cache_size
        self._known: weakref.WeakKeyDictionary[Engine, _Known] = weakref.WeakKeyDictionary()

    # writing ------------------------------------------------------------------------------

    def encode(self, bind: Bind, compact: Mapping[str, Any]) -> dict[str, Any]:
        """``compact`` (records.provenance) as stored: see :meth:`encode_many`."""
        return self.encode_many(bind, [compact])[0]

    def encode_many(self, bind: Bind, maps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Each compact provenance map as stored: its bare-source entries replaced by the key of
        their profile where that is shorter, its timed entries as they are.

        New profiles are inserted in the caller's transaction, several in one statement.
        Maps that hold no bare source, or gain nothing, cost no query.
        """
        out: list[dict[str, Any]] = []
        planned: list[tuple[int, str]] = []
        texts: dict[str, str] = {}
        clashing: set[str] = set()
        for i, compact in enumerate(maps):
            inline = dict(compact)
            out.append(inline)
            if PROFILE_KEY in inline:
                raise ValueError(f"{PROFILE_KEY!r} is not a field: decode stored provenance first")
            bare = {k: v for k, v in inline.items() if isinstance(v, str)}
            if not bare:
                continue
            text = canonical(bare)
            key = profile_key(text)
            stored = {PROFILE_KEY: key, **{k: v for k, v in inline.items() if k not in bare}}
            if _size(stored) >= _size(inline):
                continue
            if texts.setdefault(key, text) != text:
                clashing.add(key)
            out[i] = stored
            planned.append((i, key))
        if not planned:
            return out
        usable = self._intern(_connection(bind), texts) - clashing
        for i, key in planned:
            if key not in usable:
                out[i] = dict(maps[i])
        return out

    def _intern(self, conn: Connection, texts: Mapping[str, str]) -> set[str]:
        """The keys of ``texts`` whose profile the database holds with exactly that text once
        this returns: known, found, or inserted now."""
        known = self._cache(conn)
        usable: set[str] = set()
        unknown: list[str] = []
        with _lock:
            for key, text in texts.items():
                hit = known.get(key)
                if hit is None:
                    unknown.append(key)
                elif hit[0] == text:
                    usable.add(key)
        if not unknown:
            return usable
        found = self._select(conn, unknown)
        absent = sorted(k for k in unknown if k not in found)
        usable.update(k for k in unknown if found.get(k) == texts[k])
        if absent:
            insert = _insert_ignoring(conn)
            for chunk in _chunks(absent):
                conn.execute(insert.values([{"key": k, "profile": texts[k]} for k in chunk]))
            transaction = conn.get_transaction()
            if transaction is not None:
                with _lock:
                    _inserted.setdefault(transaction, set()).update(absent)
            # What is there now: ours, or another writer's that got in first (the same text,
            # unless the key collides, or not visible to this transaction yet: stay inline).
            again = self._select(conn, absent)
            usable.update(k for k in absent if again.get(k) == texts[k])
        return usable

    # reading ------------------------------------------------------------------------------

    def decode(self, bind: Bind, stored: Mapping[str, Any] | None) -> dict[str, Any]:
        """The compact provenance of one stored map: see :meth:`decode_many`."""
        return self.decode_many(bind, [stored])[0]

    def decode_many(
        self, bind: Bind, stored: Sequence[Mapping[str, Any] | None]
    ) -> list[dict[str, Any]]:
        """Each stored provenance map as compact provenance (records.provenance): a profile's
        entries in place of its key. Inline maps (and None) come back as they are (``{}``).

        One ``SELECT`` at most, for the keys not in the cache. Raises :class:`RecordError`
        when a row names a profile the database does not hold.
        """
        keys = {m[PROFILE_KEY] for m in stored if m and PROFILE_KEY in m}
        if not keys:
            return [dict(m or {}) for m in stored]
        profiles = self._profiles(_connection(bind), keys)
        out: list[dict[str, Any]] = []
        for m in stored:
            if not m or PROFILE_KEY not in m:
                out.append(dict(m or {}))
                continue
            compact: dict[str, Any] = dict(profiles[m[PROFILE_KEY]])
            compact.update((k, v) for k, v in m.items() if k != PROFILE_KEY)
            out.append(compact)
        return out

    def _profiles(self, conn: Connection, keys: set[str]) -> dict[str, dict[str, str]]:
        known = self._cache(conn)
        out: dict[str, dict[str, str]] = {}
        with _lock:
            for key in keys:
                hit = known.get(key)
                if hit is not None:
                    out[key] = hit[1]
        missing = sorted(keys - out.keys())
        if missing:
            found = self._select(conn, missing)
            for key in missing:
                if key not in found:
                    raise RecordError(
                        f"stored provenance names the profile {key!r}, which "
                        f"{profiles_table.name} does not hold: the database is damaged",
                        profile=key,
                    )
                out[key] = json.loads(found[key])
        return out

    def keys_mentioning(self, bind: Bind, source: str) -> list[str]:
        """The keys of the profiles in which some field came from ``source``."""
        # canonical JSON: every value is preceded by a colon and quoted, no field name is
        entry = ":" + json.dumps(source, ensure_ascii=False)
        stmt = (
            select(profiles_table.c.key)
            .where(profiles_table.c.profile.contains(entry, autoescape=True))
            .order_by(profiles_table.c.key)
        )
        return [str(k) for k in _connection(bind).execute(stmt).scalars()]

    # the cache ----------------------------------------------------------------------------

    def _cache(self, conn: Connection) -> _Known:
        engine = conn.engine
        with _lock:
            known = self._known.get(engine)
            if known is None:
                known = self._known[engine] = _Known(self.cache_size)
            return known

    def _select(self, conn: Connection, keys: Sequence[str]) -> dict[str, str]:
        """The stored text of each of ``keys`` the database holds; those committed go into the
        cache (not those this transaction inserted: a rollback would take them back)."""
        t = profiles_table
        found: dict[str, str] = {}
        for chunk in _chunks(keys):
            stmt = select(t.c.key, t.c.profile).where(t.c.key.in_(chunk))
            found.update((str(k), str(p)) for k, p in conn.execute(stmt))
        transaction = conn.get_transaction()
        known = self._cache(conn)
        with _lock:
            mine = _inserted.get(transaction, set()) if transaction is not None else set()
            for key in keys:
                text = found.get(key)
                if text is not None and key not in mine:
                    known.put(key, text)
        return found
