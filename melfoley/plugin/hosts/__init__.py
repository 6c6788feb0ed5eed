"""Host bridges: DaVinci Resolve, Nuke Studio / Hiero, and a watch folder.

Two sides, kept apart on purpose:

- **host side** (runs inside the editor's own Python, which may be another interpreter than
  melfoley's): :mod:`.bridge`, :mod:`.resolve`, :mod:`.hiero`, :mod:`.hiero_panel` and the
  entry scripts under ``entry/``. They import only the standard library and the host's API
  (and, for Hiero, the host's PySide6): never numpy, OTIO or torch. They reach melfoley
  through its command line (``python -m melfoley.plugin.cli host run ...``) in a child
  process, with the interpreter recorded at install time.
- **melfoley side**: :mod:`.install` (``melfoley host install``), :mod:`.run` (the child's
  batch with machine-readable progress), :mod:`.progress_window` and :mod:`.watch`.

This ``__init__`` imports nothing, so an entry script can load the package by path.
"""
