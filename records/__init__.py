"""The system of record: store, ingest, imports, seed, external systems, restrictions, retention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.lazy import lazy_exports

if TYPE_CHECKING:
    from records.external import ExternalOutcome, ExternalSystems
    from records.imports import BATCH_ROWS, ImportRejected, ImportResult, import_file
    from records.migrations import DestructiveMigration, MigrationPlan, plan_upgrade, upgrade
    from records.restrictions import (
        FlagKind,
        SubjectFlag,
        active_flags,
        flag_metadata,
        flagged_subjects,
        lift,
        raise_flag,
    )
    from records.retention import RetentionRun, run_retention
    from records.seed import SeedResult, seed
    from records.store import (
        FieldCrypto,
        IngestResult,
        RecordStore,
        StoredRecord,
        find_subject,
        ingest,
        read_subject,
        subject_exists,
    )

__all__ = [
    "BATCH_ROWS",
    "DestructiveMigration",
    "ExternalOutcome",
    "ExternalSystems",
    "FieldCrypto",
    "FlagKind",
    "ImportRejected",
    "ImportResult",
    "IngestResult",
    "MigrationPlan",
    "RecordStore",
    "RetentionRun",
    "SeedResult",
    "StoredRecord",
    "SubjectFlag",
    "active_flags",
    "find_subject",
    "flag_metadata",
    "flagged_subjects",
    "import_file",
    "ingest",
    "lift",
    "plan_upgrade",
    "raise_flag",
    "read_subject",
    "run_retention",
    "seed",
    "subject_exists",
    "upgrade",
]

_NAMES = {
    **dict.fromkeys(
        [
            "FieldCrypto",
            "IngestResult",
            "RecordStore",
            "StoredRecord",
            "find_subject",
            "ingest",
            "read_subject",
            "subject_exists",
        ],
        "records.store",
    ),
    **dict.fromkeys(
        ["BATCH_ROWS", "ImportRejected", "ImportResult", "import_file"], "records.imports"
    ),
    **dict.fromkeys(["SeedResult", "seed"], "records.seed"),
    **dict.fromkeys(["ExternalOutcome", "ExternalSystems"], "records.external"),
    **dict.fromkeys(
        [
            "FlagKind",
            "SubjectFlag",
            "active_flags",
            "flag_metadata",
            "flagged_subjects",
            "lift",
            "raise_flag",
        ],
        "records.restrictions",
    ),
    **dict.fromkeys(["RetentionRun", "run_retention"], "records.retention"),
    **dict.fromkeys(
        ["DestructiveMigration", "MigrationPlan", "plan_upgrade", "upgrade"], "records.migrations"
    ),
}

__getattr__ = lazy_exports(__name__, _NAMES)
