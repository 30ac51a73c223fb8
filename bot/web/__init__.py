"""The web app (FastAPI): the participant chat page and the staff console (escalation
queue, handoff live chat, participants, research pages).

May import every service package (alerts, handoff, escalation, research, staff, ...) and
the base; nothing imports the web app but the process that serves it.
"""
