"""Domain tokens and secret hashes: known answers, properties, tampering and domains."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kernel.crypto import (
    Pseudonymiser,
    TokenMode,
    hash_secret,
    new_secret_token,
    new_verification_code,
    parse_token,
    verify_secret,
)
from kernel.errors import CryptoError, TokenError
from kernel.keys import Keyring, MasterKey

# Fixed keys: the known answers below are computed from these with the raw primitives.
MASTER = MasterKey(bytes(range(100, 132)), source="test")
DATA_KEY_1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
DATA_KEY_2 = hashlib.sha256(b"tietotie test data key 2").digest()
KEYRING = Keyring.from_keys(MASTER, {1: DATA_KEY_1})
PSEUDO = Pseudonymiser(KEYRING)
ROTATED = Pseudonymiser(Keyring.from_keys(MASTER, {1: DATA_KEY_1, 2: DATA_KEY_2}))

# Token work is sub-millisecond, but a loaded CI machine must not turn a pause into a failure.
_settings = settings(deadline=None)

domains = st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,12}){0,2}", fullmatch=True)
values = st.text(max_size=200)


def _hkdf(key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(key)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _expected_hmac(domain: str, value: str, key: bytes = DATA_KEY_1, version: int = 1) -> str:
    tag = _b64u(_hkdf(key, b"tietotie/v1/tag/" + domain.encode(), 3))
    mac_key = _hkdf(key, b"tietotie/v1/hmac/" + domain.encode(), 32)
    mac = hashlib.blake2b(value.encode(), key=mac_key, digest_size=18).digest()
    return f"h1.{version}.{tag}.{_b64u(mac)}"


def _expected_encrypt(domain: str, value: str, key: bytes = DATA_KEY_1, version: int = 1) -> str:
    tag = _b64u(_hkdf(key, b"tietotie/v1/tag/" + domain.encode(), 3))
    siv = AESSIV(_hkdf(key, b"tietotie/v1/siv/" + domain.encode(), 64))
    sealed = siv.encrypt(value.encode(), [f"tietotie/e1/{domain}/{version}".encode()])
    return f"e1.{version}.{tag}.{_b64u(sealed)}"


# known answers --------------------------------------------------------------------------------


def test_hmac_token_is_keyed_blake2b_of_the_hkdf_domain_key() -> None:
    """An hmac token is exactly the documented construction over the fixed data key."""
    for domain in ("reporting", "marketing-export"):
        for value in ("anna.virtanen@example.fi", "", "Äänekoski 🚗"):
            assert PSEUDO.hmac(domain, value) == _expected_hmac(domain, value)


def test_encrypt_token_is_aes_siv_with_the_domain_as_associated_data() -> None:
    """An encrypt token is exactly AES-SIV under the HKDF domain key, domain and version as AD."""
    for domain in ("reporting", "marketing-export"):
        for value in ("anna.virtanen@example.fi", "", "ABC-123"):
            assert PSEUDO.encrypt(domain, value) == _expected_encrypt(domain, value)


def test_token_formats_are_pinned_so_old_exports_keep_joining() -> None:
    """The fixed key gives these exact tokens in every release (a format change breaks joins)."""
    value = "anna.virtanen@example.fi"
    assert PSEUDO.hmac("reporting", value) == "h1.1.rMs5.rhS0Tv_WcRXIsGRbR3EOB7XF"
    assert PSEUDO.hmac("marketing-export", value) == "h1.1.z-CX.HIOkwQNshhv8MFDf-P2PSk9F"
    assert (
        PSEUDO.encrypt("reporting", value)
        == "e1.1.rMs5.PhizEwHlfCX65yjxPpEHrYXiDs3PewWJhS7mL4iGRfPtcgPyhpZX3g"
    )


def test_tokens_carry_their_key_version_and_domain_tag() -> None:
    """parse_token reads the mode, version and tag without any key."""
    info = parse_token(ROTATED.encrypt("reporting", "x"))
    assert (info.mode, info.version) == (TokenMode.ENCRYPT, 2)
    assert info.tag == _b64u(_hkdf(DATA_KEY_2, b"tietotie/v1/tag/reporting", 3))


# properties -----------------------------------------------------------------------------------


@_settings
@given(domain=domains, value=values)
def test_tokens_are_deterministic_within_a_domain(domain: str, value: str) -> None:
    """The same value in the same domain and key version always gives the same token."""
    assert PSEUDO.hmac(domain, value) == PSEUDO.hmac(domain, value)
    assert PSEUDO.encrypt(domain, value) == PSEUDO.encrypt(domain, value)
    assert PSEUDO.hmac_many(domain, [value, value]) == [PSEUDO.hmac(domain, value)] * 2


@_settings
@given(domain=domains, batch=st.lists(values, max_size=50))
def test_batch_tokens_equal_one_by_one_tokens(domain: str, batch: list[str]) -> None:
    """hmac_many and encrypt_many give, in order, what the single-value calls give."""
    assert PSEUDO.hmac_many(domain, batch) == [PSEUDO.hmac(domain, v) for v in batch]
    assert PSEUDO.encrypt_many(domain, iter(batch)) == [PSEUDO.encrypt(domain, v) for v in batch]


@_settings
@given(domain=domains, batch=st.lists(values, max_size=50), version=st.sampled_from([1, 2]))
def test_packed_hmac_tokens_are_the_batch_tokens_end_to_end(
    domain: str, batch: list[str], version: int
) -> None:
    """hmac_packed lays down, at one width, exactly the tokens hmac_many gives, in order."""
    packed, width = ROTATED.hmac_packed(domain, batch, version=version)
    tokens = ROTATED.hmac_many(domain, batch, version=version)
    assert all(len(token) == width for token in tokens)
    assert packed == "".join(tokens).encode("ascii")


@_settings
@given(first=domains, second=domains, value=values)
def test_tokens_of_one_value_are_unlinkable_across_domains(
    first: str, second: str, value: str
) -> None:
    """Two domains give unrelated tokens for one value, and refuse each other's tokens."""
    assume(first != second)
    h1, h2 = PSEUDO.hmac(first, value), PSEUDO.hmac(second, value)
    assert h1.rsplit(".", 1)[1] != h2.rsplit(".", 1)[1]
    with pytest.raises(TokenError):
        PSEUDO.reidentify(second, PSEUDO.encrypt(first, value))
    with pytest.raises(TokenError, match="another pseudonymisation domain"):
        PSEUDO.matches(second, value, h1)


