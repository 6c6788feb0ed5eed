"""Build tests/data/corpus: the small licence-clean slice of the open corpus that the tests need.

Run from the repository with the full corpus at ../shared/corpus (or $MELFOLEY_CORPUS):
``python tests/data/make_fixtures.py``. It copies the first sound of every label (the files
``corpus_sample`` picks), three short videos and the real timelines the tests name or that are
under 100 kB, with the corpus manifests' rows (licence and attribution of every file) and its
LICENSES.md. ``tests/conftest.py`` points ``MELFOLEY_CORPUS`` here when the full corpus is absent.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from melfoley.core.corpus import corpus_root  # noqa: E402

VIDEOS = ["bigbuckbunny.mp4", "linear_speed_effects_aaf.mov", "misc_speed_effects_aaf.mov"]
TIMELINES_NAMED = {"otio-aaf-adapter/linear_speed_effects.aaf", "otio-aaf-adapter/misc_speed_effects.aaf",
                   "otio-aaf-adapter/nesting_test.aaf", "otio-aaf-adapter/test_muted_clip.aaf",
                   "otio-fcp-adapter/premiere_example.xml"}
SMALL = 100_000


def _copy_rows(src_csv: Path, dst_csv: Path, keep) -> list[dict]:
    with src_csv.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if keep(r)]
        fields = reader.fieldnames
    dst_csv.parent.mkdir(parents=True, exist_ok=True)
    with dst_csv.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return rows


def main() -> None:
    src = corpus_root()
    dst = HERE / "corpus"
    if dst.exists():
        shutil.rmtree(dst)
    seen: set[str] = set()

    def first_of_label(r):
        if r["label"] in seen:
            return False
        seen.add(r["label"])
        return True

    for r in _copy_rows(src / "manifest.csv", dst / "manifest.csv", first_of_label):
        (dst / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / r["path"], dst / r["path"])
    for r in _copy_rows(src / "video" / "manifest.csv", dst / "video" / "manifest.csv",
                        lambda r: r["path"] in VIDEOS):
        shutil.copy2(src / "video" / r["path"], dst / "video" / r["path"])
    shutil.copy2(src / "video" / "README.md", dst / "video" / "README.md")
    keep = lambda r: r["path"] in TIMELINES_NAMED or int(r["size_bytes"]) < SMALL  # noqa: E731
    for r in _copy_rows(src / "timelines" / "manifest.csv", dst / "timelines" / "manifest.csv", keep):
        (dst / "timelines" / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / "timelines" / r["path"], dst / "timelines" / r["path"])
    for lic in (src / "timelines").glob("*/LICENSE*"):  # the Apache-2.0 texts the manifests point at
        (dst / "timelines" / lic.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(lic, dst / "timelines" / lic.parent.name / lic.name)
    shutil.copy2(src / "LICENSES.md", dst / "LICENSES.md")
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    print(f"{dst}: {sum(1 for p in dst.rglob('*') if p.is_file())} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
