"""Edits over media the tests render (known rates and frame counts), foleyed with the debug engine.

Also the shared builders the other plugin tests import (``render_media``, ``edit``, ``run_batch``,
``stop_batch_cli``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from wavinfo import WavInfoReader

from melfoley.core.synthvideo import render_counter_video, render_impact_video
from melfoley.plugin.batch import BatchConfig, BatchRunner
from melfoley.plugin.jobs import BatchDefaults
from melfoley.plugin.timeline import find_picture_clips, read_timeline


def render_media(folder: Path, name: str, fps, seconds: float, *, kind: str = "bounce", vfr: bool = False) -> Path:
    path = Path(folder) / name
    if not path.exists():
        if kind == "counter":
            render_counter_video(path, fps=fps, n_frames=int(round(seconds * fps)), size=(160, 120), vfr=vfr)
        else:
            render_impact_video(path, kind=kind, fps=fps, duration=seconds, size=(160, 120), seed=1, vfr=vfr)
    return path


def rt(v, rate):
    return otio.opentime.RationalTime(v, float(rate))


def trange(s, d, rate):
    return otio.opentime.TimeRange(rt(s, rate), rt(d, rate))


def clip(name, media: Path | str, src_start, frames, rate, *, media_frames=1000, meta=None, url=None):
    ref = otio.schema.ExternalReference(target_url=url or str(media), available_range=trange(0, media_frames, rate))
    c = otio.schema.Clip(name=name, media_reference=ref, source_range=trange(src_start, frames, rate))
    if meta:
        c.metadata["melfoley"] = meta
    return c


def gap(frames, rate):
    return otio.schema.Gap(source_range=trange(0, frames, rate))


def edit(path: Path, tracks: list[list], rate, *, start_frames=0, name="Test Edit") -> Path:
    """Write an .otio with one video track per list of items; ``start_frames`` sets the global start."""
    tl = otio.schema.Timeline(name=name, global_start_time=rt(start_frames, rate))
    for items in tracks:
        tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        for it in items:
            tr.append(it)
        tl.tracks.append(tr)
    otio.adapters.write_to_file(tl, str(path))
    return path


def run_batch(timeline: Path, out: Path, *, progress=None, engine_factory=None, **kw):
    defaults = BatchDefaults(prompt=kw.pop("prompt", "footsteps"), takes=kw.pop("takes", 1), seed=kw.pop("seed", 0),
                             engine="debug")
    cfg = BatchConfig(timeline=Path(timeline), out_dir=Path(out), defaults=defaults, **kw)
    return BatchRunner(cfg, progress=progress, engine_factory=engine_factory).run()


def stop_batch_cli(cmd: list[str], out: Path, sig: str, *, after: int = 2, timeout: float = 90.0):
    """Start ``melfoley batch`` (``cmd``) the way a render manager's wrapper or ``cmd &`` in a script
    does (its own session, SIGINT inherited *ignored*), send ``sig`` once ``after`` stems are in
    ``out``/stems, and return (returncode, stdout, stderr). The process group is killed if it hangs."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(list((out / "stems").glob("*.wav"))) < after and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(getattr(signal, sig))
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, stdout, stderr


RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(50),
         Fraction(60000, 1001)]


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{float(r):.3f}")
def test_stem_length_and_time_reference_at_every_rate(tmp_path, rate):
    media = render_media(tmp_path, "m.mp4", rate, 1.5, kind="counter")
    one_hour = int(round(3600 * rate)) if rate.denominator == 1 else int(3600 * round(rate))  # 01:00:00:00
    tl = edit(tmp_path / "e.otio", [[gap(3, rate), clip("c", media, 5, 17, rate, media_frames=int(1.5 * rate))]],
              rate, start_frames=one_hour)
    report = run_batch(tl, tmp_path / "out")
    assert report.ok, report.to_dict()
    (stem,) = report.clips[0].stems
    info = WavInfoReader(stem)
    dur = Fraction(17) / rate
    assert info.data.frame_count == round(dur * 48000)
    record_in = (Fraction(one_hour) + 3) / rate
    assert info.bext.time_reference == round(record_in * 48000)
    assert info.ixml.raw_xml.find("SPEED/TIMECODE_RATE").text == f"{rate.numerator}/{rate.denominator}"
    flag = info.ixml.raw_xml.find("SPEED/TIMECODE_FLAG").text
    assert flag == ("DF" if rate in (Fraction(30000, 1001), Fraction(60000, 1001)) else "NDF")


def test_one_hour_at_2398_gives_the_documented_time_reference(tmp_path):
    rate = Fraction(24000, 1001)
    media = render_media(tmp_path, "m.mp4", rate, 1.0, kind="counter")
    tl = edit(tmp_path / "e.otio", [[clip("c", media, 0, 12, rate, media_frames=24)]], rate, start_frames=86400)
    report = run_batch(tl, tmp_path / "out")
    info = WavInfoReader(report.clips[0].stems[0])
    assert info.bext.time_reference == 172_972_800
    src = read_timeline(tl)
    assert find_picture_clips(src).clips[0].timecode() == "01:00:00:00"


def test_time_warps_keep_the_record_duration(tmp_path):
    rate = Fraction(25)
    media = render_media(tmp_path, "m.mp4", rate, 4.0)
    fast = clip("fast", media, 0, 25, rate, media_frames=100)
    fast.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    freeze = clip("freeze", media, 30, 20, rate, media_frames=100)
    freeze.effects.append(otio.schema.FreezeFrame())
    rev = clip("rev", media, 60, 20, rate, media_frames=100)
    rev.effects.append(otio.schema.LinearTimeWarp(time_scalar=-1.0))
    tl = edit(tmp_path / "e.otio", [[fast, freeze, rev]], rate)
    report = run_batch(tl, tmp_path / "out")
    assert report.ok, report.to_dict()
    for res, frames in zip(report.clips, (25, 20, 20)):
        assert sf.info(res.stems[0]).frames == frames * 48000 // 25
        assert any("honoured" in n for n in res.notes)


def test_variable_frame_rate_media_is_conformed(tmp_path):
    rate = Fraction(30000, 1001)
    media = render_media(tmp_path, "vfr.mp4", rate, 2.0, kind="counter", vfr=True)
    tl = edit(tmp_path / "e.otio", [[clip("v", media, 3, 30, rate, media_frames=60)]], rate)
    report = run_batch(tl, tmp_path / "out")
    assert report.ok, report.to_dict()
    assert sf.info(report.clips[0].stems[0]).frames == round(Fraction(30) / rate * 48000)


def test_energy_edit_from_clip_metadata_shapes_the_stem(tmp_path):
    rate = Fraction(25)
    media = render_media(tmp_path, "m.mp4", rate, 4.0)
    quiet = clip("quiet", media, 0, 50, rate, meta={"energy": {"times": [0, 2], "values": [0, 0]}})
    loud = clip("loud", media, 0, 50, rate, meta={"energy": [0.9, 0.9]})
    tl = edit(tmp_path / "e.otio", [[quiet, loud]], rate)
    report = run_batch(tl, tmp_path / "out")
    assert report.ok, report.to_dict()
    rms = [float(np.sqrt(np.mean(sf.read(r.stems[0])[0] ** 2))) for r in report.clips]
    assert rms[0] < 0.1 * rms[1]
