"""Custom actions for the rasa-sdk action server (`python -m rasa_sdk --actions bot.actions`).

One module per conversation capability; rasa-sdk registers every Action subclass found in
this package's modules.
"""
