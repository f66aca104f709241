"""An error in a few words: what a failure's message says (a run's, a log line's), with a
database driver's own words rather than SQLAlchemy's wrapping. Every stage and service
uses it, so it sits with the store, below them all."""

from __future__ import annotations


def why(exc: BaseException) -> str:
    """An exception and its cause on one line (a driver's own words for a database
    error, not SQLAlchemy's wrapping)."""
    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        return " ".join((str(orig).strip() or type(orig).__name__).split())[:300]
    cause = exc.__cause__ or exc.__context__
    said = str(exc).strip() or type(exc).__name__
    if cause is not None and str(cause).strip() and str(cause).strip() not in said:
        said += f": {str(cause).strip()}"
    return " ".join(said.split())[:300]
