"""dsar package: the service for data-subject requests, the system of record, pseudonymisation."""

from dsar.pseudonymisation import (
    FileFormat,
    Progress,
    PseudonymisedFile,
    detect_format,
    parquet_available,
    parse_field_spec,
    pseudonymise_file,
)

__all__ = [
    "FileFormat",
    "Progress",
    "PseudonymisedFile",
    "detect_format",
    "parquet_available",
    "parse_field_spec",
    "pseudonymise_file",
]
