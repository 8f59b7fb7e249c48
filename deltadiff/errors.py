"""Typed exceptions. Library code raises these; only the CLI turns them into one-line messages.

Every message is written for a person: what was wrong, then what to do about it.
"""

from __future__ import annotations


class DeltaDiffError(Exception):
    """Base class of every error deltadiff raises on purpose (bad input, bad config, bad checkpoint)."""


class InputNotFoundError(DeltaDiffError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class VideoDecodeError(DeltaDiffError):
    """A file exists but is empty, corrupt, not a media file, or has no decodable frames."""


class NotEnoughFramesError(DeltaDiffError):
    """A video decodes but has fewer frames than asked for at the requested fps/stride."""


class FrameSizeError(DeltaDiffError):
    """Frames are too small to use or larger than the pixel cap."""


class ManifestError(DeltaDiffError):
    """A dataset manifest or annotation file is missing columns, malformed, or points at files that are not there."""


class PathOutsideRootError(ManifestError):
    """A manifest row points outside the dataset root (e.g. '../../etc/passwd' or an absolute path elsewhere)."""


class OutputError(DeltaDiffError):
    """An output path cannot be written (e.g. its folder is a file, or the format is not supported)."""


class ConfigError(DeltaDiffError):
    """A configuration value or preset name is invalid."""
