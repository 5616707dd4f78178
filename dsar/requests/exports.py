"""The answer of an access or portability request, kept sealed as it was produced at completion.

The requester's token reads this answer, never live data, for the answer's lifetime (a
setting, 30 days by default); then it answers 410 and ``tietotie retention run`` deletes it.

The bundle is JSON encrypted with AES-256-GCM, bound to its request by the associated data:

    s1.<keystore ciphertext>      under the subject's own key in the keystore, so erasing the
                                  subject (crypto-shredding) destroys every kept answer too
    k1.<base64url(nonce||ct)>     under a key derived from the keyring (``requests/export``),
                                  for a requester the system of record does not hold
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from dsar.requests.errors import AnswerGone
from dsar.requests.tables import RequestExport, RequestRow
from kernel.db import purge
from kernel.errors import SubjectErased, TokenError
from kernel.keystore import SubjectKeyStore

__all__ = ["Answers", "ExportBuilder", "ExportVault", "Fulfilment", "export_builder"]

_NONCE: Final = 12
_SUBJECT: Final = "s1."
_SERVICE: Final = "k1."

ExportBuilder = Callable[[Session, RequestRow], dict[str, Any]]
"""``(session, request) → {"bundle": …, "processing": …}``: the answer to keep at completion."""


class Fulfilment(Protocol):
    """What building an answer needs of :class:`dsar.fulfil.Fulfiller`."""

    def access(
        self, session: Session, subject_id: str | None, identity: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The Art. 15 bundle."""

    def portability(self, session: Session, subject_id: str | None) -> dict[str, Any]:
        """The Art. 20 bundle."""


def export_builder(fulfiller: Fulfilment) -> ExportBuilder:
    """The builder of answers over ``fulfiller``: the bundle, and the Art. 15(1) information
    the zip's README needs (for portability too)."""

    def build(session: Session, row: RequestRow) -> dict[str, Any]:
        access = fulfiller.access(session, row.subject_id, row.identity)
        if row.type == "access":
            return {"bundle": access, "processing": access["processing"]}
        return {
            "bundle": fulfiller.portability(session, row.subject_id),
            "processing": access["processing"],
        }

    return build


class ExportVault:
    """Seals and opens kept answers (see the module docstring for the two formats)."""

    def __init__(self, *, key: bytes, keystore: SubjectKeyStore | None = None) -> None:
        self._aead = AESGCM(key)
        self._keystore = keystore

    @staticmethod
    def _field(request_id: str) -> str:
        return f"dsar-export/{request_id}"

    def seal(self, *, request_id: str, subject_id: str | None, answer: Mapping[str, Any]) -> str:
        """``answer`` as JSON, encrypted for this request (under the subject's key if any)."""
        text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        if subject_id is not None and self._keystore is not None:
            try:
                return _SUBJECT + self._keystore.encrypt_field(
                    subject_id, self._field(request_id), text
                )
            except SubjectErased:
                pass  # erased before completion: nothing of theirs is left to protect by it
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(
            nonce, text.encode("utf-8", "surrogatepass"), self._field(request_id).encode()
        )
        return _SERVICE + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, *, request_id: str, subject_id: str | None, sealed: str) -> dict[str, Any]:
        """The answer; :class:`kernel.errors.SubjectErased` once the subject's key is gone."""
        if sealed.startswith(_SUBJECT) and subject_id is not None and self._keystore is not None:
            text = self._keystore.decrypt_field(
                subject_id, self._field(request_id), sealed[len(_SUBJECT) :]
            )
        elif sealed.startswith(_SERVICE):
            try:
                raw = base64.urlsafe_b64decode(sealed[len(_SERVICE) :])
                text = self._aead.decrypt(
                    raw[:_NONCE], raw[_NONCE:], self._field(request_id).encode()
                ).decode("utf-8", "surrogatepass")
            except (binascii.Error, InvalidTag, ValueError):
                raise TokenError(
                    "the kept answer does not authenticate", request_id=request_id
                ) from None
        else:
            raise TokenError("the kept answer is in no known format", request_id=request_id)
        answer: dict[str, Any] = json.loads(text)
        return answer


class Answers:
    """The answers of closed access and portability requests: kept sealed, served until they
    expire, then purged."""

    KINDS: Final = frozenset({"access", "portability"})
    """Request types answered with an export."""

    def __init__(
        self,
        *,
        vault: ExportVault,
        build: ExportBuilder | None,
        lifetime: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._vault, self._build = vault, build
        self.lifetime = lifetime
        self._clock = clock

    def build(self, session: Session, row: RequestRow) -> dict[str, Any] | None:
        """The answer the request would be given now: ``{"bundle": …, "processing": …}``;
        None for types without an export, or without a builder."""
        if self._build is None or row.type not in self.KINDS:
            return None
        return self._build(session, row)

    def keep(self, session: Session, row: RequestRow, answer: Mapping[str, Any] | None) -> None:
        """Seal ``answer`` (or the one built now) as the request's answer, at its closing."""
        kept = answer if answer is not None else self.build(session, row)
        if kept is None:
            return
        closed = row.closed_at or self._clock()
        session.merge(
            RequestExport(
                request_id=row.id,
                sealed=self._vault.seal(request_id=row.id, subject_id=row.subject_id, answer=kept),
                created_at=closed,
                expires_at=closed + self.lifetime,
            )
        )

    def of(self, session: Session, row: RequestRow) -> dict[str, Any]:
        """The answer kept at completion; :class:`AnswerGone` (410) when there is none any
        more: past its lifetime, or crypto-shredded with the subject's data."""
        kept = session.get(RequestExport, row.id)
        if kept is None:
            raise AnswerGone(
                "no answer is kept for this request; open a new request to receive your data",
                request_id=row.id,
            )
        if self._clock() >= kept.expires_at:
            raise AnswerGone(
                f"the answer to this request was kept until {kept.expires_at.date().isoformat()}"
                " and is no longer available; open a new request to receive your data as it "
                "is now",
                request_id=row.id,
            )
        try:
            return self._vault.open(
                request_id=row.id, subject_id=row.subject_id, sealed=kept.sealed
            )
        except SubjectErased:
            raise AnswerGone(
                "the answer was destroyed when the subject's data was erased (Art. 17)",
                request_id=row.id,
                article="Art. 17",
            ) from None

    def purge(self, session: Session, *, dry_run: bool = False) -> int:
        """Delete the answers past their lifetime; how many were (or would be) deleted."""
        return purge(
            session, RequestExport, RequestExport.expires_at <= self._clock(), dry_run=dry_run
        )
