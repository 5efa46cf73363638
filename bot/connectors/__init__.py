"""Rasa input / output channel subclasses (socketio for the widget, Slack, Telegram).

Importing this package (Rasa does, for credentials.yml) also applies :mod:`bot.rasa_speedups`.
"""

from bot import rasa_speedups

rasa_speedups.apply()
