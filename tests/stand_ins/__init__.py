"""Local HTTP servers that stand in for outside services in tests."""
