"""Build tests/data/corpus: the small licence-clean slice of the open corpus that the tests need.

Run from the repository with the full corpus at ../shared/corpus (or $MELFOLEY_CORPUS):
``python tests/data/make_fixtures.py``. It copies the first sound of every label (the files
``corpus_sample`` picks; a second one of five labels, :data:`SECOND`), three short videos and the real timelines the tests name or that are
under 100 kB, with the corpus manifests' rows (licence and attribution of every file) and its
LICENSES.md. ``tests/conftest.py`` points ``MELFOLEY_CORPUS`` here when the full corpus is absent.

To keep the set a few MB, sounds longer than :data:`MAX_SOUND_S` keep only their first
:data:`MAX_SOUND_S` seconds; the manifest gives their new durations, and the fixture's LICENSES.md
says what was changed (the licences here allow adaptations: CC0, CC-BY, CC-BY-SA, public
domain). The videos stay byte-for-byte: tests measure what the engines make of their picture
(a re-encoded bigbuckbunny.mp4 changes the debug engine's take levels the panel tests rely on).
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
#: second sounds of five labels: the sound-library tests build libraries of two train recordings
#: of the first four (chosen to sort after the label's first, so ``corpus_sample`` keeps them)
SECOND = {"sfx/glass_break/minetest-data__default_break_glass.3.flac",
          "sfx/footsteps_gravel/minetest-data__default_gravel_footstep.3.flac",
          "sfx/footsteps_wood/minetest-data__default_wood_footstep.2.flac", "sfx/dog_bark/scratch__Dog1.flac",
          # a recording that starts on its sound (the library engine's fade-in test names it)
          "sfx/impact_metal/0ad-data__shield_metal_03.flac"}
#: sounds are cut to their first this many seconds (the tests read a few seconds of each)
MAX_SOUND_S = 10.0
NOTE = f"""

## Changes in the test fixture set (tests/data/corpus)

This is a slice of the corpus for the test suite. One change was made on top of the ones above,
an adaptation under each file's own licence (CC-BY-SA-3.0 files stay CC-BY-SA-3.0; attribution as
in the manifest): sounds longer than {MAX_SOUND_S:g} s keep only their first {MAX_SOUND_S:g} s (an
excerpt; the manifest's `duration_s` is the excerpt's): {{excerpts}}. Every other file is
byte-for-byte the corpus's.
"""


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


def _excerpt(src: Path, dst: Path, seconds: float) -> float | None:
    """Copy ``src`` or, when it is longer than ``seconds``, its first ``seconds`` (same rate and
    sample format, FLAC); the excerpt's duration, or None when copied whole."""
    import soundfile as sf

    info = sf.info(str(src))
    if info.duration <= seconds:
        shutil.copy2(src, dst)
        return None
    n = int(round(seconds * info.samplerate))
    x, sr = sf.read(str(src), frames=n, dtype="int16", always_2d=True)
    sf.write(str(dst), x, sr, format="FLAC", subtype=info.subtype)
    return n / sr


def _rewrite(csv_path: Path, rows: list[dict]) -> None:
    with csv_path.open(newline="") as fh:
        fields = csv.DictReader(fh).fieldnames
    with csv_path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    src = corpus_root()
    dst = HERE / "corpus"
    if dst.exists():
        shutil.rmtree(dst)
    seen: set[str] = set()

    def first_of_label(r):
        if r["path"] in SECOND:
            return True
        if r["label"] in seen:
            return False
        seen.add(r["label"])
        return True

    excerpts = []
    rows = _copy_rows(src / "manifest.csv", dst / "manifest.csv", first_of_label)
    for r in rows:
        (dst / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        cut = _excerpt(src / r["path"], dst / r["path"], MAX_SOUND_S)
        if cut is not None:
            excerpts.append(f"`{r['path']}` ({float(r['duration_s']):g} s)")
            r["duration_s"] = f"{cut:.3f}"
    _rewrite(dst / "manifest.csv", rows)
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
    (dst / "LICENSES.md").write_text((src / "LICENSES.md").read_text().rstrip("\n") + "\n"
                                     + NOTE.format(excerpts=", ".join(excerpts) or "none"))
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    print(f"{dst}: {sum(1 for p in dst.rglob('*') if p.is_file())} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
