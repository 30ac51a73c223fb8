"""The study: one YAML file describes the trial, and every participant-facing text.

`config` is the study config's schema and loader (`current_study()`), `wording` the
default wording of every message that depends on it, `plain_language` the checks every
participant-facing text must pass (short, grade 6), and `pro_ctcae` the symptom scales
participants answer on. Imports only `bot.core`.
"""
