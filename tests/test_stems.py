"""Stem files: UCS names, 48 kHz resampling with exact length, sidecars with every parameter."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from wavinfo import WavInfoReader

from melfoley.core.control import QCDControl
from melfoley.plugin.jobs import BatchDefaults, build_job, build_segments, event_for, marker_prompt
from melfoley.plugin.stems import to_48k, ucs_field, ucs_name, write_stem
from melfoley.plugin.timeline import ClipMarker, find_picture_clips, read_timeline
from test_timeline_media import clip, edit, render_media


def test_ucs_name_fields():
    name = ucs_name("FOLYFeet", "Footsteps On Gravel", "C3F9A1C20", 3, "My Show")
    assert name == "FOLYFeet_Footsteps On Gravel C3F9A1C20 v003_MELFOLEY_MYSHOW.wav"
    odd = ucs_name("FOLYMisc", "door_close - slam/hard: \"x\"", "C_1-2", 1, "a_b-c")
    cat, fx, creator, source = odd[:-4].split("_")
    assert cat == "FOLYMisc" and creator == "MELFOLEY" and source == "ABC"
    assert "-" not in fx and not re.search(r'[\\/:*?"<>|]', fx)
    assert ucs_field("") == "Untitled"


def test_catid_comes_from_the_vocabulary():
    ev = event_for("footsteps on gravel")
    assert ev.catid == "FOLYFeet" and ev.label == "footsteps_gravel" and ev.matched
    assert event_for("glass breaking").catid == "GLASBrk"
    odd = event_for("zzqx blorf")
    assert odd.catid == "FOLYMisc" and not odd.matched
    assert event_for("anything", "door_close").catid == "DOORWood"  # explicit event label wins


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
def test_resampling_is_exact_in_length_and_keeps_the_band(sr):
    t = np.arange(int(1.3 * sr)) / sr
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    n = 62_345
    y = to_48k(x, sr, n)
    assert y.shape == (n,) and y.dtype == np.float32
    spec = np.abs(np.fft.rfft(y[:48000]))
    assert abs(np.argmax(spec) * 48000 / 48000 - 1000) <= 1  # the tone stays at 1 kHz
    assert 0.6 < np.max(np.abs(y[1000:40000])) < 1.05


def _job(tmp_path, meta=None, markers=()):
    rate = Fraction(24000, 1001)
    media = render_media(tmp_path, "m.mp4", rate, 2.0, kind="counter")
    tl = edit(tmp_path / "e.otio", [[clip("Walk", media, 0, 36, rate, meta=meta)]], rate, start_frames=86400,
              name="Show")
    c = find_picture_clips(read_timeline(tl)).clips[0]
    if markers:
        from dataclasses import replace

        c = replace(c, markers=tuple(markers))
    return build_job(c, BatchDefaults(prompt="footsteps on gravel", takes=1, seed=5, engine="debug"))


def test_write_stem_with_sidecar(tmp_path):
    job = _job(tmp_path, meta={"seed": 11, "takes": 2})
    assert (job.seed, job.takes, job.sources["prompt"]) == (11, 2, "command line")
    ctl = QCDControl.silent(40, "hifigan22k")
    audio = np.random.default_rng(0).standard_normal(int(job.clip.duration * 22050)).astype(np.float32) * 0.1
    stem = write_stem(tmp_path / "stems", job, take=2, audio=audio, sample_rate=22050, seed=12,
                      control_dict=ctl.to_dict(), engine_info={"engine": "debug", "model": "m", "weights_sha256": "ab",
                                                               "content_bandwidth_hz": 8000.0},
                      show="Show", project="Show", cache_key="k" * 64)
    assert stem.path.name == f"FOLYFeet_Footsteps On Gravel C{job.clip.stem_id} v002_MELFOLEY_SHOW.wav"
    assert re.fullmatch(r"[0-9A-F]{8}", job.clip.stem_id)
    assert sf.info(stem.path).frames == 36 * 2002 == job.clip.samples()
    info = WavInfoReader(str(stem.path))
    assert info.bext.time_reference == 172_972_800
    assert "footsteps on gravel" in info.bext.description[:64] and "seed 12" in info.bext.description[:64]
    assert "soxr VHQ resample 22050->48000" in info.bext.coding_history and "8000 Hz" in info.bext.coding_history
    assert info.ixml.take == "2" and info.ixml.scene == "Walk" and info.ixml.project == "Show"
    doc = json.loads(stem.sidecar.read_text())
    assert doc["settings"]["seed"] == 11 and doc["settings"]["take_seed"] == 12 and doc["settings"]["take"] == 2
    assert doc["audio"]["true_bandwidth_hz"] == 8000.0 and doc["audio"]["model_sample_rate"] == 22050
    assert doc["clip"]["rate"] == "24000/1001" and doc["clip"]["record_in_timecode"] == "01:00:00:00"
    assert doc["engine"]["weights_sha256"] == "ab" and doc["event"]["catid"] == "FOLYFeet"
    assert QCDControl.from_dict(doc["control"]) == ctl


def test_prompt_markers_and_metadata_ranges_make_segments(tmp_path):
    mk = ClipMarker("foley: door closing", "", Fraction(1), Fraction(2))  # seconds on the timeline
    ignored = ClipMarker("VFX fix", "check the sky", Fraction(0), Fraction(1))
    job = _job(tmp_path, markers=[mk, ignored])
    dur = job.clip.duration
    assert [(s.start, s.end, s.prompt) for s in job.segments] == [
        (0, 1, "footsteps on gravel"), (1, dur, "door closing")]
    assert marker_prompt(ClipMarker("x", "melfoley: glass breaking", 0, 1)) == "glass breaking"
    assert marker_prompt(ClipMarker("x", "", 0, 1, {"prompt": "rain"})) == "rain"
    assert marker_prompt(ignored) is None


def test_short_segments_merge(tmp_path):
    c = _job(tmp_path).clip
    segs = build_segments(c, "a", [(Fraction(1, 10), Fraction(2, 10), "b"), (Fraction(1), Fraction(5, 4), "c")])
    assert segs[0].start == 0 and segs[-1].end == c.duration
    assert all(s.end - s.start >= Fraction(1, 4) for s in segs)
    assert [s.prompt for s in segs] == ["a", "c", "a"]


@pytest.mark.parametrize("meta, key", [({"takes": 0}, "takes"), ({"seed": "x"}, "seed"), ({"prompt": ""}, "prompt"),
                                        ({"energy": [0.5, 2.0]}, "energy"), ({"energy": {"times": [0]}}, "energy"),
                                        ({"prompts": [{"start": 0}]}, "prompts")])
def test_bad_clip_metadata_names_the_clip_and_the_key(tmp_path, meta, key):
    with pytest.raises(Exception) as exc:
        _job(tmp_path, meta=meta)
    assert f'["{key}"]' in str(exc.value) and "'Walk'" in str(exc.value)
