"""Rasa input / output channel subclasses (socketio for the widget, Slack, Telegram).

Importing this package (Rasa does, for credentials.yml) also applies :mod:`bot.rasa_speedups`,
:mod:`bot.action_outage` and :mod:`bot.nlu_guard`.
"""

from bot import action_outage, nlu_guard, rasa_speedups

rasa_speedups.apply()
action_outage.apply()
nlu_guard.apply()
