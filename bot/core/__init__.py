"""Building blocks every other package may use: retries of work that can fail for a moment.

Imports nothing app-side.
"""
