"""Art. 17 erasure as a recorded, resumable plan over every store that holds the subject."""

from dsar.erasure.report import erasure_result
from dsar.erasure.service import Erasure, ErasureOutcome
from dsar.erasure.tables import (
    EXTERNAL_PREFIX,
    KEYSTORE,
    MAIN,
    ErasureBase,
    ErasurePlanRow,
    ErasureStepRow,
    StepState,
    erasure_metadata,
)

__all__ = [
    "EXTERNAL_PREFIX",
    "KEYSTORE",
    "MAIN",
    "Erasure",
    "ErasureBase",
    "ErasureOutcome",
    "ErasurePlanRow",
    "ErasureStepRow",
    "StepState",
    "erasure_metadata",
    "erasure_result",
]
