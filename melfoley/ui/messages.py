"""Errors in the panel's words: what the panel offers, never command-line flags.

The engines and the plugin layer speak to the command line ("pass --weights DIR", "relink
it with --media-root", "--engine embedded"); :func:`panel_words` rewrites those phrases into
the panel's own controls, and :func:`needs_weights` tells the panel to offer the weights
folder chooser next to the message.
"""

from __future__ import annotations

import re

_PHRASES = (
    (r"pass --weights DIR", "choose its weights folder (Weights folder\u2026 next to Engine)"),
    (r"Point --weights at a folder", "Choose a weights folder (Weights folder\u2026 next to Engine)"),
    (r"a --weights folder", "a weights folder"),
    (r"use --engine embedded \(CPU\), pass --fallback to fall back to it automatically, or pass device='cpu' "
     r"to run the paper models on the CPU \(very slow\)", "switch the clip's Engine to embedded (CPU)"),
    (r"--engine (\w+)", r"the \1 engine (Engine menu of the clip)"),
    (r"pass --fallback[^;.]*", "switch the clip's Engine to embedded"),
    (r"relink it with --media-root", "relink it: File > Media folder\u2026"),
    (r"relink with --media-root FOLDER", "relink it: File > Media folder\u2026"),
    (r"under --media-root", "under the media folder"),
    (r"--media-root", "File > Media folder\u2026"),
    (r"--loudness -?\d+", "a loudness target"),
    (r"`melfoley convert CKPT OUT_DIR`", "the melfoley convert command (docs/paper_tier.md)"),
)


def panel_words(message: str) -> str:
    out = str(message)
    for pattern, repl in _PHRASES:
        out = re.sub(pattern, repl, out)
    return re.sub(r"(?<![\w-])--[a-z][\w-]*", "the matching setting", out)  # any flag left


def needs_weights(message: str) -> bool:
    m = message.lower()
    return "weights" in m and any(w in m for w in ("needs its weights", "incomplete", "missing", "not found"))
