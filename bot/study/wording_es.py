"""The default wording in Spanish: the same keys and placeholders as `bot.study.wording.DEFAULTS`.

Written for older adults with little schooling: "usted", neutral Latin-American Spanish,
short sentences and everyday words (Fernández-Huerta 70 or more, at most 300 characters;
`tests/study/test_wording.py` checks every text). Keywords a participant is told to type
("chequeo", "luego", "enfermera", PARAR, EMPEZAR) are the Spanish ones the NLU and the
channels understand.
"""

from __future__ import annotations

# Placeholders an action fills per message, in Spanish (as `wording.MESSAGE_VALUES`): the
# longest symptom label, and a date as a Spanish participant reads it.
MESSAGE_VALUES_ES = {
    "symptom": "los silbidos en el pecho (un sonido como un pito al respirar)",
    "visit_name": "Visita de la semana 12 en la clínica",
    "visit_when": "el martes 3 de marzo a las 9:30 de la mañana",
    "staff_name": "Enfermera Joy Abernathy-Livingstone",
    "bonus": "$100",
}

DEFAULTS_ES: dict[str, tuple[str, ...]] = {
    "emergency": (
        "Llame al {emergency_number} ahora, o pida a alguien que lo lleve a emergencias. "
        "No espere mi respuesta. Ya le estoy avisando al equipo del estudio.",
    ),
    # 988 has Spanish: press 2 on a call, or text AYUDA. A study with another crisis line
    # says what that line offers in its own `wording_es`.
    "emergency_self_harm": (
        "Siento mucho que se sienta así. No tiene que pasar por esto a solas. "
        "Llame o mande un texto al {crisis_line}. Es gratis, las 24 horas, "
        "y hay ayuda en español (marque 2). Si está en peligro ahora, llame al "
        "{emergency_number}. También le aviso al equipo del estudio.",
    ),
    "emergency_check": (
        "Quiero saber que usted está a salvo. Si es una emergencia, llame al "
        "{emergency_number} ahora. ¿Es una emergencia?",
    ),
    "emergency_check_no": (
        "Bien, me alegro. Cuénteme qué pasa, o pida hablar con una enfermera. "
        "La enfermera del estudio atiende en el {nurse_phone}.",
    ),
    "medical_advice": (
        "Es una buena pregunta. No puedo dar consejos médicos, "
        "así que no adivino sobre medicinas ni dosis. "
        "¿Quiere que le pase su pregunta al equipo médico?",
    ),
    "medical_advice_passed": (
        "Bien, le paso su pregunta al equipo médico. Alguien le va a responder. "
        "Si es urgente, llame a la enfermera del estudio al {nurse_phone}.",
    ),
    "medical_question_in_form": (
        "Es una buena pregunta. No puedo dar consejos médicos, "
        "así que se la paso al equipo médico. Alguien le va a responder. "
        "Si es urgente, llame a la enfermera del estudio al {nurse_phone}.",
    ),
    "medical_advice_declined": (
        "Está bien. Si cambia de idea, pregúnteme otra vez. "
        "También puede llamar a la enfermera del estudio al {nurse_phone}.",
    ),
    "withdraw": (
        "Gracias por decírmelo. Usted tiene derecho a dejar el estudio cuando quiera. "
        "Su médico lo va a seguir atendiendo igual que antes. No hay ninguna presión. "
        "¿Quiere que alguien del equipo lo llame para hablar de esto?",
    ),
    "withdraw_call_yes": (
        "Bien. Voy a pedir al equipo que lo llame. No tiene que decidir nada ahora. "
        "Le pueden decir cómo dejar el estudio sin riesgo, si eso es lo que decide.",
    ),
    "withdraw_call_no": (
        "Está bien. Le voy a contar al equipo lo que me dijo. "
        "Si quiere hablar más tarde, llame a {coordinator_name} al {coordinator_phone}.",
    ),
    "contact_person": (
        "Para hablar con una persona, llame a {coordinator_name} al {coordinator_phone}, "
        "{coordinator_hours}. La enfermera del estudio atiende en el {nurse_phone}, "
        "{nurse_hours}. En una emergencia, llame al {emergency_number}.",
    ),
    "missed_dose": (
        "Gracias por decírmelo. Por favor, no tome dos dosis para reponer la que olvidó. "
        "Le voy a avisar al equipo. Si no sabe qué hacer, llame a la enfermera del estudio "
        "al {nurse_phone}.",
    ),
    "reschedule_visit": (
        "No hay problema. Para cambiar una visita, llame o mande un texto a "
        "{coordinator_name} al {coordinator_phone}. Juntos pueden buscar otro día.",
    ),
    "symptom_contact": (
        "Siento que no se sienta bien. Por favor, avise a la enfermera del estudio al "
        "{nurse_phone}. Si es grave o le empezó de repente, llame al {emergency_number} ahora.",
    ),
    "faq_missing": (
        "Aquí no tengo la respuesta completa. Por favor, pregúntele a {coordinator_name} "
        "al {coordinator_phone}.",
    ),
    "checkin_start": (
        "Vamos a hacer su chequeo. Toma como un minuto. "
        'Puede escribir "luego" en cualquier momento para parar y terminar más tarde.',
    ),
    "checkin_resume": ("¡Hola de nuevo! Vamos a terminar su chequeo donde lo dejamos.",),
    "checkin_paused": ('Bien, lo terminamos más tarde. Escriba "chequeo" cuando pueda.',),
    "checkin_done": ("¡Gracias! Ya terminó su chequeo. Cuídese mucho, y hasta pronto.",),
    "checkin_question_noted": (
        "Gracias por su pregunta. Se la pasé al equipo del estudio. Le van a responder.",
    ),
    "ask_checkin_feeling": ("En general, ¿cómo se siente hoy?",),
    "ask_checkin_new_problem": (
        "¿Tiene alguna molestia nueva, como dolor, tos o ganas de vomitar?",
    ),
    "symptom_start_unwell": (
        'Siento que no se sienta bien. Si quiere hablar con una enfermera, escriba "enfermera".',
    ),
    "ask_symptom_description": ('¿Qué le molesta? Dígalo en pocas palabras, como "mucha tos".',),
    # Labels are noun phrases with their article ("la tos"): "Sobre …:" fits them all.
    "ask_symptom_frequency": (
        "Sobre {symptom}: en los últimos 7 días, ¿con qué frecuencia le pasó?",
    ),
    "ask_symptom_severity": ("Sobre {symptom}: en su peor momento, ¿qué tan fuerte fue?",),
    "ask_symptom_interference": ("Sobre {symptom}: ¿cuánto le estorbó en sus cosas del día?",),
    "ask_checkin_medicine": ("¿Tomó su medicina del estudio como le dijeron?",),
    "ask_checkin_question": (
        "¿Tiene alguna pregunta para el equipo del estudio? Escríbala aquí, o responda no.",
    ),
    "ask_question_text": ("Bien, por favor escriba su pregunta para el equipo.",),
    "reask_feeling": (
        "Perdón, no le entendí. Por favor, responda con un número del 1 al 5, como 4.",
    ),
    "reask_yes_no": ("Perdón, no le entendí. Por favor, responda sí o no.",),
    "reask_scale": (
        "Perdón, no le entendí. Por favor, responda con un número del 0 al 4, como 1.",
    ),
    "reask_medicine": (
        'Perdón, no le entendí. Por favor, responda sí, no, o "algunas" si le faltaron algunas.',
    ),
    "free_text_kept": ("Gracias. Le voy a pasar sus palabras al equipo del estudio.",),
    "symptom_urgent": (
        "Gracias por decírmelo. Le estoy mandando esto a la enfermera del estudio. "
        "Una enfermera lo va a llamar hoy. Si se siente peor, llame al {emergency_number}.",
    ),
    "symptom_routine": (
        "Gracias. Lo anoté para que el equipo médico lo vea. Avíseme si se pone peor.",
    ),
    "symptom_noted": ("Gracias por decírmelo. Ya lo anoté. Avíseme si se pone peor.",),
    "symptom_already_noted": (
        "Ya tengo anotado lo de {symptom} de este chequeo. Gracias por decírmelo. "
        "Avíseme si se pone peor.",
    ),
    "sms_opted_out": (
        "Ya no va a recibir textos del asistente de {study_name}. "
        "Responda EMPEZAR para recibirlos otra vez. En una emergencia, llame al "
        "{emergency_number}.",
    ),
    "sms_opted_in": (
        "¡Hola de nuevo! Va a recibir otra vez textos del asistente de {study_name}. "
        "Responda PARAR para dejar de recibirlos.",
    ),
    "sms_help": (
        "Este es el asistente del estudio {study_name}. Llame a {coordinator_name} al "
        "{coordinator_phone}, o a la enfermera del estudio al {nurse_phone}. "
        "En una emergencia, llame al {emergency_number}. Responda PARAR para no recibir textos.",
    ),
    "telegram_opted_out": (
        "Ya no va a recibir mensajes del asistente de {study_name}, salvo si usted escribe "
        "primero. Mande EMPEZAR para recibirlos otra vez. En una emergencia, llame al "
        "{emergency_number}.",
    ),
    "telegram_opted_in": (
        "¡Hola de nuevo! Va a recibir otra vez mensajes del asistente de {study_name}. "
        "Mande PARAR para dejar de recibirlos.",
    ),
    "help": (
        "Este es el asistente del estudio {study_name}. Llame a {coordinator_name} al "
        "{coordinator_phone}, o a la enfermera del estudio al {nurse_phone}. "
        "En una emergencia, llame al {emergency_number}.",
    ),
    "web_stop": (
        "Este chat nunca le manda mensajes por su cuenta, así que no hay nada que parar. "
        "Puede cerrar esta página cuando quiera. En una emergencia, llame al "
        "{emergency_number}.",
    ),
    "unknown_sender": (
        "Perdón, este número no es parte de un estudio que yo conozca. "
        "Por favor, hable con el equipo del estudio que le dio este número.",
    ),
    "text_only": (
        "Perdón, solo puedo leer texto. Por favor, escriba su mensaje. "
        "En una emergencia, llame al {emergency_number}.",
    ),
    "telegram_unknown_chat": (
        "¡Hola! Este chat todavía no está unido a un estudio. Pida su código al equipo "
        "del estudio. Luego mande /start y el código.",
    ),
    "telegram_linked": (
        "¡Gracias! Este chat ya está unido al estudio {study_name}. "
        "Puede preguntarme sobre el estudio cuando quiera.",
    ),
    "telegram_bad_code": (
        "Perdón, ese código no funcionó. Por favor, revíselo con el equipo del estudio.",
    ),
    "checkin_prompt": ("¡Hola! Es hora de su chequeo. Toma como un minuto.",),
    "checkin_nudge": (
        'Le recuerdo que su chequeo todavía le espera. Responda "chequeo" cuando pueda.',
    ),
    "visit_reminder": (
        "Le recuerdo su cita: {visit_name}, {visit_when}, en {site_name}. "
        "Para cambiarla, llame a {coordinator_name} al {coordinator_phone}.",
    ),
    "milestone_thanks": (
        "¡Gracias! Llegó a una etapa importante del estudio y ganó un bono de {bonus}. "
        "Se lo pagamos con su próximo pago.",
    ),
    "dose_reminder": ("¡Buenos días! Le recuerdo tomar hoy su medicina del estudio.",),
    "feedback_start": ("Gracias por tomarse un momento para contarnos cómo le va.",),
    "ask_feedback_rating": ("¿Qué le parece el estudio hasta ahora? 1 es malo y 5 es excelente.",),
    "ask_feedback_comment": (
        "¿Quiere decirle algo al equipo del estudio? Escríbalo aquí, o responda no.",
    ),
    "reask_rating": ("Perdón, no le entendí. Por favor, responda con un número del 1 al 5.",),
    "feedback_thanks": (
        "Gracias por contarnos. El equipo del estudio lee cada nota. "
        "Nos ayuda a hacer mejor el estudio.",
    ),
    "language_changed": (
        "Listo. Desde ahora le escribo en español. Para volver al inglés, responda ENGLISH.",
    ),
    "assistant_failed": (
        "Perdón, algo falló de mi lado. Si se siente muy mal, llame al {emergency_number} "
        "ahora. Para hablar con una persona, llame a la enfermera del estudio al {nurse_phone}.",
    ),
    "fallback": (
        "Perdón, no entendí bien. Puede preguntarme sobre el estudio, "
        "decirme cómo se siente, o pedir hablar con una persona.",
    ),
    "simpler_unknown": (
        "Perdón, no sé qué decir otra vez. Puede preguntarme cosas como "
        '"¿Qué es un placebo?", "¿Cuánto dura una visita?" o "¿A quién llamo?"',
    ),
    "handoff_requested": (
        "Bien. Le pedí a la enfermera de turno que le escriba. Le va a responder aquí "
        "lo antes posible. Si es urgente, llame a la enfermera al {nurse_phone}. "
        "En una emergencia, llame al {emergency_number}.",
    ),
    "handoff_started": (
        "¡Hola! {staff_name}, del equipo del estudio, ya está aquí. "
        "{staff_name} le va a responder en este chat. Yo vuelvo cuando terminen.",
    ),
    "handoff_ended": (
        "{staff_name} ya terminó. Ya estoy de vuelta para ayudarle. "
        "Puede preguntarme sobre el estudio cuando quiera. "
        "En una emergencia, llame al {emergency_number}.",
    ),
}

