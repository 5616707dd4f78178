"""What the service writes to a requester: the code, an extension, a refusal, the answer.

A :class:`Composer` turns a message kind and its values into a subject and a body in the
requester's language; the service's default (:func:`plain_english`) names the request and
needs no catalogues, while the privacy center wires one that writes in the page's language and
links to the request's page (``dsar.web.mail``). Messages never carry personal data beyond what
the requester gave: no names from the system of record, no answers; only codes and dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["Composer", "MessageKind", "plain_english"]


class MessageKind(StrEnum):
    """The messages a requester receives."""

    CODE = "code"
    EXTENDED = "extended"
    REJECTED = "rejected"
    COMPLETED = "completed"
    SIGN_IN = "sign_in"
    """The code that signs a customer in to manage their consents (no request behind it)."""


class Composer(Protocol):
    """``(kind, language, values) → (subject, body)``."""

    def __call__(
        self, kind: MessageKind, language: str | None, values: Mapping[str, Any]
    ) -> tuple[str, str]: ...


def plain_english(
    kind: MessageKind, language: str | None, values: Mapping[str, Any]
) -> tuple[str, str]:
    """The messages in English, naming the request by its reference."""
    name, ref = values["controller"], values["reference"]
    if kind is MessageKind.CODE:
        return (
            f"{name}: confirm your request {ref}",
            f"Your code is {values['code']}. It is valid for {values['minutes']} minutes. If you "
            f"did not ask {name} about your data, ignore this message.",
        )
    if kind is MessageKind.EXTENDED:
        return (
            f"{name}: more time for your request {ref}",
            f"We need more time to answer your request. {values['reason']} "
            f"We will answer by {values['due']}.",
        )
    if kind is MessageKind.REJECTED:
        return (
            f"{name}: your request {ref}",
            f"We cannot act on your request ({values['ground']}): {values['reason']} "
            "You may lodge a complaint with the supervisory authority and seek a "
            "judicial remedy (Art. 12(4) GDPR).",
        )
    if kind is MessageKind.SIGN_IN:
        return (
            f"{name}: your sign-in code",
            f"Your code is {values['code']}. Enter it to manage your consents. It is valid for "
            f"{values['minutes']} minutes. If you did not ask to sign in, ignore this message.",
        )
    return (
        f"{name}: your request {ref} is answered",
        "We have answered your request. Open the request's page to see what was done.",
    )
