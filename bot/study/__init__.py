"""The study: one YAML file describes the trial, and every participant-facing text.

`config` is the study config's schema and loader (`current_study()`), `wording` the
default wording of every message that depends on it (`wording_es` in Spanish),
`plain_language` the checks every participant-facing text must pass in its language
(short; grade 6 in English, Fernández-Huerta 70 in Spanish), and `pro_ctcae` the symptom
scales participants answer on, in both languages. Imports only `bot.core`.
"""
