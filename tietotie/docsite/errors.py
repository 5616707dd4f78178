"""Errors of the docs site build; a branch of the tree in :mod:`kernel.errors`.

TietotieError
└── DocsBuildError        the site cannot be built: no mkdocs.yml, bad strategy, strict warnings
"""

from __future__ import annotations

from kernel.errors import TietotieError

__all__ = ["DocsBuildError"]


class DocsBuildError(TietotieError):
    """The docs site cannot be built; the message says why and what to do."""

    code = "docs_build_failed"
