"""The sound-library index and the parts of the ``library`` engine.

``index`` (SQLite WAL + FTS5), ``scan`` (walking folders, incremental and resumable),
``metadata`` (UCS names, bext, iXML, folders), ``segment`` (events and textures from the
QCD energy), ``select`` (text match, envelope fit, variety) and ``place`` (events at
contacts, textures along E, 48 kHz). The engine is ``melfoley.core.engines.library``.
"""
