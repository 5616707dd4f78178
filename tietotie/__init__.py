"""The composition root: settings, the CLI and the app factory wiring the packages together."""

__all__ = ["__version__"]

__version__ = "0.1.0"
