"""Builds the service's parts from settings, once, for the app factory and the CLI alike."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from activation.unsubscribe import UnsubscribeLinks
from audit import AuditLog
from consent.receipts import ReceiptSigner
from dsar.desk import DeskSessions
from dsar.fulfil import Fulfiller
from dsar.limits import Limit, RateLimits
from dsar.requests import Notifier, OutboxNotifier, Requests, SmtpNotifier, export_builder
from dsar.requests.signin import SignIns
from dsar.web.mail import mail_composer
from records.external import ExternalSystems
from records.store import FieldCrypto, RecordStore, find_subject
from schemas.models import Strategy
from schemas.runtime import normalise, to_text
from tietotie.settings import Settings

__all__ = [
    "AUDIT_KEY_PURPOSE",
    "LIMITS_KEY_PURPOSE",
    "UNSUBSCRIBE_KEY_PURPOSE",
    "Services",
    "build_services",
]

AUDIT_KEY_PURPOSE = "audit-log"
"""The keyring derivation label of the audit log's HMAC key (always from key version 1)."""

UNSUBSCRIBE_KEY_PURPOSE = "activation/unsubscribe"
"""The label of the key that signs one-click unsubscribe links (RFC 8058)."""

LIMITS_KEY_PURPOSE = "rate-limits/hmac"
"""The label of the key that hashes identifiers before they become rate-limit counters."""


@dataclass(frozen=True)
class Services:
    """Everything a request handler or a command needs, wired once."""

    strategy: Strategy
    engine: Engine
    sessions: sessionmaker[Session]
    store: RecordStore
    crypto: FieldCrypto
    audit: AuditLog
    signer: ReceiptSigner
    requests: Requests
    fulfiller: Fulfiller
    limits: RateLimits
    links: UnsubscribeLinks
    signins: SignIns
    desk: DeskSessions


def _notifier(settings: Settings) -> Notifier:
    if not settings.smtp_host:
        return OutboxNotifier()
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpNotifier(
        settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_sender,
        username=settings.smtp_username,
        password=password,
    )


def _limits(settings: Settings, key: bytes) -> RateLimits:
    rules = {Limit(name): text for name, text in settings.rate_limits.model_dump().items()}
    return RateLimits(storage=settings.rate_limit_storage, rules=rules, key=key)


def build_services(
    settings: Settings,
    *,
    strategy: Strategy,
    engine: Engine,
    sessions: sessionmaker[Session],
    crypto: FieldCrypto,
) -> Services:
    """The request service, fulfiller, audit log and receipt signer over one store."""
    store = RecordStore(strategy, crypto=crypto)
    keyring = crypto.pseudonymiser.keyring
    audit = AuditLog(keyring.derive(AUDIT_KEY_PURPOSE, version=1))
    signer = ReceiptSigner(keyring)
    subject = strategy.index.subject_entity
    assert subject is not None  # a validated strategy has exactly one
    fields = strategy.system.entities[subject].fields
    region = store.models.region

    def canonical(key: str, value: str) -> str:
        spec = fields[key]
        return to_text(spec, normalise(spec, value, region=region))

    fulfiller = Fulfiller(strategy, store, ExternalSystems(strategy), signer=signer)
    limits = _limits(settings, keyring.derive(LIMITS_KEY_PURPOSE, version=1))
    requests = Requests(
        strategy,
        find_subject=lambda session, key, value: find_subject(session, store, {key: value}),
        notifier=_notifier(settings),
        audit=audit,
        normalise=canonical,
        limits=limits,
        keyring=keyring,
        keystore=crypto.keystore,
        exports=export_builder(fulfiller),
        token_lifetime=settings.requester_token_lifetime,
        answer_lifetime=settings.answer_lifetime,
        compose=mail_composer(settings.public_url, default=strategy.controller.language),
    )
    return Services(
        strategy=strategy,
        engine=engine,
        sessions=sessions,
        store=store,
        crypto=crypto,
        audit=audit,
        signer=signer,
        requests=requests,
        fulfiller=fulfiller,
        limits=limits,
        links=UnsubscribeLinks(
            keyring.derive(UNSUBSCRIBE_KEY_PURPOSE, version=1), base_url=settings.public_url
        ),
        signins=SignIns(requests, audit=audit),
        desk=DeskSessions(strategy, audit=audit),
    )
