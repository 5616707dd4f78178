"""The small pieces every layer needs: the error tree, crypto and keys, the database session."""

from kernel.errors import TietotieError

__all__ = ["TietotieError"]