@_settings
@given(domain=domains, value=values)
def test_encrypt_tokens_reidentify_to_the_value(domain: str, value: str) -> None:
    """reidentify gives back exactly the value an encrypt token was made from."""
    assert PSEUDO.reidentify(domain, PSEUDO.encrypt(domain, value)) == value


@_settings
@given(domain=domains, value=values)
def test_rotation_keeps_old_tokens_readable(domain: str, value: str) -> None:
    """After rotation new tokens use version 2, and version-1 tokens still verify and reverse."""
    old_h, old_e = PSEUDO.hmac(domain, value), PSEUDO.encrypt(domain, value)
    new_h = ROTATED.hmac(domain, value)
    assert parse_token(new_h).version == 2
    assert new_h != old_h
    assert ROTATED.reidentify(domain, old_e) == value
    assert ROTATED.matches(domain, value, old_h)
    assert ROTATED.hmac(domain, value, version=1) == old_h


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.h1e2"


@_settings
@given(value=values, data=st.data())
def test_a_changed_character_in_an_encrypt_token_is_refused(
    value: str, data: st.DataObject
) -> None:
    """Any single-character change to an encrypt token raises TokenError, never a value."""
    token = PSEUDO.encrypt("reporting", value)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(_ALPHABET).filter(lambda c: c != token[position]))
    tampered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(TokenError):
        PSEUDO.reidentify("reporting", tampered)


