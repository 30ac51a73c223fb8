"""The default wording of messages that depend on the study config, in each language.

Each key is used by one custom action. A study may replace any of them under ``wording:``
(English) and ``wording_es:`` (Spanish) in its config; otherwise the default here (or in
`bot.study.wording_es`, with the same keys and placeholders) is sent, with the study's
facts filled in (placeholders as listed by `StudyConfig.facts`). Every text stays plain
and at most 300 characters (see `bot.study.plain_language`); `tests/study/test_wording.py`
checks that.
"""

from __future__ import annotations

from bot.core.languages import DEFAULT_LANGUAGE, SPANISH, language_or_default
from bot.study.config import StudyConfig
from bot.study.wording_es import DEFAULTS_ES

# Placeholders an action fills per message (not study facts), with an example value used
# by the plain-language tests: the longest symptom label.
MESSAGE_VALUES = {
    "symptom": "wheezing (a whistling sound when you breathe)",
    "visit_name": "Week 12 clinic visit",
    "visit_when": "Tuesday, March 3 at 9:30 AM",
    "staff_name": "Nurse Joy Abernathy-Livingstone",
    "bonus": "$100",
}

DEFAULTS: dict[str, tuple[str, ...]] = {
    "emergency": (
        "Call {emergency_number} now, or have someone take you to the ER. "
        "Do not wait for a reply from me. "
        "I am telling the study team right away too.",
    ),
    "emergency_self_harm": (
        "I am so sorry you feel this way. You are not alone. "
        "Please call or text {crisis_line} now. It is free and open 24/7. "
        "If you are in danger right now, call {emergency_number}. "
        "I am telling the study team too.",
    ),
    # A message the language model read as an emergency, with none of the listed red
    # flags: the emergency number at once, and a question (yes: the full emergency).
    "emergency_check": (
        "I want to be sure you are safe. If this is an emergency, call {emergency_number} "
        "now. Is this an emergency?",
    ),
    "emergency_check_no": (
        "OK, I am glad. Tell me what is going on, or ask to talk to a nurse. "
        "The study nurse is at {nurse_phone}.",
    ),
    "medical_advice": (
        "That is a good question. I can't give medical advice, "
        "so I don't guess about medicines or doses. "
        "Do you want me to pass your question to the care team?",
    ),
    "medical_advice_passed": (
        "OK, I will pass your question to the care team. Someone will get back to you. "
        "If it is urgent, call the study nurse at {nurse_phone}.",
    ),
    # A treatment question typed in the middle of a form: no advice, passed on at once
    # (a yes/no offer there would be read as the answer to the form's question).
    "medical_question_in_form": (
        "That is a good question. I can't give medical advice, "
        "so I will pass it to the care team. Someone will get back to you. "
        "If it is urgent, call the study nurse at {nurse_phone}.",
    ),
    "medical_advice_declined": (
        "OK, that is fine. If you change your mind, just ask me again. "
        "You can also call the study nurse at {nurse_phone}.",
    ),
    "withdraw": (
        "Thank you for telling me. It is your right to leave the study at any time. "
        "Your own doctor will still care for you, the same as before. "
        "There is no pressure. Would you like a call from the team to talk about it?",
    ),
    "withdraw_call_yes": (
        "OK. I will ask the team to call you. You do not have to decide anything now. "
        "They can tell you how to leave safely, if that is what you choose.",
    ),
    "withdraw_call_no": (
        "OK, that is fine. I will let the team know what you told me. "
        "If you want to talk later, call {coordinator_name} at {coordinator_phone}.",
    ),
    "contact_person": (
        "To talk to a person, call {coordinator_name} at {coordinator_phone}, "
        "{coordinator_hours}. The study nurse is at {nurse_phone}, {nurse_hours}. "
        "In an emergency, call {emergency_number}.",
    ),
    "missed_dose": (
        "Thanks for telling me. Please do not take two doses to make up for the one you "
        "missed. I will let the team know. If you are not sure what to do, "
        "call the study nurse at {nurse_phone}.",
    ),
    "reschedule_visit": (
        "No problem. To change a visit, call or text {coordinator_name} "
        "at {coordinator_phone}. You can pick a new time together.",
    ),
    "symptom_contact": (
        "I am sorry you are not feeling well. Please tell the study nurse at {nurse_phone}. "
        "If it is bad or came on all of a sudden, call {emergency_number} now.",
    ),
    "faq_missing": (
        "I don't have the full answer here. Please ask {coordinator_name} at {coordinator_phone}.",
    ),
    "checkin_start": (
        "Let's do your check-in. It takes about a minute. "
        'You can say "later" at any time to stop and finish it later.',
    ),
    "checkin_resume": ("Welcome back! Let's finish your check-in where we left off.",),
    "checkin_paused": ('OK, we can finish later. Just say "check in" when you are ready.',),
    "checkin_done": ("Thank you! Your check-in is done. Take care, and talk soon.",),
    "checkin_question_noted": (
        "Thanks for your question. I have passed it to the study team. They will get back to you.",
    ),
    "ask_checkin_feeling": ("How do you feel today, all in all?",),
    "ask_checkin_new_problem": (
        "Is anything new bothering you, like pain, a cough or feeling sick?",
    ),
    # A symptom report with no symptom named yet ("i feel terrible"): never a cheerful word.
    "symptom_start_unwell": (
        'I am sorry you are not feeling well. If you want to talk to a nurse, just say "nurse".',
    ),
    "ask_symptom_description": (
        'What is bothering you? Tell me in a few words, like "bad cough".',
    ),
    # Labels are noun phrases ("a tight chest") or gerunds ("throwing up"): "About …:" fits both.
    "ask_symptom_frequency": ("About {symptom}: how often did it happen in the last 7 days?",),
    "ask_symptom_severity": ("About {symptom}: how bad was it at its worst?",),
    "ask_symptom_interference": ("About {symptom}: how much did it get in the way of your day?",),
    "ask_checkin_medicine": ("Did you take your study medicine as planned?",),
    "ask_checkin_question": (
        "Do you have a question for the study team? Type it here, or reply no.",
    ),
    "ask_question_text": ("OK, please type your question for the team.",),
    "reask_feeling": (
        "Sorry, I did not get that. Please reply with a number from 1 to 5, like 4.",
    ),
    "reask_yes_no": ("Sorry, I did not get that. Please reply yes or no.",),
    "reask_scale": ("Sorry, I did not get that. Please reply with a number from 0 to 4, like 1.",),
    "reask_medicine": (
        'Sorry, I did not get that. Please reply yes, no, or "some" if you missed some.',
    ),
    "free_text_kept": ("Thanks. I will pass your words on to the study team.",),
    "symptom_urgent": (
        "Thank you for telling me. I am sending this to the study nurse now. "
        "A nurse will call you today. If you get worse, call {emergency_number}.",
    ),
    "symptom_routine": (
        "Thank you. I have noted it for the care team to look at. Tell me if it gets worse.",
    ),
    "symptom_noted": ("Thanks for telling me. I have noted it. Tell me if it gets worse.",),
    # A symptom told again in the same check-in: kept once (bot/actions/symptoms.py).
    "symptom_already_noted": (
        "I already have your {symptom} from this check-in. Thank you for telling me. "
        "Tell me if it gets worse.",
    ),
    # SMS keywords and channel edge cases (bot/channels).
    "sms_opted_out": (
        "You will not get any more texts from the {study_name} helper. "
        "Reply START to turn them back on. In an emergency, call {emergency_number}.",
    ),
    "sms_opted_in": (
        "Welcome back! You will get texts from the {study_name} helper again. "
        "Reply STOP to stop them.",
    ),
    "sms_help": (
        "This is the {study_name} study helper. Call {coordinator_name} at "
        "{coordinator_phone}, or the study nurse at {nurse_phone}. "
        "In an emergency, call {emergency_number}. Reply STOP to stop texts.",
    ),
    # STOP and START on Telegram (bot/channels/telegram.py).
    "telegram_opted_out": (
        "You will not get any more messages from the {study_name} helper unless you write "
        "first. Send START to turn them back on. In an emergency, call {emergency_number}.",
    ),
    "telegram_opted_in": (
        "Welcome back! You will get messages from the {study_name} helper again. "
        "Send STOP to stop them.",
    ),
    # HELP or INFO on the web chat and Telegram (bot/channels/keywords.py).
    "help": (
        "This is the {study_name} study helper. Call {coordinator_name} at "
        "{coordinator_phone}, or the study nurse at {nurse_phone}. "
        "In an emergency, call {emergency_number}.",
    ),
    "web_stop": (
        "This chat never sends you messages on its own, so there is nothing to stop. "
        "You can close this page at any time. In an emergency, call {emergency_number}.",
    ),
    "unknown_sender": (
        "Sorry, this number is not part of a study I know. "
        "Please contact the study team that gave you this number.",
    ),
    "text_only": (
        "Sorry, I can only read text. Please type your message. "
        "In an emergency, call {emergency_number}.",
    ),
    "telegram_unknown_chat": (
        "Hi! This chat is not linked to a study yet. Please ask the study team for your code, "
        "then send /start and the code.",
    ),
    "telegram_linked": (
        "Thank you! This chat is now linked to the {study_name} study. "
        "You can ask me about the study at any time.",
    ),
    "telegram_bad_code": ("Sorry, that code did not work. Please check it with the study team.",),
    # Proactive messages (bot/outreach).
    "checkin_prompt": ("Hi! It is time for your check-in. It takes about a minute.",),
    "checkin_nudge": (
        'Just a reminder: your check-in is still waiting. Reply "check in" when you are ready.',
    ),
    "visit_reminder": (
        "Reminder: your {visit_name} is on {visit_when} at {site_name}. "
        "To change it, call {coordinator_name} at {coordinator_phone}.",
    ),
    "milestone_thanks": (
        "Thank you! You have reached a big step in the study, and you have earned a {bonus} "
        "bonus. We will pay it with your next payment.",
    ),
    "dose_reminder": ("Good morning! This is your reminder to take your study medicine today.",),
    # Feedback (bot/actions/feedback.py).
    "feedback_start": ("Thank you for taking a moment to tell us how it is going.",),
    "ask_feedback_rating": ("How would you rate the study so far? 1 is poor and 5 is great.",),
    "ask_feedback_comment": (
        "Is there anything you would like to tell the study team? Type it here, or reply no.",
    ),
    "reask_rating": ("Sorry, I did not get that. Please reply with a number from 1 to 5.",),
    "feedback_thanks": (
        "Thank you for telling us. The study team reads every note. "
        "It helps us make the study better.",
    ),
    # A participant asked to change language ("english", "español", "cambiar idioma"):
    # said in the new language.
    "language_changed": (
        "OK, I will write to you in English from now on. To change back, reply ESPAÑOL.",
    ),
    "assistant_failed": (
        "Sorry, something went wrong on my side. If you feel very unwell, call "
        "{emergency_number} now. To reach a person, call the study nurse at {nurse_phone}.",
    ),
    "fallback": (
        "Sorry, I am not sure what you mean. You can ask me about the study, "
        "tell me how you feel, or ask to talk to a person.",
    ),
    "simpler_unknown": (
        "Sorry, I am not sure what to say again. You can ask me things like "
        '"What is a placebo?", "How long is a visit?" or "Who do I call?"',
    ),
    "handoff_requested": (
        "OK. I have asked the study nurse on call to write to you. "
        "A nurse will reply to you here as soon as they can. "
        "If it is urgent, call the nurse at {nurse_phone}. "
        "In an emergency, call {emergency_number}.",
    ),
    # Human handoff (bot/handoff): sent when a staff member takes over and hands back.
    "handoff_started": (
        "Hi! {staff_name} from the study team is here now. "
        "{staff_name} will reply to you in this chat. "
        "I will be back when you are done.",
    ),
    "handoff_ended": (
        "{staff_name} has finished. I am back to help you now. "
        "You can ask me about the study at any time. "
        "In an emergency, call {emergency_number}.",
    ),
}


DEFAULTS_BY_LANGUAGE: dict[str, dict[str, tuple[str, ...]]] = {
    DEFAULT_LANGUAGE: DEFAULTS,
    SPANISH: DEFAULTS_ES,
}


def messages(
    study: StudyConfig, key: str, language: str = DEFAULT_LANGUAGE, **extra: str
) -> list[str]:
    """The messages to send for a wording key in a language: the study's own, else the default.

    `language` is a code from `bot.core.languages` (an unknown one reads as English).
    `extra` fills placeholders that are not study facts, such as `{symptom}`, and must
    already be in that language.

    Raises:
        KeyError: the key is not one of `DEFAULTS`.
    """
    language = language_or_default(language)
    default = DEFAULTS_BY_LANGUAGE[language][key]
    own = study.wording_text(key, language=language, **extra)
    return own or [study.render(text, language=language, **extra) for text in default]
