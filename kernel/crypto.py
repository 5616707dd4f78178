"""Pseudonymisation tokens per domain, and hashes of staff tokens and codes (DESIGN §7).

A *domain* is a kebab-case name (``reporting``, ``marketing-export``) for one place tokens
go to. Each domain has its own subkeys, HKDF-derived from a keyring data key version (see
:mod:`kernel.keys`), so tokens are deterministic within a domain and key version and
unlinkable across domains.

Token formats (ASCII, URL-safe, no padding, self-describing)::

    h1.<ver>.<tag>.<mac>   hmac token, one-way
    e1.<ver>.<tag>.<ct>    encrypt token, reversible through the keyring

    ver   the data key version, decimal (``1``, ``2``…)
    tag   4 characters: base64url of 3 bytes of HKDF(data key, "tietotie/v1/tag/<domain>").
          It names the domain without revealing it, so a token handed to the wrong domain is
          refused with a clear :class:`TokenError` instead of failing to match.
    mac   24 characters: base64url of the 18-byte keyed BLAKE2b of the value's UTF-8, keyed
          with HKDF(data key, "tietotie/v1/hmac/<domain>") (32 bytes). 144 bits: no collisions
          at any realistic number of values.
    ct    base64url of AES-256-SIV(HKDF(data key, "tietotie/v1/siv/<domain>", 64 bytes),
          value UTF-8, associated data "tietotie/e1/<domain>/<ver>"): 16-byte SIV then the
          ciphertext. Deterministic (the same value gives the same token, so tokens still
          join), authenticated (a changed character is refused), and bound to its domain and
          version. Like any deterministic encryption it shows equal values as equal and
          reveals the value's length.

Keyed BLAKE2b is a PRF by design (no HMAC construction needed) and, through a pre-keyed
state that is copied per value, about three times faster than ``hmac.digest`` with SHA-256
in CPython. Values are tokenised exactly as given: normalise first (e.g. casefold emails)
if ``A@x.fi`` and ``a@x.fi`` should be one person.

Secret hashes (:func:`hash_secret`) are for staff tokens and identity-verification codes;
their formats are ``sha256$<b64>`` and ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from kernel.errors import CryptoError, TokenError
from kernel.keys import Keyring

__all__ = [
    "Pseudonymiser",
    "TokenInfo",
    "TokenMode",
    "hash_code",
    "hash_secret",
    "new_secret_token",
    "new_verification_code",
    "parse_token",
    "validate_domain",
    "verify_code",
    "verify_secret",
]

_DOMAIN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_DOMAIN_MAX = 64
_CACHE_MAX = 1024
_MAC_BYTES: Final = 18  # a multiple of 3: base64 of concatenated macs splits evenly
_MAC_CHARS: Final = 24
_TAG_BYTES: Final = 3
_TOKEN = re.compile(r"([he]1)\.([1-9][0-9]{0,8})\.([A-Za-z0-9_-]{4})\.([A-Za-z0-9_-]+)")
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_SURROGATES = "surrogatepass"  # lone surrogates (legal in JSON) tokenise instead of crashing


class TokenMode(StrEnum):
    """How a field leaves the system of record: the ``protect`` values that make tokens."""

    HMAC = "hmac"
    """A one-way domain token (keyed PRF): joinable, never reversible."""
    ENCRYPT = "encrypt"
    """A reversible domain token (AES-SIV): re-identifiable through the audited path only."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a token says about itself, read without any key."""

    mode: TokenMode
    version: int
    tag: str


def validate_domain(domain: str) -> str:
    """Return ``domain`` if it is a kebab-case name of at most 64 characters, else raise."""
    if not isinstance(domain, str) or len(domain) > _DOMAIN_MAX or not _DOMAIN.fullmatch(domain):
        raise CryptoError(
            "a pseudonymisation domain is a kebab-case name such as 'reporting' or "
            f"'marketing-export' (at most {_DOMAIN_MAX} characters)",
            domain=str(domain)[:_DOMAIN_MAX],
        )
    return domain


