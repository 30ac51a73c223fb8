"""The project's own spaCy pipeline: lexicon, spelling normaliser, entity ruler, negation.

- `build_pipeline`: `python -m bot.nlp.build_pipeline --out DIR` builds the folder Rasa's
  `SpacyNLP` loads (from the YAML lexicon in `lexicon/`, English, with the Spanish
  entries of `lexicon/es/` merged in: one folder for both languages);
- `components`: the `trialbot_spelling` and `trialbot_negation` spaCy factories;
- `analysis`: what the rest of the project uses (`load_pipeline`, `red_flags_in`,
  `symptoms_in`, `RED_FLAG_CATEGORIES`);
- `symptoms`: the lexicon's symptoms, their labels and attributes (`symptom_info`), without
  spaCy (the action server uses it and never loads spaCy, nor TensorFlow through thinc);
- `numbered_reply`: the Rasa component that reads a bare "3" as the intent `answer`;
- `report` and `data_check`: the NLU evaluation (`make eval`) and the training-data checks.

Imports nothing app-side (the red-flag guard that uses it inside Rasa is `bot.safety`).
"""
