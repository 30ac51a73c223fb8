"""Trial Companion: a Rasa assistant for clinical-trial participants."""
