"""Build the starter sound library from the corpus TRAIN split (the val split stays out).

    python melfoley/resources/library/make_starter.py [--corpus DIR]

Every class of the corpus, every train file, 16-bit FLAC at the file's own rate, renamed to
UCS (``CatID_FXName_CreatorID_SourceID.flac``, CatID from resources/vocabulary.json) in one
folder per class; files longer than ``MAX_S`` are cut to their first ``MAX_S`` seconds
(long ambiences: a texture needs no more) so the whole stays under 40 MB. ``manifest.csv``
keeps, per file, the corpus path, label, licence and attribution (the indexer reads it),
and ATTRIBUTION.md lists them, CC-BY-SA files marked.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from melfoley.core.corpus import corpus_root, load_manifest, split

HERE = Path(__file__).resolve().parent
MAX_S = 12.0
BUDGET = 40 * 1024 * 1024


def ucs_title(text: str) -> str:
    t = re.sub(r"[_\-.]+", " ", text)
    t = re.sub(r"[^A-Za-z0-9 ]+", " ", t)
    return re.sub(r"\s+", " ", t).strip().title()[:60]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=None)
    args = ap.parse_args()
    root = Path(args.corpus or corpus_root())
    voc = {e["label"]: e for e in json.loads((HERE.parent / "vocabulary.json").read_text())["events"]}
    items = split(load_manifest(root), "train")
    for d in HERE.iterdir():
        if d.is_dir():
            shutil.rmtree(d)
    rows, total = [], 0
    for it in items:
        ev = voc.get(it.label, {"catid": "FOLYMisc", "phrase": it.label.replace("_", " ")})
        data, sr = sf.read(str(it.path), dtype="float32", always_2d=False)
        trimmed = data.shape[0] > int(MAX_S * sr)
        if trimmed:
            data = data[: int(MAX_S * sr)]
            k = int(0.05 * sr)
            data[-k:] *= np.linspace(1, 0, k, dtype=np.float32)[:, None] if data.ndim == 2 else np.linspace(1, 0, k, dtype=np.float32)
        pkg, _, stem = it.path.stem.partition("__")
        creator = re.sub(r"[^A-Za-z0-9]+", "", pkg.upper())[:16] or "CORPUS"
        name = f"{ev['catid']}_{ucs_title(ev['phrase'] + ' ' + stem)}_{creator}_MELFOLEY.flac"
        out = HERE / it.label / name
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(out), data, sr, subtype="PCM_16", format="FLAC")
        total += out.stat().st_size
        rows.append({"file": f"{it.label}/{name}", "label": it.label, "licence": it.license,
                     "attribution": it.attribution, "corpus_path": str(it.path.relative_to(root)),
                     "trimmed_to_s": f"{MAX_S:g}" if trimmed else "", "sample_rate": sr})
    if total > BUDGET:
        raise SystemExit(f"starter library is {total / 2**20:.1f} MB, over the 40 MB budget; lower MAX_S")
    with (HERE / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = ["# Starter sound library: attribution and licences", "",
             f"{len(rows)} files from the train split of the melfoley corpus ({len({r['label'] for r in rows})} "
             "classes), re-encoded as 16-bit FLAC, renamed to UCS, long files cut to "
             f"{MAX_S:g} s. The val split is not here: it is the evaluation set.", "",
             "Files marked **CC-BY-SA** are under Creative Commons Attribution-ShareAlike 3.0: share adaptations "
             "under the same licence. CC-BY-3.0 files need the attribution below; CC0 files need nothing.", "",
             "| file | licence | attribution |", "|---|---|---|"]
    for r in rows:
        lic = f"**{r['licence']}**" if "SA" in r["licence"] else r["licence"]
        lines.append(f"| {r['file']} | {lic} | {r['attribution'].replace('|', '/')} |")
    (HERE / "ATTRIBUTION.md").write_text("\n".join(lines) + "\n")
    print(f"starter library: {len(rows)} files, {total / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
