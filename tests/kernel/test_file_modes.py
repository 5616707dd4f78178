"""Local state is private: var/, the database, its sidecars, the keystore and the keyring."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from kernel.db import DatabaseError, make_engine
from kernel.errors import KeyConfigError
from kernel.files import private_directory, private_file
from kernel.keys import Keyring, write_master_key_file
from tests.records.support import BUNDLED
from tietotie.app import open_services
from tietotie.keys import master_key, open_keystore, private_var_dir
from tietotie.settings import Settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask set to a permissive value for the test, then restored."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _settings(root: Path, environment: str = "development") -> Settings:
    var = root / "state" / "var"
    return Settings(
        strategy=BUNDLED,
        environment=environment,
        database_url=f"sqlite:///{var / 'tietotie.db'}",
        var_dir=var,
        key_file=var / "master.key",
    )


def test_a_fresh_sqlite_database_and_its_sidecars_are_owner_only(
    tmp_path: Path, permissive_umask: int
) -> None:
    """make_engine creates the file 0600 and new directories 0700; -wal and -shm follow."""
    path = tmp_path / "new" / "dir" / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x TEXT)"))
            connection.execute(text("INSERT INTO t VALUES ('aino@example.fi')"))
        # Written while a connection is open: the WAL and shared-memory files exist now.
        sidecars = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
        assert all(p.exists() for p in sidecars)
        assert {p.name: _mode(p) for p in [path, *sidecars]} == {
            "x.db": 0o600,
            "x.db-wal": 0o600,
            "x.db-shm": 0o600,
        }
    finally:
        engine.dispose()
    assert _mode(tmp_path / "new") == 0o700
    assert _mode(tmp_path / "new" / "dir") == 0o700


def test_an_existing_readable_database_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database and WAL file left 0644 by an older version become 0600, and it is logged."""
    path = tmp_path / "old.db"
    path.touch()
    path.chmod(0o644)
    wal = tmp_path / "old.db-wal"
    wal.touch()
    wal.chmod(0o664)
    caplog.set_level(logging.WARNING, logger="kernel.files")
    make_engine(f"sqlite:///{path}").dispose()
    assert (_mode(path), _mode(wal)) == (0o600, 0o600)
    assert f"{path} could be read by others (mode 644)" in caplog.text
    assert f"{wal} could be read by others (mode 664)" in caplog.text


def test_an_existing_shared_parent_directory_of_the_database_is_left_alone(
    tmp_path: Path,
) -> None:
    """The directory someone chose for the database keeps its mode; the file is what is private."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    make_engine(f"sqlite:///{shared / 'x.db'}").dispose()
    assert (_mode(shared), _mode(shared / "x.db")) == (0o755, 0o600)


def test_a_database_path_that_cannot_be_prepared_is_a_database_error(tmp_path: Path) -> None:
    """A database under a regular file is a DatabaseError naming the path and the setting."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DatabaseError, match="TIETOTIE_DATABASE_URL") as caught:
        make_engine(f"sqlite:///{blocker / 'x.db'}")
    assert caught.value.context["file"] == str(blocker / "x.db")


def test_private_directory_creates_0700_and_tightens_what_it_owns(
    tmp_path: Path, permissive_umask: int, caplog: pytest.LogCaptureFixture
) -> None:
    """New directories are 0700 whatever the umask; an open one of ours becomes 0700, logged."""
    made = private_directory(tmp_path / "a" / "b")
    assert (_mode(tmp_path / "a"), _mode(made)) == (0o700, 0o700)
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    caplog.set_level(logging.WARNING, logger="kernel.files")
    private_directory(loose)
    assert _mode(loose) == 0o700
    assert f"{loose} could be read by others (mode 755)" in caplog.text
    kept = tmp_path / "kept"
    kept.mkdir()
    kept.chmod(0o755)
    private_directory(kept, tighten=False)
    assert _mode(kept) == 0o755


