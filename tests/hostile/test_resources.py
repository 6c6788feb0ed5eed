"""Issue 15, point 8 and the engine review items: bounded memory and reads, typed options, eviction."""

from __future__ import annotations

import threading
import tracemalloc

import pytest

from inputs import RATE, clip, device_link, edit, fifo
from melfoley.core.errors import MelfoleyError

DEBUG = ("--engine", "debug", "--quiet")


def test_a_ten_hour_clip_on_seconds_of_media_fails_without_allocating(tmp_path, pic, cli):
    ten_hours = 10 * 3600 * 25
    tl = edit(tmp_path / "long.otio", [[clip("long", pic, 0, ten_hours, RATE, media_frames=50)]], RATE)
    tracemalloc.start()
    rc, out, _ = cli("batch", tl, "-o", tmp_path / "out", *DEBUG)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rc == 1 and "the media does not match the edit" in out and "36000.000 s" in out, out
    assert peak < 200 << 20, peak


def test_the_decoder_allocates_for_the_media_not_the_request(pic):
    from melfoley.core.video import read_frames

    tracemalloc.start()
    got = read_frames(pic, 0.0, 36000.0, size=96)  # 10 h asked of 2 s: what exists comes back
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got.frames.shape[0] == 50 and peak < 100 << 20, peak


def _returns_within(fn, seconds):
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked"
    return box


@pytest.mark.parametrize("kind", ["fifo .otio", "/dev/urandom as .edl", "/dev/zero as .otio"])
def test_non_regular_edit_files_are_refused_at_once(tmp_path, kind):
    from melfoley.plugin.timeline import read_timeline

    if kind.startswith("fifo"):
        path = fifo(tmp_path / "cut.otio")
    else:
        dev, suffix = kind.split(" as ")
        path = device_link(tmp_path / f"cut{suffix}", dev)
    box = _returns_within(lambda: read_timeline(path), 20)
    assert isinstance(box.get("error"), MelfoleyError) and "not a regular file" in str(box["error"]), box


def test_a_fifo_as_media_fails_the_clip_at_once(tmp_path, pic, cli):
    pipe = fifo(tmp_path / "pipe.mp4")
    tl = edit(tmp_path / "c.otio", [[clip("p", pipe, 0, 10, RATE, media_frames=50),
                                     clip("ok", pic, 0, 10, RATE, media_frames=50)]], RATE)
    box = _returns_within(lambda: cli("batch", tl, "-o", tmp_path / "out", *DEBUG), 120)
    rc, out, _ = box["value"]
    assert rc == 1 and "done 1" in out and "not a regular file" in out, out


class _Probe:
    """A tiny registered engine (the real registry, not a mock) that records its options and release."""

    name = "hostile-probe"
    OPTIONS = {"steps": int, "highband": bool, "scale": float}
    closed: list = []

    def __init__(self, **options):
        self.options = options

    def close(self):
        _Probe.closed.append(self.options)


def test_engine_options_are_typed_and_unknown_keys_refused():
    from melfoley.core.engine import get_engine, register_engine, release_engines

    register_engine("hostile-probe", _Probe)
    try:
        e = get_engine("hostile-probe", steps="25", highband="false", scale="0.5")
        assert e.options == {"steps": 25, "highband": False, "scale": 0.5}
        for bad, words in (({"steps": "2.5"}, "whole number"), ({"highband": "maybe"}, "true or false"),
                           ({"scale": "nan"}, "a number"), ({"foo": "bar"}, "has no option 'foo'")):
            with pytest.raises(MelfoleyError, match=words):
                get_engine("hostile-probe", **bad)
        with pytest.raises(MelfoleyError, match="has no option 'vocoder'"):
            get_engine("debug", vocoder="griffinlim")
    finally:
        release_engines()


def test_resident_engines_are_evicted_and_released():
    from melfoley.core import engine as eng

    eng.register_engine("hostile-probe", _Probe)
    eng.release_engines()
    _Probe.closed.clear()
    first = eng.get_engine("hostile-probe", steps=1)
    assert eng.get_engine("hostile-probe", steps="1") is first  # the same options, typed: still resident
    eng.get_engine("hostile-probe", steps=2)
    eng.get_engine("hostile-probe", steps=3)
    assert len(eng._RESIDENT) == eng.MAX_RESIDENT and _Probe.closed == [{"steps": 1}]
    eng.release_engines()
    assert not eng._RESIDENT and len(_Probe.closed) == 3


def test_the_command_line_engine_options_do_not_reach_other_engines(tmp_path, pic):
    from melfoley.plugin.batch import BatchConfig, BatchRunner
    from melfoley.plugin.jobs import BatchDefaults

    tl = edit(tmp_path / "c.otio", [[clip("a", pic, 0, 10, RATE, media_frames=50, meta={"engine": "debug"})]], RATE)
    cfg = BatchConfig(timeline=tl, out_dir=tmp_path / "out", defaults=BatchDefaults(engine="embedded"),
                      engine_options=(("vocoder", "griffinlim"),))
    report = BatchRunner(cfg).run()  # the debug engine takes no options: with them it would be refused
    assert report.ok and report.count("done") == 1, report.to_dict()
    import json
    from pathlib import Path

    side = json.loads(Path(report.clips[0].stems[0]).with_suffix(".json").read_text())
    assert side["engine"]["engine"] == "debug" and "options" not in side["engine"]  # nor in its cache key
