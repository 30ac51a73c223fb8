"""Staff-side logic, independent of any channel: users and sign-in, permissions, the audit
log, and the escalation queue (the console, Telegram buttons and SMS replies all call it).
"""
