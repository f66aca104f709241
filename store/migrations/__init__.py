"""The store's schema history (Alembic): each release's changes as a revision in
versions/, applied by store.migrate."""
