"""The requester's messages in their language, each linking to the request's page.

Wired into :class:`dsar.requests.Requests` as its composer: the words come from the privacy
center's catalogues, so a Finnish requester gets Finnish mail, and every message names the
request (its short reference) and links to ``/privacy/request/<id>`` where the code is entered
and the answer read; a consent sign-in's code links to ``/privacy/consents/sign-in/<id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsar.requests.messages import Composer, MessageKind
from dsar.web.i18n import LANGUAGES, translations
from dsar.web.notice import N_

__all__ = ["mail_composer"]

_SUBJECTS = {
    MessageKind.CODE: N_("%(controller)s: confirm your request %(reference)s"),
    MessageKind.EXTENDED: N_("%(controller)s: more time for your request %(reference)s"),
    MessageKind.REJECTED: N_("%(controller)s: your request %(reference)s"),
    MessageKind.COMPLETED: N_("%(controller)s: your request %(reference)s is answered"),
    MessageKind.SIGN_IN: N_("%(controller)s: your code to manage your consents"),
}
_BODIES = {
    MessageKind.CODE: N_(
        "Your code is %(code)s. Enter it on your request's page: %(link)s\n\n"
        "The code works for %(minutes)s minutes. If you did not ask %(controller)s about your "
        "data, ignore this message."
    ),
    MessageKind.EXTENDED: N_(
        "We need more time to answer your request %(reference)s: %(reason)s\n\n"
        "We will answer by %(due)s. Follow the request here: %(link)s"
    ),
    MessageKind.REJECTED: N_(
        "We cannot act on your request %(reference)s: %(reason)s\n\n"
        "You may complain to the data protection authority and seek a remedy in court "
        "(Art. 12(4) GDPR). The request's page: %(link)s"
    ),
    MessageKind.COMPLETED: N_(
        "We have answered your request %(reference)s. See what was done, and download your "
        "data where you asked for it, on the request's page: %(link)s"
    ),
    MessageKind.SIGN_IN: N_(
        "Your code is %(code)s. Enter it here to see and change your consents: %(link)s\n\n"
        "The code works for %(minutes)s minutes. If you did not ask to sign in, ignore this "
        "message."
    ),
}


def mail_composer(public_url: str, *, default: str) -> Composer:
    """A composer writing in the requester's language (else ``default``), linking to the page."""
    base = public_url.rstrip("/")

    def compose(
        kind: MessageKind, language: str | None, values: Mapping[str, Any]
    ) -> tuple[str, str]:
        chosen = language if language in LANGUAGES else default
        gettext = translations(chosen).gettext
        page = (
            f"consents/sign-in/{values['request_id']}"
            if kind is MessageKind.SIGN_IN
            else f"request/{values['request_id']}"
        )
        filled = {**values, "link": f"{base}/privacy/{page}?lang={chosen}"}
        return gettext(_SUBJECTS[kind]) % filled, gettext(_BODIES[kind]) % filled

    return compose
