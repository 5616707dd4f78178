"""FastAPI dependencies: the database session, the strategy and store, and staff identity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from access_policy.service import Policy
from dsar.auth import Staff, authenticate
from dsar.auth import require_duty as _require_duty
from records.store import RecordStore
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = [
    "PolicyDep",
    "SessionDep",
    "StaffDep",
    "StoreDep",
    "StrategyDep",
    "get_policy",
    "get_session",
    "get_staff",
    "get_store",
    "get_strategy",
    "require_duty",
]


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request: rolled back on error, committed otherwise.

    Endpoints that write call ``session.commit()`` themselves before answering, so a success
    status always means the data is stored.
    """
    session: Session = request.app.state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_strategy(request: Request) -> Strategy:
    """The strategy the app was started with."""
    strategy: Strategy = request.app.state.strategy
    return strategy


def get_store(request: Request) -> RecordStore:
    """The system of record."""
    store: RecordStore = request.app.state.store
    return store


def get_policy(request: Request) -> Policy:
    """The compiled access policy."""
    policy: Policy = request.app.state.policy
    return policy


SessionDep = Annotated[Session, Depends(get_session)]
StrategyDep = Annotated[Strategy, Depends(get_strategy)]
StoreDep = Annotated[RecordStore, Depends(get_store)]
PolicyDep = Annotated[Policy, Depends(get_policy)]


def get_staff(
    session: SessionDep,
    strategy: StrategyDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Staff:
    """The staff member behind ``Authorization: Bearer <token>``; 401 otherwise."""
    return authenticate(session, strategy, authorization)


StaffDep = Annotated[Staff, Depends(get_staff)]


def require_duty(duty: Duty | str) -> Callable[..., Any]:
    """A dependency that gives the caller when its role has ``duty``, else 403."""
    wanted = Duty(duty)

    def dependency(staff: StaffDep) -> Staff:
        return _require_duty(staff, wanted)

    return dependency
