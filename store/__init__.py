"""Storage: the SQLAlchemy schema and the operations the crawler, matcher and alerts need."""

from newswatch.store.db import Store, make_engine

__all__ = ["Store", "make_engine"]
