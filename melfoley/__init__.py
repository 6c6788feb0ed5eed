"""melfoley: synchronized, editable Foley for picture edits (Mel-QCD).

Sub-packages, imports pointing one way (ui -> plugin -> core):
- ``melfoley.core``: the engine (mel front-ends, QCD math, video, models). No Qt, no OTIO.
- ``melfoley.plugin``: timelines, stems, batch runner and the ``melfoley`` command line.
- ``melfoley.ui``: the PySide6 panel.
- ``melfoley.resources``: vocabulary, embedded weights, sample edit.
"""

__version__ = "0.1.0"
