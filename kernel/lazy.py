"""Package namespaces that import their modules on first use, so a CLI start stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving each public name from the submodule that defines it.

    ``names`` maps a public name to its module (``{"RecordStore": "records.store"}``); a package
    lists them in ``__all__`` and assigns the result to its own ``__getattr__`` (PEP 562).
    """

    def attribute(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return attribute
