"""Where each stored value came from, kept at the cost of only what differs from its row.

Every row of the system of record names the source that first wrote it and when
(``source``, ``collected_at``). Most of a row's values were written by that source at that
moment, so the ``provenance`` column keeps only the exceptions:

    {field: source}               the field came from another source, at the row's own time
    {field: [source, timestamp]}  the field came at another time (a merge, a rectification)

A field that holds a value and is not listed came from the row's own source at the row's own
time. :func:`expand` gives every reader the full ``{field: [source, timestamp]}`` map again
(Art. 15(1)(g): where each value came from, per field), and it reads rows written in the full
form by earlier versions the same way, since a full map is a valid compact one that lists every
field; ``tietotie db upgrade`` rewrites such rows compactly (:func:`compact`).

The bare-source entries that many rows share are stored once more compactly still, as a
profile named by key (:mod:`records.provenance_profiles`); readers decode a row's stored map
back to this compact form before :func:`expand`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["compact", "expand", "stamp_of"]


def _iso(at: datetime) -> str:
    return at.isoformat()


def stamp_of(value: Any, source: str, at: str) -> list[str]:
    """One stored entry as ``[source, timestamp]`` (a bare source takes the row's time)."""
    if isinstance(value, str):
        return [value, at]
    return [str(value[0]), str(value[1])]


def compact(
    provenance: Mapping[str, Sequence[str] | str], source: str, collected_at: datetime
) -> dict[str, Any]:
    """``provenance`` (full or compact) as stored: entries equal to the row's stamp left out,
    those differing only in source kept as the bare source."""
    at = _iso(collected_at)
    out: dict[str, Any] = {}
    for name, value in provenance.items():
        src, when = stamp_of(value, source, at)
        if when != at:
            out[name] = [src, when]
        elif src != source:
            out[name] = src
    return out


def expand(
    stored: Mapping[str, Any] | None,
    source: str,
    collected_at: datetime,
    present: Iterable[str],
) -> dict[str, list[str]]:
    """The full ``{field: [source, timestamp]}`` of a row: its stored exceptions, and the row's
    own stamp for every field in ``present`` (those holding a value) that has none."""
    at = _iso(collected_at)
    out = {name: stamp_of(value, source, at) for name, value in (stored or {}).items()}
    for name in present:
        if name not in out:
            out[name] = [source, at]
    return out
