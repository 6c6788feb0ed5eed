"""Errors a user can act on: each names what was wrong, where, and the fix."""

from __future__ import annotations


class MelfoleyError(Exception):
    """Base class of every error melfoley raises for bad input or missing parts.

    The message is written for the person at the keyboard: what is wrong, which file or
    clip, and what to do about it. Front ends print it without a traceback.
    """


class AudioInputError(MelfoleyError, ValueError):
    """Audio that cannot be analysed (empty, NaN, too short, unreadable)."""


class ControlFormatError(MelfoleyError, ValueError):
    """A serialised QCD control that is corrupt, truncated or of an unknown version."""


class WeightsError(MelfoleyError, FileNotFoundError):
    """Model weights that are missing or do not match the model."""


class MediaError(MelfoleyError, OSError):
    """Picture media that is missing, unreadable or has an unusable frame rate."""


def where(source: str | None) -> str:
    """' in <source>' for messages, or '' when the source is unknown."""
    return f" in {source}" if source else ""


class FarmError(MelfoleyError, RuntimeError):
    """A render farm (Ray cluster) that cannot be reached, lacks resources or cannot see the files."""