def parse_token(token: str) -> TokenInfo:
    """The mode, key version and domain tag of ``token``; :class:`TokenError` if malformed."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise TokenError("not a tietotie token (expected h1.<ver>.<tag>.<mac> or e1.…)")
    kind, version, tag, _ = match.groups()
    mode = TokenMode.HMAC if kind == "h1" else TokenMode.ENCRYPT
    return TokenInfo(mode=mode, version=int(version), tag=tag)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url, refusing non-canonical spellings of the same bytes."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("token body is not base64url") from None
    if _b64(raw) != text:  # unused low bits set: another string for the same bytes
        raise TokenError("token body is not canonical base64url")
    return raw


def _as_sequence(values: Iterable[str]) -> Sequence[str]:
    if isinstance(values, str):
        raise CryptoError("pass a list of values to a batch method, not a single string")
    return values if isinstance(values, Sequence) else list(values)


def _encode_all(values: Sequence[str]) -> list[bytes]:
    try:
        return [value.encode() for value in values]
    except UnicodeEncodeError:
        return [value.encode("utf-8", _SURROGATES) for value in values]
    except AttributeError:
        bad = next(i for i, value in enumerate(values) if not isinstance(value, str))
        raise CryptoError(
            f"values to tokenise must be strings; item {bad} is a {type(values[bad]).__name__}",
            index=bad,
        ) from None


def _mac_digests(keys: _DomainKeys, values: Iterable[str]) -> bytes:
    """The 18-byte keyed BLAKE2b digests of ``values``, concatenated in order."""
    copy = keys.mac.copy
    digests: list[bytes] = []
    append = digests.append
    for data in _encode_all(_as_sequence(values)):
        state = copy()
        state.update(data)
        append(state.digest())
    return b"".join(digests)


@final
class _DomainKeys:
    """The subkeys of one (domain, key version), derived once and reused for every value."""

    __slots__ = ("ad", "enc_prefix", "hmac_prefix", "mac", "siv", "tag")

    def __init__(self, keyring: Keyring, domain: str, version: int) -> None:
        derive = keyring.derive
        self.tag = _b64(derive(f"tag/{domain}", version=version, length=_TAG_BYTES))
        mac_key = derive(f"hmac/{domain}", version=version)
        self.mac = hashlib.blake2b(key=mac_key, digest_size=_MAC_BYTES)
        self.siv = AESSIV(derive(f"siv/{domain}", version=version, length=64))
        self.ad = [f"tietotie/e1/{domain}/{version}".encode("ascii")]
        self.hmac_prefix = f"h1.{version}.{self.tag}."
        self.enc_prefix = f"e1.{version}.{self.tag}."

    def __repr__(self) -> str:
        return f"_DomainKeys(tag={self.tag!r})"


@final
class Pseudonymiser:
    """Makes and reverses domain tokens with a :class:`~kernel.keys.Keyring`.

    Tokens are made under the keyring's current version unless ``version=`` pins an older
    one (to keep producing tokens that join with an earlier export). Tokens of every version
    in the keyring are verified and re-identified. The batch methods (``*_many``) derive the
    domain keys once and are what bulk work should call.
    """

    __slots__ = ("_cache", "_keyring")

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._cache: dict[tuple[str, int], _DomainKeys] = {}

    @property
    def keyring(self) -> Keyring:
        """The keyring tokens are made with."""
        return self._keyring

    def _keys(self, domain: str, version: int | None) -> _DomainKeys:
        chosen = self._keyring.current_version if version is None else version
        keys = self._cache.get((domain, chosen))
        if keys is None:
            validate_domain(domain)
            if not self._keyring.has_version(chosen):
                raise TokenError(f"key version {chosen} is not in the keyring", version=chosen)
            if len(self._cache) >= _CACHE_MAX:  # domains may come from requests: stay bounded
                self._cache.clear()
            keys = self._cache[(domain, chosen)] = _DomainKeys(self._keyring, domain, chosen)
        return keys

    # hmac ---------------------------------------------------------------------------------

    def hmac(self, domain: str, value: str, *, version: int | None = None) -> str:
        """The one-way token of ``value`` in ``domain``."""
        return self.hmac_many(domain, (value,), version=version)[0]

    def hmac_many(
        self, domain: str, values: Iterable[str], *, version: int | None = None
    ) -> list[str]:
        """One-way tokens of ``values`` in ``domain``, in order. The fast path for bulk work."""
        keys = self._keys(domain, version)
        # 18-byte digests concatenate into base64 that splits every 24 characters.
        text = base64.urlsafe_b64encode(_mac_digests(keys, values)).decode("ascii")
        prefix = keys.hmac_prefix
        return [prefix + text[i : i + _MAC_CHARS] for i in range(0, len(text), _MAC_CHARS)]

    def hmac_packed(
        self, domain: str, values: Iterable[str], *, version: int | None = None
    ) -> tuple[bytes, int]:
        """The tokens :meth:`hmac_many` gives, as one ASCII buffer of equal-width tokens in
        order, and that width: for writers that take buffers (Arrow), with no Python string
        made a token."""
        keys = self._keys(domain, version)
        text = base64.urlsafe_b64encode(_mac_digests(keys, values))
        prefix = keys.hmac_prefix.encode("ascii")
        width = len(prefix) + _MAC_CHARS
        count = len(text) // _MAC_CHARS
        # Every token is the prefix then its 24 characters: lay the prefix down once for all,
        # then drop each character column of the base64 text into its place with a stride.
        packed = bytearray((prefix + bytes(_MAC_CHARS)) * count)
        for k in range(_MAC_CHARS):
            packed[len(prefix) + k :: width] = text[k::_MAC_CHARS]
        return bytes(packed), width

    def matches(self, domain: str, value: str, token: str) -> bool:
        """Whether ``token`` is ``value``'s token in ``domain`` (any version; constant-time).

        A malformed token or one from another domain raises :class:`TokenError`.
        """
        info = self._check(domain, token)
        if info.mode is TokenMode.HMAC:
            expected = self.hmac(domain, value, version=info.version)
            return hmac.compare_digest(expected.encode("ascii"), token.encode("ascii"))
        plain = self.reidentify(domain, token)
        return hmac.compare_digest(
            plain.encode("utf-8", _SURROGATES), value.encode("utf-8", _SURROGATES)
        )

    # encrypt ------------------------------------------------------------------------------

    def encrypt(self, domain: str, value: str, *, version: int | None = None) -> str:
        """The reversible token of ``value`` in ``domain``."""
        return self.encrypt_many(domain, (value,), version=version)[0]

    def encrypt_many(
        self, domain: str, values: Iterable[str], *, version: int | None = None
    ) -> list[str]:
        """Reversible tokens of ``values`` in ``domain``, in order."""
        keys = self._keys(domain, version)
        seal, ad, b2a = keys.siv.encrypt, keys.ad, binascii.b2a_base64
        sealed = [b2a(seal(data, ad), newline=False) for data in _encode_all(_as_sequence(values))]
        if not sealed:
            return []
        # One join, translate and split for the whole batch instead of several calls per value.
        # Neither the prefix nor base64 contains "\n", "=", "+" or "/".
        joined = (b"\n" + keys.enc_prefix.encode("ascii")).join(sealed)
        text = joined.translate(_URLSAFE).replace(b"=", b"").decode("ascii")
        return (keys.enc_prefix + text).split("\n")

    def tokenise_many(
        self, domain: str, values: Iterable[str], mode: TokenMode, *, version: int | None = None
    ) -> list[str]:
        """Tokens of ``values`` in ``domain`` made the way ``mode`` (or its name) says."""
        try:
            chosen = TokenMode(mode)
        except ValueError:
            raise CryptoError(f"unknown token mode {mode!r}; use hmac or encrypt") from None
        if chosen is TokenMode.HMAC:
            return self.hmac_many(domain, values, version=version)
        return self.encrypt_many(domain, values, version=version)

    # re-identification ----------------------------------------------------------------------

    def reidentify(self, domain: str, token: str) -> str:
        """The value behind the encrypt ``token`` of ``domain``.

        Raises :class:`TokenError` when the token is malformed, is a one-way hmac token, comes
        from another domain, names an unknown key version, or was changed in any character.
        This is the re-identification primitive: callers audit every use of it.
        """
        return self.reidentify_many(domain, (token,))[0]

    def reidentify_many(self, domain: str, tokens: Iterable[str]) -> list[str]:
        """The values behind encrypt ``tokens`` of ``domain``, in order (see :meth:`reidentify`)."""
        values = []
        for index, token in enumerate(_as_sequence(tokens)):
            try:
                info = self._check(domain, token)
                if info.mode is not TokenMode.ENCRYPT:
                    raise TokenError("an hmac token is one-way and cannot be re-identified")
                keys = self._keys(domain, info.version)
                body = _unb64(token[len(keys.enc_prefix) :])
                try:
                    data = keys.siv.decrypt(body, keys.ad)
                except (InvalidTag, ValueError):
                    raise TokenError(
                        "token does not authenticate: it was changed, or it was made for "
                        "another domain or under another master key"
                    ) from None
            except TokenError as exc:
                exc.context.setdefault("index", index)
                exc.context.setdefault("domain", domain)
                raise
            values.append(data.decode("utf-8", _SURROGATES))
        return values

    def _check(self, domain: str, token: str) -> TokenInfo:
        info = parse_token(token)
        keys = self._keys(domain, info.version)
        if not hmac.compare_digest(info.tag, keys.tag):
            raise TokenError(
                f"token belongs to another pseudonymisation domain, not {domain!r}",
                domain=domain,
            )
        if info.mode is TokenMode.HMAC and len(token) != len(keys.hmac_prefix) + _MAC_CHARS:
            raise TokenError("hmac token has the wrong length", domain=domain)
        return info

    def __repr__(self) -> str:
        return f"Pseudonymiser({self._keyring!r})"


# secrets ------------------------------------------------------------------------------------

_FAST_MIN_CHARS: Final = 20
_SCRYPT_LOG2_N: Final = 14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_SCRYPT_MAXMEM: Final = 64 * 1024 * 1024


def new_secret_token(nbytes: int = 32) -> str:
    """A random URL-safe token (256 bits by default) for staff bearer tokens."""
    return secrets.token_urlsafe(nbytes)


def new_verification_code(digits: int = 6) -> str:
    """A random numeric code for identity verification, zero-padded to ``digits``."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def hash_secret(secret: str, *, low_entropy: bool = False) -> str:
    """A storable hash of ``secret``; check it with :func:`verify_secret`.

    High-entropy secrets (staff tokens from :func:`new_secret_token`, at least 20 characters):
    unsalted SHA-256, ``sha256$<b64>``. With 256 random bits there is nothing to guess, so
    salting and key stretching add only cost, while a deterministic hash lets the service find
    a token's row by an index lookup on every request.

    Low-entropy secrets (``low_entropy=True``: verification codes, anything a person chose):
    salted scrypt (n=2^14, r=8, p=1, ~16 MiB), ``scrypt$14$8$1$<salt>$<hash>``. It slows
    offline guessing of a stolen table; against online guessing, codes still need expiry and
    an attempt limit. A short secret without ``low_entropy=True`` is refused rather than
    stored under a fast hash.
    """
    data = secret.encode("utf-8")
    if not low_entropy:
        if len(secret) < _FAST_MIN_CHARS:
            raise CryptoError(
                f"a secret shorter than {_FAST_MIN_CHARS} characters needs "
                "hash_secret(..., low_entropy=True)"
            )
        return "sha256$" + _b64(hashlib.sha256(data).digest())
    salt = secrets.token_bytes(16)
    digest = _scrypt(data, salt, _SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_LOG2_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (from :func:`hash_secret`), in constant time.

    A ``stored`` value in no known format raises :class:`CryptoError`: a damaged table is a
    fault to report, not a wrong password.
    """
    data = secret.encode("utf-8")
    parts = stored.split("$")
    try:
        if parts[0] == "sha256" and len(parts) == 2:
            expected = _unb64(parts[1])
            actual = hashlib.sha256(data).digest()
        elif parts[0] == "scrypt" and len(parts) == 6:
            log2_n, r, p = (int(x) for x in parts[1:4])
            if not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
                raise ValueError("scrypt parameters out of range")
            expected = _unb64(parts[5])
            actual = _scrypt(data, _unb64(parts[4]), log2_n, r, p)
        else:
            raise ValueError("unknown scheme")
    except (TokenError, ValueError):
        raise CryptoError("stored secret hash is not in a known format") from None
    return hmac.compare_digest(actual, expected)


def hash_code(key: bytes, owner: str, code: str) -> str:
    """A storable keyed hash of a one-time ``code`` issued for ``owner``: ``hmac$<b64>``.

    HMAC-SHA256 under ``key`` (from the keyring, never stored beside the codes) over the owner
    and the code. A stolen table of six-digit codes cannot be guessed offline without the key,
    which a salted slow hash only slows (a million candidates); and checking costs
    microseconds, where scrypt costs tens of milliseconds on every request and code entered.
    Online guessing is bounded by the codes' attempt limit and expiry, as before.
    """
    digest = hmac.new(key, f"{owner}\x00{code.strip()}".encode("utf-8", _SURROGATES), "sha256")
    return "hmac$" + _b64(digest.digest())


def verify_code(key: bytes, owner: str, code: str, stored: str) -> bool:
    """Whether ``code`` is the one hashed into ``stored``, in constant time.

    ``stored`` from :func:`hash_code`, or (a code issued before keyed hashes) from
    :func:`hash_secret` with ``low_entropy=True``.
    """
    if not stored.startswith("hmac$"):
        return verify_secret(code.strip(), stored)
    return hmac.compare_digest(hash_code(key, owner, code), stored)


def _scrypt(data: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(data, salt=salt, n=1 << log2_n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)
