"""The database layer: SQLAlchemy models, sessions, repository functions and migrations."""
