"""Issue 15, points 2, 3 and 8: full disks, same-named edits, killed writers, damaged cache entries.

A full disk is simulated two ways, neither filling the real disk: in a subprocess whose file size
limit (``RLIMIT_FSIZE``) is below the timeline's size, so the kernel fails the write as a full
disk would; and by making ``os.fsync`` raise ``ENOSPC``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from inputs import RATE, clip, edit, gap, one_clip_edit
from test_timeline_media import run_batch

LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from melfoley.plugin.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_that_fails_leaves_the_previous_timeline_and_exits_non_zero(tmp_path, pic):
    tl = one_clip_edit(tmp_path / "cut.otio", pic)
    out = tmp_path / "out"
    assert run_batch(tl, out).ok
    target = out / "cut.foley.otio"
    before = target.read_bytes()
    otio.adapters.read_from_string(before.decode(), "otio_json")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    code = LIMITED.format(limit=len(before) // 3)
    res = subprocess.run([sys.executable, "-c", code, "batch", str(tl), "-o", str(out), "--engine", "debug",
                          "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "cannot write" in res.stderr and "Traceback" not in res.stderr and res.stderr.count("\n") == 1
    assert target.read_bytes() == before  # the good timeline is untouched
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # and no temporary file is left


def test_enospc_on_fsync_names_the_file_and_the_fix(tmp_path, monkeypatch):
    from melfoley.core import atomic

    target = tmp_path / "x.json"
    target.write_text('{"good": true}')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as exc:
        atomic.atomic_text(target, '{"new": 1}')
    assert str(target) in str(exc.value) and "space" in str(exc.value)
    assert target.read_text() == '{"good": true}' and os.listdir(tmp_path) == ["x.json"]


def test_atomic_writes_never_touch_the_process_umask(tmp_path, monkeypatch):
    from melfoley.core import atomic

    mask = os.umask(0o022)
    os.umask(mask)

    def forbidden(_):
        raise AssertionError("os.umask called: it is process-wide and races with writer threads")

    monkeypatch.setattr(os, "umask", forbidden)
    atomic.atomic_text(tmp_path / "a.txt", "x")
    with atomic.atomic_path(tmp_path / "b.txt") as tmp:
        Path(tmp).write_text("y")
    for name in ("a.txt", "b.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask


def _stems(report):
    tl = otio.adapters.read_from_file(report.output_timeline)
    return {Path(otio.url_utils.filepath_from_url(c.media_reference.target_url))
            for t in tl.audio_tracks() for c in t.find_clips()}


def test_same_named_edits_in_one_folder_keep_their_own_stems(tmp_path, pic):
    a = one_clip_edit((tmp_path / "a").mkdir() or tmp_path / "a" / "cut.otio", pic)
    b = edit((tmp_path / "b").mkdir() or tmp_path / "b" / "cut.otio",
             [[clip("A", pic, 20, 10, RATE, media_frames=50)]], RATE, name="Cut")
    stems_a = _stems(run_batch(a, tmp_path / "out", seed=1))  # read before b's run: both write out/cut.foley.otio
    audio_a = {p: sf.read(p)[0] for p in stems_a}
    stems_b = _stems(run_batch(b, tmp_path / "out", seed=2))
    assert stems_a and stems_b and not stems_a & stems_b
    for p, x in audio_a.items():  # the first edit's timeline still plays its own audio
        assert np.array_equal(sf.read(p)[0], x)
        assert json.loads(p.with_suffix(".json").read_text())["timeline"] == str(a)


def test_same_named_edits_in_one_folder_keep_their_own_timelines(tmp_path, pic):
    """Point 3, the timeline: a/cut.otio and b/cut.otio foleyed into one OUT write different output
    timelines, each naming its own edit and playing its own stems, under the same names on every rerun
    (whatever is left on disk)."""
    a = one_clip_edit((tmp_path / "a").mkdir() or tmp_path / "a" / "cut.otio", pic)
    b = edit((tmp_path / "b").mkdir() or tmp_path / "b" / "cut.otio",
             [[clip("A", pic, 20, 10, RATE, media_frames=50)]], RATE, name="Cut")
    out = tmp_path / "out"
    ra, rb = run_batch(a, out, seed=1), run_batch(b, out, seed=2)
    assert ra.ok and rb.ok and ra.output_timeline != rb.output_timeline
    assert Path(ra.output_timeline).name == "cut.foley.otio"  # the first keeps the plain name
    assert re.fullmatch(r"cut\.[0-9a-f]{8}\.foley\.otio", Path(rb.output_timeline).name)
    for r, src in ((ra, a), (rb, b)):
        tl = otio.adapters.read_from_file(r.output_timeline)
        assert tl.metadata["melfoley"]["source_timeline"] == str(src.resolve())
        assert all(json.loads(p.with_suffix(".json").read_text())["timeline"] == str(src) for p in _stems(r))
    assert not _stems(ra) & _stems(rb)
    names = (ra.output_timeline, rb.output_timeline)
    assert (run_batch(b, out, seed=2).output_timeline, run_batch(a, out, seed=1).output_timeline) == names[::-1]
    Path(ra.output_timeline).unlink()  # the first edit's output gone: the second still keeps its own name
    assert run_batch(b, out, seed=2).output_timeline == rb.output_timeline
    assert run_batch(a, out, seed=1, fmt="xml").exported == str(out / "cut.foley.xml")
    assert run_batch(b, out, seed=2, fmt="xml").exported == rb.output_timeline.replace(".otio", ".xml")


def test_inserting_a_clip_renames_no_other_stem(tmp_path, pic):
    one = [clip("A", pic, 0, 10, RATE, media_frames=50), clip("B", pic, 10, 10, RATE, media_frames=50)]
    tl = edit(tmp_path / "cut.otio", [one], RATE)
    first = _by_picture(run_batch(tl, tmp_path / "out"))
    two = [clip("new", pic, 30, 10, RATE, media_frames=50), gap(5, RATE)] + \
          [clip("A", pic, 0, 10, RATE, media_frames=50), clip("B", pic, 10, 10, RATE, media_frames=50)]
    tl = edit(tmp_path / "cut.otio", [two], RATE)
    second = _by_picture(run_batch(tl, tmp_path / "out"))
    assert set(second) == {"A", "B", "new"} and all(second[k] == first[k] for k in ("A", "B")), (first, second)
    assert len(set(second.values())) == 3


def _by_picture(report):
    tl = otio.adapters.read_from_file(report.output_timeline)
    return {c.metadata["melfoley"]["picture_name"]: Path(otio.url_utils.filepath_from_url(c.media_reference.target_url))
            for t in tl.audio_tracks() for c in t.find_clips()}


def test_temporary_files_of_killed_writers_are_removed(tmp_path, pic):
    tl = one_clip_edit(tmp_path / "cut.otio", pic)
    stems = tmp_path / "out" / "stems"
    stems.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = [stems / f".FOLYMisc_x.mf{dead}-0123abcd.wav", tmp_path / "out" / f".cut.foley.mf{dead}-89abcdef.otio"]
    live = stems / f".FOLYMisc_y.mf{os.getpid()}-00112233.wav"  # a writer still running: kept
    for p in stale + [live]:
        p.write_bytes(b"half a file")
    assert run_batch(tl, tmp_path / "out").ok
    assert not any(p.exists() for p in stale) and live.exists()


@pytest.mark.parametrize("damage", ["truncated npz", "json list", "sample rate 0", "nan audio", "stereo"])
def test_damaged_cache_entries_are_discarded_and_rendered_again(tmp_path, pic, damage):
    tl = one_clip_edit(tmp_path / "cut.otio", pic)
    cache = tmp_path / "cache"
    first = run_batch(tl, tmp_path / "o1", cache_root=cache)
    good = sf.read(first.clips[0].stems[0])[0]
    npz = next(cache.rglob("*.npz"))
    js = npz.with_suffix(".json")
    if damage == "truncated npz":
        npz.write_bytes(npz.read_bytes()[:100])
    elif damage == "json list":
        js.write_text("[1, 2]")
    elif damage == "sample rate 0":
        js.write_text(json.dumps({**json.loads(js.read_text()), "sample_rate": 0}))
    else:
        n = np.load(npz)["take0"].shape[0]
        bad = np.full(n, np.nan, np.float32) if damage == "nan audio" else np.zeros((2, n), np.float32)
        np.savez(npz, take0=bad)
    again = run_batch(tl, tmp_path / "o2", cache_root=cache)
    assert again.ok and again.clips[0].status == "done", again.clips[0]
    x = sf.read(again.clips[0].stems[0])[0]
    assert np.all(np.isfinite(x)) and np.sqrt(np.mean(x ** 2)) > 1e-3 and np.allclose(x, good, atol=1e-4)
    assert run_batch(tl, tmp_path / "o3", cache_root=cache).clips[0].status == "cached"  # the entry was rewritten