@_settings
@given(value=values, data=st.data())
def test_a_changed_hmac_token_never_matches(value: str, data: st.DataObject) -> None:
    """A single-character change to an hmac token is refused or does not match the value."""
    token = PSEUDO.hmac("reporting", value)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(_ALPHABET).filter(lambda c: c != token[position]))
    tampered = token[:position] + replacement + token[position + 1 :]
    with contextlib.suppress(TokenError):
        assert not PSEUDO.matches("reporting", value, tampered)


# refusals -------------------------------------------------------------------------------------


def test_an_hmac_token_cannot_be_reidentified() -> None:
    """hmac tokens are one-way: asking to reverse one is a TokenError."""
    with pytest.raises(TokenError, match="one-way"):
        PSEUDO.reidentify("reporting", PSEUDO.hmac("reporting", "x"))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hello",
        "e1.1.rMs5",
        "e2.1.rMs5.AAAA",
        "e1.01.rMs5.AAAA",
        "e1.1.rMs5.AA=A",
        "e1.1.rM.AAA",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    """Strings that are not tokens raise TokenError."""
    with pytest.raises(TokenError):
        PSEUDO.reidentify("reporting", token)


def test_a_token_of_an_unknown_key_version_is_refused() -> None:
    """A token naming a version the keyring does not hold is a TokenError."""
    with pytest.raises(TokenError, match="version 2"):
        PSEUDO.reidentify("reporting", ROTATED.encrypt("reporting", "x"))


def test_a_failing_token_in_a_batch_is_named_by_its_position() -> None:
    """reidentify_many says which token failed, without quoting it."""
    good = PSEUDO.encrypt("reporting", "a")
    bad = PSEUDO.encrypt("marketing-export", "b")
    with pytest.raises(TokenError) as caught:
        PSEUDO.reidentify_many("reporting", [good, good, bad])
    assert caught.value.context["index"] == 2
    assert bad not in str(caught.value.to_dict())


def test_lone_surrogates_from_json_round_trip_instead_of_crashing() -> None:
    """A value holding a lone surrogate (legal in JSON) is tokenised and reversed."""
    value = "broken \ud800 text"
    assert PSEUDO.reidentify("reporting", PSEUDO.encrypt("reporting", value)) == value
    assert PSEUDO.hmac_many("reporting", [value, "ok"])[1] == PSEUDO.hmac("reporting", "ok")
    assert PSEUDO.hmac_packed("reporting", [value])[0].decode() == PSEUDO.hmac("reporting", value)


@pytest.mark.parametrize("domain", ["Reporting", "marketing_export", "-x", "a--b", "", "a" * 65])
def test_domains_must_be_kebab_case(domain: str) -> None:
    """A domain that is not a kebab-case name is refused."""
    with pytest.raises(CryptoError, match="kebab-case"):
        PSEUDO.hmac(domain, "x")


def test_a_mode_given_by_name_is_honoured_and_an_unknown_one_refused() -> None:
    """tokenise_many("…", mode="hmac") makes one-way tokens, never reversible ones by accident."""
    assert PSEUDO.tokenise_many("reporting", ["a"], "hmac") == [PSEUDO.hmac("reporting", "a")]  # type: ignore[arg-type]
    assert PSEUDO.tokenise_many("reporting", ["a"], TokenMode.ENCRYPT) == [
        PSEUDO.encrypt("reporting", "a")
    ]
    with pytest.raises(CryptoError, match="unknown token mode"):
        PSEUDO.tokenise_many("reporting", ["a"], "rot13")  # type: ignore[arg-type]