# How a symptom is named in "Sobre {symptom}: …", by the lexicon's canonical name
# (bot/nlp/lexicon/symptoms.yml has the English labels): everyday words with an article.
SYMPTOM_LABELS_ES = {
    "nausea": "las náuseas (ganas de vomitar)",
    "vomiting": "los vómitos",
    "diarrhea": "la diarrea",
    "constipation": "el estreñimiento",
    "decreased_appetite": "la falta de hambre",
    "abdominal_pain": "el dolor de estómago",
    "fatigue": "el cansancio",
    "insomnia": "los problemas para dormir",
    "headache": "el dolor de cabeza",
    "dizziness": "los mareos",
    "shortness_of_breath": "la falta de aire",
    "cough": "la tos",
    "wheezing": "los silbidos en el pecho (un sonido como un pito al respirar)",
    "chest_tightness": "el pecho apretado",
    "hoarseness": "la voz ronca",
    "dry_mouth": "la boca seca",
    "mouth_sores": "las llagas en la boca o la garganta",
    "sore_throat": "el dolor de garganta",
    "difficulty_swallowing": "los problemas para tragar",
    "rash": "el sarpullido",
    "itching": "la comezón",
    "swelling": "la hinchazón en brazos o piernas",
    "fever": "la fiebre",
    "chills": "los escalofríos",
    "sweating": "el sudor fuerte",
    "muscle_pain": "el dolor en los músculos",
    "joint_pain": "el dolor en las coyunturas",
    "pain": "el dolor",
    "numbness_tingling": "el hormigueo o adormecimiento en manos o pies",
    "palpitations": "el corazón acelerado o que late fuerte",
    "anxiety": "los nervios o la preocupación",
    "sad_mood": "la tristeza",
    "blurred_vision": "la vista borrosa",
    "tremor": "los temblores",
    "hot_flashes": "los bochornos",
    "heartburn": "la acidez",
    "taste_changes": "los cambios en el sabor",
    "nosebleed": "el sangrado de nariz",
    "bruising": "los moretones",
}
# A problem the lexicon does not know ("Sobre este problema: …").
OTHER_SYMPTOM_LABEL_ES = "este problema"
