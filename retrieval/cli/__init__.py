"""``tailor``: the one command line. :mod:`.main` builds the parser; each other module registers a group.

May import everything in :mod:`retrieval` (lazily: handlers import heavy modules when they run).
"""
