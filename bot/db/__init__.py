"""The database layer: SQLAlchemy models, sessions, shared repository functions and
Alembic migrations (SQLite by default, PostgreSQL in production).

`session.session_scope` is one committed transaction; `session.in_session_async` runs
sync repository code from async code on a worker thread. Imports only `bot.core`.
"""
