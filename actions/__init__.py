"""tailor's Rasa custom actions (rasa-sdk): thin, one engine call each, the engine loaded lazily."""