def test_a_shared_sticky_directory_is_never_chmodded(tmp_path: Path) -> None:
    """A /tmp-like directory (sticky, open to all) is refused as var/, and keeps its mode."""
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(PermissionError, match="shared directory"):
        private_directory(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    settings = Settings(var_dir=shared, key_file=shared / "master.key", environment="test")
    with pytest.raises(KeyConfigError, match="TIETOTIE_VAR_DIR") as caught:
        private_var_dir(settings)
    assert caught.value.context["setting"] == "TIETOTIE_VAR_DIR"


def test_private_file_creates_0600_whatever_the_umask(
    tmp_path: Path, permissive_umask: int
) -> None:
    """A new private file is 0600, and a second call keeps it (and its content) as it is."""
    path = tmp_path / "f"
    assert private_file(path) is True
    path.write_text("kept")
    assert private_file(path) is False
    assert (_mode(path), path.read_text()) == (0o600, "kept")


def test_the_key_file_and_keyring_are_private_under_a_permissive_umask(
    tmp_path: Path, permissive_umask: int
) -> None:
    """write_master_key_file and Keyring.create make 0700 directories and 0600 files."""
    var = tmp_path / "deep" / "var"
    master = write_master_key_file(var / "master.key")
    keyring = Keyring.create(var / "keyring.json", master)
    assert keyring.path == var / "keyring.json"
    assert _mode(tmp_path / "deep") == 0o700
    assert {p.name: _mode(p) for p in [var, *var.iterdir()]} == {
        "var": 0o700,
        "master.key": 0o600,
        "keyring.json": 0o600,
        "keyring.json.lock": 0o600,
    }


def test_a_readable_key_file_is_refused_not_tightened(tmp_path: Path) -> None:
    """A master key others could read may have leaked: it is refused, its mode left for the
    operator to decide, while the var directory around it is tightened."""
    settings = _settings(tmp_path, environment="production")
    write_master_key_file(settings.key_file)
    settings.var_dir.chmod(0o755)
    settings.key_file.chmod(0o644)
    with pytest.raises(KeyConfigError, match=f"chmod 600 {settings.key_file}"):
        master_key(settings)
    assert (_mode(settings.var_dir), _mode(settings.key_file)) == (0o700, 0o644)


def test_opening_the_keys_tightens_an_old_open_var_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """var/ 0755 with a 0644 keyring and keystore from before are made 0700 and 0600."""
    settings = _settings(tmp_path)
    master = master_key(settings)
    keyring = Keyring.create(settings.var_dir / "keyring.json", master)
    open_keystore(settings, keyring).close()
    settings.var_dir.chmod(0o755)
    for name in ("keyring.json", "keystore.db"):
        (settings.var_dir / name).chmod(0o644)
    caplog.set_level(logging.WARNING, logger="kernel.files")
    open_keystore(settings).close()
    assert _mode(settings.var_dir) == 0o700
    assert _mode(settings.var_dir / "keyring.json") == 0o600
    assert _mode(settings.var_dir / "keystore.db") == 0o600
    assert "could be read by others" in caplog.text


def test_a_fresh_service_keeps_all_its_state_owner_only(
    tmp_path: Path, permissive_umask: int
) -> None:
    """Starting the service in a fresh checkout: var/ is 0700 and every file in it 0600."""
    settings = _settings(tmp_path)
    services = open_services(settings)
    try:
        services.crypto.keystore.encrypt_field("subject-1", "health", "kept private")
    finally:
        services.crypto.keystore.close()
        services.engine.dispose()
    var = settings.var_dir
    files = {p.name: _mode(p) for p in var.iterdir()}
    assert {"tietotie.db", "keystore.db", "keyring.json", "master.key"} <= files.keys()
    assert files == dict.fromkeys(files, 0o600)
    assert (_mode(var), _mode(var.parent)) == (0o700, 0o700)
