"""One-click unsubscribe (RFC 8058, Art. 21(3)): signed links, objection at once, idempotent."""

from __future__ import annotations

import pytest

from activation.unsubscribe import LIST_UNSUBSCRIBE_POST, UnsubscribeLinks, unsubscribe
from kernel.errors import TokenError
from records.restrictions import FlagKind, active_flags
from tests.activation.test_activation import CAMPAIGN, World, consent, customer, world

__all__ = ["world"]

KEY = bytes(range(32))


def test_a_link_names_its_activation_and_subject_and_nothing_else_reads_it() -> None:
    """The token round-trips; a changed byte or another key's token is refused."""
    links = UnsubscribeLinks(KEY, base_url="https://privacy.example.fi/")
    token = links.token(CAMPAIGN, "3f2a")
    assert links.read(token).activation == CAMPAIGN and links.read(token).subject_id == "3f2a"
    assert links.url(CAMPAIGN, "3f2a") == f"https://privacy.example.fi/privacy/unsubscribe/{token}"
    head, _, mac = token.split(".")
    forged = links.token(CAMPAIGN, "9999").split(".")[1]
    for bad in (f"{head}.{forged}.{mac}", token[:-2], "u1.x", "", f"{token}.x"):
        with pytest.raises(TokenError):
            links.read(bad)
    with pytest.raises(TokenError):
        UnsubscribeLinks(bytes(32)).read(token)


def test_recorded_sends_carry_each_recipients_link_and_headers(world: World) -> None:
    """Every exported row has its own link and the List-Unsubscribe headers."""
    links = UnsubscribeLinks(KEY, base_url="https://privacy.example.fi")
    sid = customer(world, "unsub.one@example.fi")
    consent(world, sid)
    with world.session() as session:
        from access_policy import compile_policy
        from activation.audiences import audience

        run = audience(
            session,
            world.store,
            compile_policy(world.store.strategy),
            CAMPAIGN,
            role="marketing",
            record_sends=True,
            links=links,
        )
        rows = list(run.rows(session))
    assert [r["subject_id"] for r in rows] == [sid]
    assert run.columns[-3:] == ["unsubscribe_url", "list_unsubscribe", "list_unsubscribe_post"]
    row = rows[0]
    assert links.read(row["unsubscribe_url"].rsplit("/", 1)[1]).subject_id == sid
    assert row["list_unsubscribe"] == f"<{row['unsubscribe_url']}>"
    assert row["list_unsubscribe_post"] == LIST_UNSUBSCRIBE_POST


def test_following_the_link_excludes_the_person_from_the_next_audience(world: World) -> None:
    """After unsubscribing, the same campaign leaves the person out as objecting."""
    links = UnsubscribeLinks(KEY)
    stays, leaves = customer(world, "stays@example.fi"), customer(world, "leaves@example.fi")
    consent(world, stays)
    consent(world, leaves)
    assert world.ids() == {stays, leaves}
    with world.session() as session:
        outcome = unsubscribe(
            session,
            world.store.strategy,
            links.read(links.token(CAMPAIGN, leaves)),
            audit=world.audit,
        )
    assert outcome.scope == "direct_marketing" and not outcome.already
    assert world.ids() == {stays}
    assert world.run().counts.excluded["objected"] == 1


def test_unsubscribing_twice_records_one_objection(world: World) -> None:
    """A mail client retrying the POST changes nothing the second time."""
    links = UnsubscribeLinks(KEY)
    sid = customer(world, "twice@example.fi")
    link = links.read(links.token(CAMPAIGN, sid))
    with world.session() as session:
        unsubscribe(session, world.store.strategy, link)
    with world.session() as session:
        again = unsubscribe(session, world.store.strategy, link)
        flags = [f for f in active_flags(session, sid) if f.kind == FlagKind.OBJECTION]
    assert again.already and len(flags) == 1
