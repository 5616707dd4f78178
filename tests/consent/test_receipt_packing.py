"""The ledger keeps receipts packed, and gives back the very JWS that was signed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from consent.receipt_packing import pack, unpack
from consent.receipts import ReceiptSigner, build_claims, verify_receipt
from consent.tables import ConsentEventRow, create_tables
from kernel.db import make_engine, session_factory, transaction
from kernel.keys import Keyring
from tests.consent.support import bundled
from tests.consent.test_receipts import FACTS

pytestmark = pytest.mark.consent

KEYRING = Keyring.ephemeral()
SIGNER = ReceiptSigner(KEYRING)


def _receipt(**changes: object) -> str:
    facts = dataclasses.replace(FACTS, **changes)  # type: ignore[arg-type]
    return SIGNER.sign(build_claims(bundled(), facts, public_key=SIGNER.public_key_b64()))


_texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)


@settings(max_examples=60, deadline=None)
@given(withdrawal=_texts, notice=_texts, evidence=_texts)
def test_any_signed_receipt_packs_smaller_and_unpacks_to_the_same_bytes(
    withdrawal: str, notice: str, evidence: str
) -> None:
    """Whatever the receipt says (NUL bytes, surrogate-free unicode, quotes, dots), the packed
    form is shorter than the JWS, and unpacking gives the signed JWS back; it still verifies
    against the controller's keyring."""
    jws = _receipt(withdrawal_method=withdrawal, notice=notice, evidence={"form": evidence})
    packed = pack(jws)
    assert packed.startswith("z1.") and len(packed) < len(jws)
    assert unpack(packed) == jws
    assert verify_receipt(unpack(packed), keyring=KEYRING).valid


def test_a_bundled_receipt_packs_to_about_a_third() -> None:
    """A real receipt of the bundled strategy: under 40 % of its JWS length."""
    jws = _receipt()
    assert len(pack(jws)) < 0.4 * len(jws)


@pytest.mark.parametrize(
    "stored",
    [
        "eyJhbGciOiJFZERTQSJ9.eyJhIjoxfQ.c2ln",  # a plain JWS of earlier rows, short signature
        "not a jws at all",
        "eyJhbGciOiJFZERTQSJ9.eyJhIjoxfQ=.c2ln",  # padded: not canonical base64url
        "a.b",
    ],
)
def test_what_packing_could_not_give_back_exactly_is_kept_as_it_is(stored: str) -> None:
    """A text that is not a canonical JWS with a 64-byte signature is stored unchanged, and a
    stored JWS (rows written before packing) reads back unchanged."""
    assert pack(stored) == stored
    assert unpack(stored) == stored


def test_a_damaged_packed_receipt_is_an_error_that_says_so() -> None:
    """Bytes cut off or flipped in a packed receipt: a clear error, never a wrong receipt."""
    packed = pack(_receipt())
    for damaged in (packed[:-10], packed[:40], packed[:-3] + "!!!"):
        with pytest.raises(ValueError, match="packed consent receipt in the ledger is damaged"):
            unpack(damaged)


def test_the_ledger_stores_the_packed_form_and_reads_back_the_signed_receipt(
    tmp_path: Path,
) -> None:
    """Through the table: the column holds ``z1.…``; the row read back carries the signed JWS,
    and a row holding a plain JWS (from before packing) reads back as it was."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    create_tables(engine)
    jws, old = _receipt(), _receipt(record_id="0190a1b2c3d4" + "f" * 20)
    at = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    common = {
        "subject_id": "5" * 32,
        "use": "accessibility-service",
        "state": "given",
        "event_time": at,
        "recorded_at": at,
        "controller_name": "Oy",
        "notice": "n",
        "language": "fi",
        "jurisdiction": "FI",
        "source": "service-desk",
        "channel": "point_of_sale",
        "method": "staff",
        "withdrawal_method": "w",
        "recorded_by": "r",
        "evidence": {},
        "key_version": 1,
    }
    with transaction(session_factory(engine)) as session:
        session.add(ConsentEventRow(id="a" * 32, receipt=jws, **common))
        session.add(ConsentEventRow(id="b" * 32, receipt="placeholder", **common))
    with engine.begin() as conn:  # what an earlier version wrote: the JWS itself
        conn.execute(text("DROP TRIGGER consent_event_no_update"))
        conn.execute(
            text("UPDATE consent_event SET receipt = :r WHERE id = :i"), {"r": old, "i": "b" * 32}
        )
        raw: dict[str, str] = dict(
            conn.execute(text("SELECT id, receipt FROM consent_event")).all()
        )
    assert raw["a" * 32].startswith("z1.") and len(raw["a" * 32]) < len(jws) / 2
    assert raw["b" * 32] == old
    with session_factory(engine)() as session:
        read = dict(session.execute(select(ConsentEventRow.id, ConsentEventRow.receipt)).all())
    assert read == {"a" * 32: jws, "b" * 32: old}
    engine.dispose()
