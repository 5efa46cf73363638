"""Rasa input / output channel subclasses (socketio for the widget, Slack, Telegram).

Importing this package (Rasa does, for credentials.yml) also applies :mod:`bot.rasa_speedups` and
:mod:`bot.action_outage`.
"""

from bot import action_outage, rasa_speedups

rasa_speedups.apply()
action_outage.apply()
