"""tailor's channel glue: Rasa connectors, channel payload formatting, the web page and launcher.

Runs in the Rasa environment (Python 3.10) as well as the engine one: nothing here imports the engine.
"""
