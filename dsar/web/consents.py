"""The privacy center's consent pages (DESIGN §12): sign in by a code, see, give, withdraw.

Signing in is one identifier and a code sent to it (:class:`dsar.requests.signin.SignIns`):
the same answer for everyone, the code only to an identifier the system of record holds. The
signed-in browser holds ``tt_consents`` (``HttpOnly``, ``SameSite=Strict``, scoped to
``/privacy/consents``, ``Secure`` behind HTTPS) for half an hour or until sign-out.

Every consent-based use is listed in the strategy's words with its state, when and through
which notice it was given; giving and withdrawing are one button each (Art. 7(3)), recorded
through the strategy's ``privacy_center`` source with a signed receipt the customer can
download. A browser sending ``Sec-GPC: 1`` has every consent-based direct-marketing and
profiling use refused when it signs in, and cannot give those while it sends the signal, as
the JSON API does (:func:`consent.service.record_call`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from consent.models import CollectionMethod, RecordedState
from consent.receipts import ReceiptSigner, decode_claims
from consent.service import (
    GPC_KINDS,
    consent_uses,
    history,
    honour_gpc,
    record_consent,
    subject_consents,
)
from dsar.api.deps import SessionDep, StrategyDep
from dsar.requests.signin import SignInDelivery, SignIns
from dsar.web.notice import purpose_title
from dsar.web.render import SECURITY_HEADERS, page_context, page_language, render, wait_minutes
from kernel.errors import AuthError, NotFound, RateLimited, RequestError, TietotieError
from schemas.enums import SourceChannel
from schemas.models import Source, Strategy

__all__ = ["COOKIE", "privacy_center_source", "router"]

router = APIRouter(prefix="/privacy/consents", tags=["privacy center"], include_in_schema=False)

COOKIE: Final = "tt_consents"
_CHOICES: Final = {"given": RecordedState.GIVEN, "withdrawn": RecordedState.WITHDRAWN}


def privacy_center_source(strategy: Strategy) -> Source | None:
    """The source consent choices made here are recorded through (channel privacy_center)."""
    return next((s for s in strategy.sources if s.channel is SourceChannel.PRIVACY_CENTER), None)


def _signins(request: Request) -> SignIns:
    signins: SignIns = request.app.state.services.signins
    return signins


SignInsDep = Annotated[SignIns, Depends(_signins)]


def _language(request: Request, strategy: Strategy) -> str:
    return page_language(request, strategy.controller.language)


def _page(
    request: Request, strategy: Strategy, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return render(
        request,
        template,
        language=_language(request, strategy),
        status_code=status_code,
        **context,
        **page_context(request, strategy),
    )


def _gpc(request: Request) -> bool:
    return request.headers.get("sec-gpc", "").strip() == "1"


def _signed_in(request: Request, signins: SignIns, session: Session) -> tuple[str, str] | None:
    """``(sign-in id, subject id)`` when this browser is signed in, else None."""
    signin_id, _, token = request.cookies.get(COOKIE, "").partition(":")
    if not signin_id or not token:
        return None
    subject_id = signins.subject(session, signin_id, token)
    return (signin_id, subject_id) if subject_id is not None else None


def _sign_in_page(
    request: Request,
    strategy: Strategy,
    *,
    status_code: int = 200,
    problem: str | None = None,
    given: dict[str, str] | None = None,
    wait: int = 0,
) -> HTMLResponse:
    return _page(
        request,
        strategy,
        "consents_sign_in.html",
        status_code=status_code,
        problem=problem,
        given=given or {},
        wait=wait,
    )


def _uses_page(
    request: Request,
    strategy: Strategy,
    session: Session,
    subject_id: str,
    *,
    status_code: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    state = subject_consents(session, strategy, subject_id)
    events = {e.id: e for e in state.history}
    current = {c.use: c for c in state.current}
    rows = []
    for use in consent_uses(strategy):
        status = current.get(use.id)
        last = events.get(status.event_id) if status and status.event_id else None
        title = purpose_title(use)
        text = " ".join(use.description.split())
        if text.startswith(f"{title}:"):
            text = text[len(title) + 1 :].strip()
            text = text[:1].upper() + text[1:]
        rows.append(
            {
                "use": use,
                "title": title,
                "text": text,
                "explicit": use.special_category_condition is not None,
                "state": status.state.value if status and status.state else None,
                "since": status.since if status else None,
                "expires_at": status.expires_at if status else None,
                "notice": last.notice if last is not None else None,
                "gpc_blocks": _gpc(request) and use.kind in GPC_KINDS,
                "fields": [
                    strategy.index.fields[ref].shown_name(ref.split(".")[1])
                    for ref in use.fields
                    if ref in strategy.index.fields
                ],
            }
        )
    titles = {u.id: purpose_title(u) for u in strategy.uses}
    return _page(
        request,
        strategy,
        "consents.html",
        status_code=status_code,
        rows=rows,
        history=list(reversed(state.history)),
        titles=titles,
        gpc=_gpc(request),
        done=done,
        can_give=privacy_center_source(strategy) is not None,
    )


@router.get("", response_class=HTMLResponse)
def consents_page(
    request: Request, strategy: StrategyDep, signins: SignInsDep, session: SessionDep
) -> HTMLResponse:
    """Signed in: every consent purpose with its state; otherwise the sign-in form."""
    signed = _signed_in(request, signins, session)
    if signed is None:
        return _sign_in_page(request, strategy)
    done = request.query_params.get("done")
    return _uses_page(
        request, strategy, session, signed[1], done=done if done in _CHOICES else None
    )


def _after(sessions: sessionmaker[Session], signins: SignIns, delivery: SignInDelivery) -> None:
    """After the answer: the code to a customer's identifier (nothing to a stranger's)."""
    with sessions() as session:
        signins.deliver_code(session, delivery)
        session.commit()
    services = signins.requests
    with sessions() as session:
        services.send_outbox(session)


@router.post("", response_class=HTMLResponse)
def sign_in(
    request: Request,
    strategy: StrategyDep,
    signins: SignInsDep,
    session: SessionDep,
    background: BackgroundTasks,
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
) -> Response:
    """Start signing in: everyone is sent on to the same code page."""
    identifiers = page_context(request, strategy)["identifiers"]
    given = {
        k: v.strip()
        for k, v in {"email": email, "phone": phone}.items()
        if v.strip() and k in identifiers
    }
    if len(given) != 1:
        return _sign_in_page(request, strategy, status_code=422, problem="identifier", given=given)
    try:
        delivery = signins.open(
            session,
            identity=given,
            client=request.client.host if request.client else None,
            language=_language(request, strategy),
        )
    except RateLimited as exc:
        return _sign_in_page(
            request,
            strategy,
            status_code=429,
            problem="limited",
            given=given,
            wait=wait_minutes(exc.retry_after),
        )
    except RequestError:
        return _sign_in_page(request, strategy, status_code=422, problem="identifier", given=given)
    session.commit()
    background.add_task(_after, request.app.state.sessions, signins, delivery)
    return RedirectResponse(
        f"/privacy/consents/sign-in/{delivery.signin_id}?lang={_language(request, strategy)}",
        status_code=303,
    )


def _code_page(
    request: Request,
    strategy: Strategy,
    signin_id: str,
    *,
    status_code: int = 200,
    problem: str | None = None,
    left: int | None = None,
    wait: int = 0,
) -> HTMLResponse:
    return _page(
        request,
        strategy,
        "consents_code.html",
        status_code=status_code,
        signin_id=signin_id,
        problem=problem,
        left=left,
        wait=wait,
    )


@router.get("/sign-in/{signin_id}", response_class=HTMLResponse)
def code_form(request: Request, signin_id: str, strategy: StrategyDep) -> HTMLResponse:
    """Where the code is entered; the same page whoever started the sign-in."""
    return _code_page(request, strategy, signin_id)


@router.post("/sign-in/{signin_id}", response_class=HTMLResponse)
def enter_code(
    request: Request,
    signin_id: str,
    strategy: StrategyDep,
    signins: SignInsDep,
    session: SessionDep,
    code: Annotated[str, Form()] = "",
) -> Response:
    """Check the code; signed in, the browser gets its cookie and the consents page."""
    if not code.strip().isdigit():
        return _code_page(request, strategy, signin_id, status_code=422, problem="format")
    try:
        signed = signins.verify(session, signin_id, code=code)
    except RateLimited as exc:
        return _code_page(
            request,
            strategy,
            signin_id,
            status_code=429,
            problem="limited",
            wait=wait_minutes(exc.retry_after),
        )
    except (AuthError, NotFound) as exc:
        session.rollback()
        left = exc.context.get("left") if isinstance(exc, AuthError) else 0
        return _code_page(
            request,
            strategy,
            signin_id,
            status_code=422,
            problem="wrong",
            left=left if isinstance(left, int) else 0,
        )
    if signed.row.subject_id is not None and _gpc(request):
        _refuse_for_gpc(request, strategy, session, signed.row.subject_id, signin_id)
    session.commit()
    answer = RedirectResponse(
        f"/privacy/consents?lang={_language(request, strategy)}", status_code=303
    )
    expires = signed.row.expires_at
    answer.set_cookie(
        COOKIE,
        f"{signin_id}:{signed.token}",
        max_age=int((expires - signins.requests.now()).total_seconds()) if expires else None,
        path="/privacy/consents",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


def _signer(request: Request) -> ReceiptSigner:
    signer: ReceiptSigner = request.app.state.services.signer
    return signer


def _refuse_for_gpc(
    request: Request, strategy: Strategy, session: Session, subject_id: str, signin_id: str
) -> None:
    """The browser's ``Sec-GPC: 1`` at sign-in, honoured as the JSON API honours it."""
    source = privacy_center_source(strategy)
    if source is not None:
        honour_gpc(
            session,
            strategy,
            signer=_signer(request),
            subject_id=subject_id,
            source=source.id,
            evidence={"signin": signin_id},
            audit=request.app.state.audit,
        )


