"""The errors a user meets when importing or pulling a model."""

from __future__ import annotations

from ..errors import Conflict, NotFound, OdyssaiError


class UnsupportedGGUF(OdyssaiError):
    """A GGUF file this importer cannot turn into an MLX model: what it holds is named."""

    status = 422
    kind = "unsupported_model"
    exit_code = 2


class BadGGUF(OdyssaiError):
    """A file that is not a readable GGUF (wrong magic, truncated, unknown version)."""

    status = 422
    kind = "invalid_model"
    exit_code = 2


class ModelExists(Conflict):
    """The target model directory is already there."""


class UnknownModel(NotFound):
    """A name the catalog of downloadable models does not know."""


class PullFailed(OdyssaiError):
    """Fetching a catalog model failed (the installer, the network, or the package contents)."""

    status = 502
    kind = "pull_failed"
    exit_code = 1
