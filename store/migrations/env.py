"""Alembic's entry point, run by store.migrate on a connection it opened (no alembic.ini,
no URL of its own): the revisions run inside that connection's transaction."""

from __future__ import annotations

from alembic import context

from newswatch.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=True)  # SQLite alters a table by copying it
with context.begin_transaction():
    context.run_migrations()
