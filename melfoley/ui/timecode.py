"""Timecode for the viewer, the timeline ruler and the transport: SMPTE at the edit's exact rate.

``smpte(seconds, rate)`` reads an absolute time (global start included) as ``HH:MM:SS:FF``
(``;`` before the frames for drop-frame 29.97 / 59.94, as editors write it); ``frame_of`` is
the frame number at that rate. OTIO does the counting, so the panel reads what the host reads.
"""

from __future__ import annotations

import math
from fractions import Fraction

import opentimelineio as otio

from melfoley.plugin.timeline import is_drop_frame


def frame_of(seconds: float, rate: Fraction | float) -> int:
    """The frame that is showing at ``seconds`` (floor, with a little slack for float seconds)."""
    return int(math.floor(float(seconds) * float(rate) + 1e-6))


def smpte(seconds: float, rate: Fraction | float) -> str:
    rate = Fraction(rate).limit_denominator(1001) if not isinstance(rate, Fraction) else rate
    drop = is_drop_frame(rate)
    tc = otio.opentime.to_timecode(otio.opentime.RationalTime(frame_of(max(0.0, seconds), rate), float(rate)),
                                   float(rate), drop)
    return tc[:8] + ";" + tc[9:] if drop else tc
