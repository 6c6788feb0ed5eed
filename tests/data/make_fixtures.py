"""Build tests/data/corpus: the small licence-clean slice of the open corpus that the tests need.

Run from the repository with the full corpus at ../shared/corpus (or $MELFOLEY_CORPUS):
``python tests/data/make_fixtures.py``. It copies the first sound of every label (the files
``corpus_sample`` picks; a second one of four labels, :data:`SECOND`), three short videos and the real timelines the tests name or that are
under 100 kB, with the corpus manifests' rows (licence and attribution of every file) and its
LICENSES.md. ``tests/conftest.py`` points ``MELFOLEY_CORPUS`` here when the full corpus is absent.

To keep the set a few MB, sounds longer than :data:`MAX_SOUND_S` keep only their first
:data:`MAX_SOUND_S` seconds, and ``bigbuckbunny.mp4`` is re-encoded at :data:`VIDEO_WIDTH` pixels wide
(H.264, its AAC sound copied untouched); the manifests give the new durations, sizes and
resolution, and the fixture's LICENSES.md and video/README.md say what was changed (all
licences here allow adaptations: CC0, CC-BY, CC-BY-SA, public domain).
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
#: second sounds of four labels: the sound-library tests build libraries of two train recordings
#: each of these (chosen to sort after the label's first, so ``corpus_sample`` is unchanged)
SECOND = {"sfx/glass_break/minetest-data__default_break_glass.3.flac",
          "sfx/footsteps_gravel/minetest-data__default_gravel_footstep.3.flac",
          "sfx/footsteps_wood/minetest-data__default_wood_footstep.2.flac", "sfx/dog_bark/scratch__Dog1.flac"}
#: sounds are cut to their first this many seconds (the tests read a few seconds of each)
MAX_SOUND_S = 10.0
#: videos re-encoded smaller: name -> width (the height keeps the aspect ratio)
SHRINK = {"bigbuckbunny.mp4": 640}
VIDEO_WIDTH = SHRINK["bigbuckbunny.mp4"]
NOTE = f"""

## Changes in the test fixture set (tests/data/corpus)

This is a slice of the corpus for the test suite. Two kinds of change were made on top of the
ones above, both adaptations under the files' own licences (CC-BY-SA-3.0 files stay CC-BY-SA-3.0;
attribution as in the manifests):

- Sounds longer than {MAX_SOUND_S:g} s keep only their first {MAX_SOUND_S:g} s (an excerpt; the
  manifest's `duration_s` is the excerpt's): {{excerpts}}.
- `video/bigbuckbunny.mp4` was re-encoded to {VIDEO_WIDTH} pixels wide (H.264, same frames, frame
  rate and timestamps; its AAC sound copied untouched). "Big Buck Bunny (c) copyright 2008,
  Blender Foundation / www.bigbuckbunny.org", CC-BY-3.0.
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


def _shrink_video(src: Path, dst: Path, width: int) -> str:
    """Re-encode ``src``'s video at ``width`` pixels wide (H.264, every frame at its own timestamp)
    and copy its other streams' packets untouched; the new WxH."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        height = int(round(vin.codec_context.height * width / vin.codec_context.width / 2)) * 2
        vout = out.add_stream("libx264", rate=vin.average_rate, options={"crf": "30", "preset": "slow"})
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        vout.time_base = vin.time_base
        copies = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type == "audio"}
        for packet in inp.demux():
            if packet.stream.index in copies:
                if packet.dts is None:
                    continue
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
            elif packet.stream is vin:
                for frame in packet.decode():
                    small = frame.reformat(width=width, height=height, format="yuv420p")
                    small.pts, small.time_base = frame.pts, frame.time_base
                    out.mux(vout.encode(small))
        out.mux(vout.encode(None))
    return f"{width}x{height}"


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
    rows = _copy_rows(src / "video" / "manifest.csv", dst / "video" / "manifest.csv", lambda r: r["path"] in VIDEOS)
    readme = (src / "video" / "README.md").read_text()
    for r in rows:
        if r["path"] in SHRINK:
            was = r["resolution"]
            r["resolution"] = _shrink_video(src / "video" / r["path"], dst / "video" / r["path"], SHRINK[r["path"]])
            r["size_bytes"] = str((dst / "video" / r["path"]).stat().st_size)
            readme = "\n".join(line.replace(f"| {was} |", f"| {r['resolution']} |") if line.startswith(f"| {r['path']} |")
                               else line for line in readme.split("\n"))
        else:
            shutil.copy2(src / "video" / r["path"], dst / "video" / r["path"])
    _rewrite(dst / "video" / "manifest.csv", rows)
    readme = readme.replace("Files are copied byte-for-byte from the named package; nothing was re-encoded.",
                            "In the corpus, files are copied byte-for-byte from the named package. In this test "
                            f"fixture set, bigbuckbunny.mp4 is re-encoded to {VIDEO_WIDTH} pixels wide (its sound "
                            "copied untouched; see ../LICENSES.md) and picchu_seq0100_snippet_dnx.mov is left out.")
    (dst / "video" / "README.md").write_text(readme)
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
