"""The project's web app: the participant chat page (and, later, the staff console)."""
