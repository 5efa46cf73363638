"""Typed errors of the retrieval engine.

Every error says what went wrong and how to fix it. Callers (the CLI, the actions) catch
:class:`TailorError` and show ``str(err)`` to the person.
"""

from __future__ import annotations

from pathlib import Path


class TailorError(Exception):
    """Base class of every error the engine raises on purpose."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message} Fix: {fix}" if fix else message)


class ConfigError(TailorError):
    """A configuration value or file is invalid."""


class TaxonomyError(TailorError):
    """The taxonomy file is malformed."""


class DatasetError(TailorError):
    """A dataset file is malformed; the message names the file, line and fix."""

    def __init__(self, message: str, *, path: str, line: int | None = None, fix: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}", fix=fix)


class ModelNotFoundError(TailorError):
    """A model directory or artifact is missing."""


class ArtifactError(ModelNotFoundError):
    """A model directory's files cannot be trusted or read; ``path`` is the file (the message names it)."""

    def __init__(self, message: str, *, path: str | Path, fix: str) -> None:
        self.path = str(path)
        super().__init__(message, fix=fix)


class CorruptArtifactError(ArtifactError):
    """A model file differs from its checksum in ``manifest.json``, is missing from it, or cannot be read."""


class MissingManifestError(ArtifactError):
    """A model directory has no ``manifest.json``: it was not written by a finished ``tailor train``."""


class UnknownItemError(TailorError):
    """An image / product id is not in the catalog."""


class InvalidQueryError(TailorError):
    """A query is empty, too long, or its k is out of range."""


class InteractionError(TailorError):
    """An interaction (metadata, like, dislike) cannot be applied."""


class PermissionDeniedError(TailorError):
    """The sender is not trusted to make this change."""
