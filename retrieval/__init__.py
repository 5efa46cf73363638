"""tailor's retrieval engine: catalog, graph, R-GCN, index, interactions, explanations.

Never imports rasa: the actions call :mod:`retrieval.engine.facade`, nothing else.
"""

__version__ = "0.1.0"