def test_an_empty_batch_gives_no_tokens() -> None:
    """Batch methods accept an empty batch."""
    assert PSEUDO.hmac_many("reporting", []) == []
    assert PSEUDO.hmac_packed("reporting", [])[0] == b""
    assert PSEUDO.encrypt_many("reporting", []) == []
    assert PSEUDO.reidentify_many("reporting", []) == []


def test_a_single_string_is_not_taken_for_a_batch() -> None:
    """hmac_many("domain", "text") is refused rather than tokenising each character."""
    with pytest.raises(CryptoError, match="not a single string"):
        PSEUDO.hmac_many("reporting", "anna")


def test_non_string_values_are_refused_with_their_position() -> None:
    """A batch holding a non-string names the item instead of crashing."""
    with pytest.raises(CryptoError, match="item 1 is a int"):
        PSEUDO.hmac_many("reporting", ["a", 5])  # type: ignore[list-item]


def test_nothing_secret_shows_in_repr() -> None:
    """The pseudonymiser's repr names the keyring but no key bytes."""
    text = repr(PSEUDO) + repr(KEYRING) + repr(MASTER)
    for secret in (DATA_KEY_1, bytes(range(100, 132))):
        assert secret.hex() not in text
        assert base64.b64encode(secret).decode() not in text


# secrets --------------------------------------------------------------------------------------


def test_staff_tokens_hash_to_sha256_and_verify() -> None:
    """A high-entropy token is stored as its SHA-256 and verifies; another token does not."""
    token = new_secret_token()
    stored = hash_secret(token)
    assert stored == "sha256$" + _b64u(hashlib.sha256(token.encode()).digest())
    assert verify_secret(token, stored)
    assert not verify_secret(new_secret_token(), stored)


def test_codes_hash_with_salted_scrypt() -> None:
    """A verification code is stored under salted scrypt that the raw primitive reproduces."""
    code = new_verification_code()
    assert len(code) == 6 and code.isdigit()
    stored = hash_secret(code, low_entropy=True)
    scheme, log2_n, r, p, salt, digest = stored.split("$")
    assert scheme == "scrypt"
    salt_bytes = base64.urlsafe_b64decode(salt + "==")
    expected = hashlib.scrypt(
        code.encode(), salt=salt_bytes, n=1 << int(log2_n), r=int(r), p=int(p), dklen=32
    )
    assert digest == _b64u(expected)
    assert verify_secret(code, stored)
    assert not verify_secret("000000" if code != "000000" else "111111", stored)
    assert hash_secret(code, low_entropy=True) != stored  # a fresh salt each time


def test_a_short_secret_is_refused_a_fast_hash() -> None:
    """A code under the fast hash would be guessable, so it is refused."""
    with pytest.raises(CryptoError, match="low_entropy=True"):
        hash_secret("123456")


def test_a_damaged_stored_hash_is_an_error_not_a_mismatch() -> None:
    """verify_secret reports a stored value in no known format."""
    with pytest.raises(CryptoError, match="not in a known format"):
        verify_secret("x", "md5$abc")


def test_a_code_hash_is_keyed_bound_to_its_owner_and_reads_old_scrypt_hashes() -> None:
    """A code's stored hash needs the key to check (a stolen table cannot be brute-forced
    offline), differs for the same code of another request, and codes stored before keyed
    hashes (salted scrypt) still verify."""
    from kernel.crypto import hash_code, verify_code

    key, other_key = b"k" * 32, b"o" * 32
    stored = hash_code(key, "request-1", "123456")
    assert stored.startswith("hmac$")
    assert verify_code(key, "request-1", " 123456 ", stored)
    assert not verify_code(key, "request-1", "123457", stored)
    assert not verify_code(other_key, "request-1", "123456", stored)
    assert not verify_code(key, "request-2", "123456", stored)
    assert hash_code(key, "request-2", "123456") != stored
    old = hash_secret("654321", low_entropy=True)
    assert verify_code(key, "request-1", "654321", old)
    assert not verify_code(key, "request-1", "654320", old)
