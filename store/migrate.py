"""The store's schema version (SPEC §13): Alembic revisions in store/migrations.

A SQLite database on one machine is brought up to date when it opens (`crawl`, `run`
and every other command); so is an empty database anywhere. A shared PostgreSQL
database that is behind is left alone: every process sharing it would race to change
it under the others, so the command stops with one line naming `newswatch migrate`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect
from sqlalchemy.engine import Engine

# alembic is imported where it is used: loading it costs every command's start-up a
# third of a second, and `check` or `--help` never touch the schema
if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

SCRIPTS = Path(__file__).with_name("migrations")


class SchemaBehind(Exception):
    """The database needs `newswatch migrate` (or was made by a newer newswatch)."""


def _config(conn: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    found = ScriptDirectory(str(SCRIPTS)).get_current_head()
    assert found is not None
    return found


def current(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def state(engine: Engine) -> tuple[str | None, bool]:
    """(its revision, whether it holds any table): None and False for a new database;
    None and True for one made before migrations (0.1.0)."""
    with engine.connect() as conn:
        return current(conn), bool(inspect(conn).get_table_names())


def upgrade(engine: Engine) -> list[str]:
    """Bring the schema to the newest revision, in one transaction (the writer engine's:
    two processes upgrading at once take turns). Returns the revisions applied."""
    from alembic import command
    from alembic.script import ScriptDirectory

    known = [s.revision for s in ScriptDirectory(str(SCRIPTS)).walk_revisions()][::-1]
    with engine.begin() as conn:
        before = current(conn)
        command.upgrade(_config(conn), "head")
        after = current(conn)
    start = known.index(before) + 1 if before in known else 0
    applied = known[start:known.index(after) + 1] if after in known else []
    if applied:
        log.info("database schema upgraded: %s -> %s", before or "none", after)
    return applied


def ensure(engine: Engine, auto: bool) -> None:
    """Open the store at the current schema: upgraded here when `auto` (SQLite) or when
    the database is new; else SchemaBehind with what to do."""
    revision, used = state(engine)
    newest = head()
    if revision == newest:
        return
    if revision is not None and revision not in _revisions():
        raise SchemaBehind(f"the database's schema ({revision}) is newer than this "
                           "newswatch knows: upgrade newswatch")
    if auto or not used:
        upgrade(engine)
        return
    raise SchemaBehind(f"the database's schema is {revision or 'from before 0.2.0'}, this "
                       f"newswatch needs {newest}: run `newswatch migrate` once (with every "
                       "newswatch process sharing the database stopped), then start again")


def _revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory(str(SCRIPTS)).walk_revisions()}
