"""The request desk's domain (DESIGN §13): staff sessions opened with a personal staff token.

The pages are in :mod:`dsar.web.desk`; this package knows nothing of HTTP.
"""

from dsar.desk.sessions import DeskSession, DeskSessions

__all__ = ["DeskSession", "DeskSessions"]
