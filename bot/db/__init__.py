"""The database layer: SQLAlchemy models, sessions, shared repository functions and
Alembic migrations (SQLite by default, PostgreSQL in production).

`session.session_scope` is one committed transaction; `session.in_session_async` runs
sync repository code from async code on a worker thread. `tracker_store` is the Rasa
tracker store endpoints.yml names (Rasa's SQL store reading a long conversation's last
turns). Imports only `bot.core` (and Rasa).
"""
