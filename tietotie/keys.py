"""Open the master key, the keyring and the subject keystore the way the settings say."""

from __future__ import annotations

from pathlib import Path

from kernel.keys import Keyring, MasterKey, load_master_key
from kernel.keystore import SubjectKeyStore
from tietotie.settings import Settings

__all__ = ["keyring_path", "keystore_path", "master_key", "open_keyring", "open_keystore"]


def keyring_path(settings: Settings) -> Path:
    """Where the keyring of wrapped data keys lives: ``<var_dir>/keyring.json``."""
    return settings.var_dir / "keyring.json"


def keystore_path(settings: Settings) -> Path:
    """Where per-subject keys live: ``<var_dir>/keystore.db``, apart from the main database."""
    return settings.var_dir / "keystore.db"


def master_key(settings: Settings, *, create: bool = True) -> MasterKey:
    """The master key from ``TIETOTIE_MASTER_KEY`` or the key file.

    Outside development a missing or placeholder key refuses to start; in development a
    missing key file is created unless ``create=False``.
    """
    value = settings.master_key.get_secret_value() if settings.master_key is not None else None
    return load_master_key(
        value=value,
        key_file=settings.key_file,
        environment=str(settings.environment),
        create=create,
    )


def open_keyring(settings: Settings) -> Keyring:
    """The keyring at :func:`keyring_path`, unwrapped with :func:`master_key`.

    It never creates a master key: a keyring made under a key that is now missing needs that
    key back, not a new one.
    """
    return Keyring.load(keyring_path(settings), master_key(settings, create=False))


def open_keystore(settings: Settings, keyring: Keyring | None = None) -> SubjectKeyStore:
    """The subject keystore at :func:`keystore_path`."""
    return SubjectKeyStore(keystore_path(settings), keyring=keyring or open_keyring(settings))
