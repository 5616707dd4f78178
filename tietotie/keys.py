"""Open the master key, the keyring and the subject keystore the way the settings say.

Everything here lives in ``var_dir`` (``var/``), which is kept readable by its owner only: it
is created 0700, and an existing one that group or others can open is tightened to 0700 with a
warning, as are a keyring or keystore file found readable by others (to 0600). A master key file
readable by others is refused instead (:func:`kernel.keys.load_master_key`): its key may
already have leaked, so the operator decides.
"""

from __future__ import annotations

from pathlib import Path

from kernel.errors import KeyConfigError
from kernel.files import describe_os_error, private_directory, private_file, private_sqlite_file
from kernel.keys import Keyring, MasterKey, load_master_key
from kernel.keystore import SubjectKeyStore
from tietotie.settings import Settings

__all__ = [
    "keyring_path",
    "keystore_path",
    "master_key",
    "open_keyring",
    "open_keystore",
    "private_var_dir",
]


def keyring_path(settings: Settings) -> Path:
    """Where the keyring of wrapped data keys lives: ``<var_dir>/keyring.json``."""
    return settings.var_dir / "keyring.json"


def keystore_path(settings: Settings) -> Path:
    """Where per-subject keys live: ``<var_dir>/keystore.db``, apart from the main database."""
    return settings.var_dir / "keystore.db"


def _var_dir_error(settings: Settings, exc: OSError) -> KeyConfigError:
    return KeyConfigError(
        f"cannot keep TIETOTIE_VAR_DIR ({settings.var_dir}) readable by its owner only: "
        f"{describe_os_error(exc)}",
        file=str(settings.var_dir),
        setting="TIETOTIE_VAR_DIR",
    )


def private_var_dir(settings: Settings, *, create: bool = False) -> Path:
    """``var_dir`` readable by its owner only (0700), with the keyring and keystore in it (0600).

    A missing ``var_dir`` is created only with ``create=True``; the files are never created
    here, only tightened when they exist. A directory of another user or a shared sticky one
    (``/tmp``) is a :class:`KeyConfigError` naming ``TIETOTIE_VAR_DIR``.
    """
    var_dir = settings.var_dir
    if not create and not var_dir.exists():
        return var_dir
    try:
        private_directory(var_dir)
        if keyring_path(settings).is_file():
            private_file(keyring_path(settings))
        if keystore_path(settings).is_file():
            private_sqlite_file(keystore_path(settings))
    except OSError as exc:
        raise _var_dir_error(settings, exc) from None
    return var_dir


def master_key(settings: Settings, *, create: bool = True) -> MasterKey:
    """The master key from ``TIETOTIE_MASTER_KEY`` or the key file.

    Outside development a missing, placeholder or weak key refuses to start; in development a
    placeholder variable is ignored with a warning and a missing key file is created unless
    ``create=False``. ``var_dir`` is made private first (:func:`private_var_dir`).
    """
    private_var_dir(settings)
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
    """The subject keystore at :func:`keystore_path`: a 0600 file in a 0700 ``var_dir``."""
    keyring = keyring or open_keyring(settings)
    private_var_dir(settings, create=True)
    try:
        private_sqlite_file(keystore_path(settings))
    except OSError as exc:
        raise _var_dir_error(settings, exc) from None
    return SubjectKeyStore(keystore_path(settings), keyring=keyring)