@router.post("/choice", response_class=HTMLResponse)
def choose(
    request: Request,
    strategy: StrategyDep,
    signins: SignInsDep,
    session: SessionDep,
    use: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
) -> Response:
    """Give or withdraw one consent: one click either way (Art. 7(3))."""
    signed = _signed_in(request, signins, session)
    if signed is None:
        return _sign_in_page(request, strategy, status_code=401, problem="expired")
    signin_id, subject_id = signed
    source = privacy_center_source(strategy)
    chosen = _CHOICES.get(state)
    spec = strategy.index.uses.get(use)
    if source is None or chosen is None or spec is None or spec not in consent_uses(strategy):
        return _uses_page(request, strategy, session, subject_id, status_code=422)
    if chosen is RecordedState.GIVEN and _gpc(request) and spec.kind in GPC_KINDS:
        return _uses_page(request, strategy, session, subject_id, status_code=409)
    try:
        record_consent(
            session,
            strategy,
            signer=_signer(request),
            subject_id=subject_id,
            use=spec.id,
            state=chosen,
            source=source.id,
            language=_language(request, strategy),
            evidence={"page": "/privacy/consents", "signin": signin_id},
            method=CollectionMethod.PRIVACY_CENTER,
            audit=request.app.state.audit,
        )
    except TietotieError:
        session.rollback()
        return _uses_page(request, strategy, session, subject_id, status_code=422)
    session.commit()
    return RedirectResponse(
        f"/privacy/consents?lang={_language(request, strategy)}&done={state}#use-{spec.id}",
        status_code=303,
    )


@router.get("/receipts/{event_id}")
def receipt(
    request: Request,
    event_id: str,
    strategy: StrategyDep,
    signins: SignInsDep,
    session: SessionDep,
) -> Response:
    """One event's signed receipt (the JWS and what it says), for the signed-in subject only."""
    signed = _signed_in(request, signins, session)
    if signed is None:
        return _sign_in_page(request, strategy, status_code=401, problem="expired")
    event = next((e for e in history(session, signed[1]) if e.id == event_id), None)
    if event is None:
        return _uses_page(request, strategy, session, signed[1], status_code=404)
    body = {"receipt": event.receipt, "claims": decode_claims(event.receipt)}
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="consent-receipt-{event_id}.json"',
        },
    )


@router.post("/sign-out", response_class=HTMLResponse)
def sign_out(
    request: Request, strategy: StrategyDep, signins: SignInsDep, session: SessionDep
) -> Response:
    """End the sign-in: the cookie is cleared and its token stops working at once."""
    signed = _signed_in(request, signins, session)
    if signed is not None:
        signins.end(session, signed[0])
        session.commit()
    answer = _sign_in_page(request, strategy, problem="signed_out")
    answer.delete_cookie(COOKIE, path="/privacy/consents")
    return answer
