"""The open sound-effects corpus (../shared/corpus): manifest, labels and a fixed split.

The corpus root is ``$MELFOLEY_CORPUS`` or ``../shared/corpus`` beside the repository.
The split is deterministic (a hash of the file path), stratified per label: about 20 %
of each label with at least 3 files goes to ``val``, which no model trains on.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import MelfoleyError

VAL_FRACTION = 0.2


@dataclass(frozen=True)
class CorpusItem:
    path: Path
    label: str
    license: str
    attribution: str
    duration: float
    split: str


def corpus_root() -> Path:
    env = os.environ.get("MELFOLEY_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "corpus"


def _rank(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()


def load_manifest(root: Path | None = None) -> list[CorpusItem]:
    """Every sound file of the corpus with its label, licence and split."""
    root = Path(root or corpus_root())
    manifest = root / "manifest.csv"
    if not manifest.exists():
        raise MelfoleyError(
            f"corpus manifest {manifest} not found; set MELFOLEY_CORPUS to the folder holding manifest.csv and sfx/"
        )
    with manifest.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    items = []
    for label, group in sorted(by_label.items()):
        group = sorted(group, key=lambda r: _rank(r["path"]))
        n_val = int(round(len(group) * VAL_FRACTION)) if len(group) >= 3 else 0
        n_val = max(n_val, 1) if len(group) >= 3 else 0
        for i, row in enumerate(group):
            items.append(CorpusItem(root / row["path"], label, row["license"], row["attribution"],
                                    float(row["duration_s"]), "val" if i < n_val else "train"))
    return sorted(items, key=lambda it: str(it.path))


def split(items: list[CorpusItem], name: str) -> list[CorpusItem]:
    return [it for it in items if it.split == name]
