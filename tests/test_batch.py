"""The batch runner and ``melfoley batch``: failure isolation, cache and resume, interrupts, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from fractions import Fraction

import opentimelineio as otio
import pytest
from wavinfo import WavInfoReader

from melfoley.core.engine import get_engine
from melfoley.plugin.cli import main
from test_timeline_media import clip, edit, gap, render_media, run_batch, stop_batch_cli

RATE = Fraction(25)


class CountingEngine:
    """The real debug engine, counting the clips it is asked to render (instrumentation, not a mock)."""

    def __init__(self, fail_on: str | None = None, interrupt_on: str | None = None):
        self.inner = get_engine("debug")
        self.calls: list[str] = []
        self.fail_on, self.interrupt_on = fail_on, interrupt_on
        self.sample_rate = self.inner.sample_rate
        self.picture_size, self.picture_fps = self.inner.picture_size, self.inner.picture_fps

    def __call__(self, name):
        return self

    def describe(self):
        return self.inner.describe()

    def generate(self, requests, progress=None):
        label = requests[0].clip_id
        self.calls.append(label)
        if self.interrupt_on and self.interrupt_on in label:
            raise KeyboardInterrupt
        if self.fail_on and self.fail_on in label:
            raise RuntimeError("renderer exploded")
        return self.inner.generate(requests, progress)


@pytest.fixture
def media(tmp_path):
    return render_media(tmp_path, "m.mp4", RATE, 3.0)


def _three(tmp_path, media, **extra):
    items = [clip("one", media, 0, 20, RATE, media_frames=75), gap(5, RATE),
             clip("two", media, 20, 15, RATE, media_frames=75),
             clip("three", media, 40, 25, RATE, media_frames=75, **extra)]
    return edit(tmp_path / "e.otio", [items], RATE, start_frames=90000)


def _stems_in(report):
    tl = otio.adapters.read_from_file(report.output_timeline)
    return tl, sorted(c.metadata["melfoley"]["picture_name"] for t in tl.audio_tracks() for c in t.find_clips())


def test_missing_and_broken_media_fail_per_clip_the_rest_is_done(tmp_path, media):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    items = [clip("ok", media, 0, 20, RATE), clip("gone", tmp_path / "nope.mp4", 0, 10, RATE),
             clip("broken", broken, 0, 10, RATE), clip("bad meta", media, 0, 10, RATE, meta={"takes": 99}),
             clip("ok2", media, 10, 10, RATE)]
    tl = edit(tmp_path / "e.otio", [items], RATE)
    eng = CountingEngine(fail_on="ok2")
    report = run_batch(tl, tmp_path / "out", engine_factory=eng)
    status = {c.name: (c.status, c.reason) for c in report.clips}
    assert status["ok"][0] == "done"
    assert status["gone"][0] == "failed" and "media not found" in status["gone"][1] and "'gone'" in status["gone"][1]
    assert status["broken"][0] == "failed" and "broken.mp4" in status["broken"][1]
    assert status["bad meta"][0] == "failed" and '["takes"]' in status["bad meta"][1]
    assert status["ok2"][0] == "failed" and "renderer exploded" in status["ok2"][1]
    assert not report.ok
    tl_out, names = _stems_in(report)
    assert names == ["ok"] and tl_out.metadata["melfoley"]["complete"] is True
    doc = json.loads((tmp_path / "out" / "e.foley.report.json").read_text())
    assert doc["totals"]["failed"] == 4 and doc["totals"]["done"] == 1


def test_rerun_redoes_only_what_is_missing(tmp_path, media):
    tl = _three(tmp_path, media)
    eng = CountingEngine()
    first = run_batch(tl, tmp_path / "out", engine_factory=eng)
    assert first.ok and len(eng.calls) == 3 and first.count("done") == 3
    eng.calls.clear()
    again = run_batch(tl, tmp_path / "out", engine_factory=eng)
    assert eng.calls == [] and again.count("cached") == 3
    # a stem deleted by hand comes back from the take cache, still without rendering
    (tmp_path / "out" / "stems").joinpath(again.clips[1].stems[0].split("/")[-1]).unlink()
    third = run_batch(tl, tmp_path / "out", engine_factory=eng)
    assert eng.calls == [] and third.count("cached") == 3
    # a new seed on one clip renders that clip only
    tl2 = _three(tmp_path, media, meta={"seed": 9})
    run_batch(tl2, tmp_path / "out", engine_factory=eng)
    assert len(eng.calls) == 1 and "three" in eng.calls[0]


def test_a_clip_moved_on_the_timeline_reuses_its_takes_with_a_new_time_reference(tmp_path, media):
    eng = CountingEngine()
    a = edit(tmp_path / "a.otio", [[clip("s", media, 0, 20, RATE)]], RATE)
    ra = run_batch(a, tmp_path / "oa", engine_factory=eng)
    b = edit(tmp_path / "b.otio", [[gap(50, RATE), clip("s", media, 0, 20, RATE)]], RATE)
    rb = run_batch(b, tmp_path / "ob", engine_factory=eng)
    assert len(eng.calls) == 1 and rb.clips[0].status == "cached"
    ta = WavInfoReader(ra.clips[0].stems[0]).bext.time_reference
    tb = WavInfoReader(rb.clips[0].stems[0]).bext.time_reference
    assert tb - ta == 2 * 48000


def test_interrupt_leaves_finished_stems_and_a_valid_partial_timeline(tmp_path, media):
    tl = _three(tmp_path, media)
    eng = CountingEngine(interrupt_on="two")
    report = run_batch(tl, tmp_path / "out", engine_factory=eng)
    assert report.interrupted and not report.ok
    out, names = _stems_in(report)
    assert names == ["one"] and out.metadata["melfoley"]["complete"] is False
    stems = sorted(p.name for p in (tmp_path / "out" / "stems").iterdir())
    assert len(stems) == 2 and not any(n.startswith(".") for n in stems)  # one wav + sidecar, no temp files
    # the rerun finishes: clip one comes from what is on disk, the others are rendered
    eng2 = CountingEngine()
    done = run_batch(tl, tmp_path / "out", engine_factory=eng2)
    assert done.ok and [c.status for c in done.clips] == ["cached", "done", "done"]
    assert len(eng2.calls) == 2
    out, names = _stems_in(done)
    assert names == ["one", "three", "two"] and out.metadata["melfoley"]["complete"] is True


def test_interrupt_from_the_progress_callback(tmp_path, media):
    tl = _three(tmp_path, media)
    seen = []

    def progress(p):
        seen.append(p)
        if p.done == 2:
            raise KeyboardInterrupt

    report = run_batch(tl, tmp_path / "out", progress=progress)
    assert report.interrupted and report.count("done") == 2
    assert _stems_in(report)[1] == ["one", "two"]
    assert seen[0].done == 0 and seen[0].total == 3 and seen[1].eta is not None



def test_interrupt_from_the_first_progress_tick_is_an_interrupt_not_a_crash(tmp_path, media):
    tl = _three(tmp_path, media)

    def progress(p):
        raise KeyboardInterrupt  # the very first tick, before any clip ran

    report = run_batch(tl, tmp_path / "out", progress=progress)
    assert report.interrupted and report.count("done") == 0
    assert otio.adapters.read_from_file(report.exported).tracks is not None  # a valid partial timeline is left


def test_corpus_video_relinked_with_media_root(tmp_path, corpus):
    rate = Fraction(25)
    url = "file://localhost/D%3a/Old%20Drive/bigbuckbunny.mp4"  # a Windows path from another machine
    tl = edit(tmp_path / "e.otio", [[clip("bunny", "x", 25, 50, rate, media_frames=132, url=url)]], rate)
    report = run_batch(tl, tmp_path / "out", media_root=corpus / "video")
    assert report.ok, report.to_dict()
    assert WavInfoReader(report.clips[0].stems[0]).data.frame_count == 2 * 48000


def test_cli_progress_report_and_exit_codes(tmp_path, media, capsys):
    tl = _three(tmp_path, media)
    rc = main(["batch", str(tl), "-o", str(tmp_path / "out"), "--engine", "debug", "--takes", "2", "--seed", "3",
               "--prompt", "glass breaking"])
    cap = capsys.readouterr()
    assert rc == 0, cap
    assert "3/3 clips" in cap.err and "left" in cap.err
    assert "done 3, cached 0, failed 0" in cap.out
    assert f"stems:    {tmp_path / 'out' / 'stems'}" in cap.out and "e.foley.otio" in cap.out
    stems = sorted((tmp_path / "out" / "stems").glob("*.wav"))
    assert len(stems) == 6 and all(s.name.startswith("GLASBrk_Glass Breaking C") for s in stems)
    side = json.loads(next(s for s in stems if " v002_" in s.name).with_suffix(".json").read_text())
    assert side["settings"]["seed"] == 3 and side["settings"]["take_seed"] == 4

    bad = edit(tmp_path / "bad.otio", [[clip("gone", tmp_path / "nope.mp4", 0, 10, RATE)]], RATE)
    rc = main(["batch", str(bad), "-o", str(tmp_path / "out2"), "--engine", "debug", "--quiet"])
    cap = capsys.readouterr()
    assert rc == 1 and "FAILED" in cap.out and "media not found" in cap.out and cap.err == ""

    rc = main(["batch", str(tmp_path / "missing.otio"), "-o", str(tmp_path / "out3"), "--engine", "debug"])
    assert rc == 2 and "not found" in capsys.readouterr().err


def test_the_shipped_demo_edit_foleys(tmp_path):
    from pathlib import Path

    import melfoley

    demo = Path(melfoley.__file__).parent / "resources" / "demo" / "demo.otio"
    report = run_batch(demo, tmp_path / "demo")
    assert report.ok, report.to_dict()
    assert [c.status for c in report.clips] == ["done"] * 3
    assert sum(len(c.stems) for c in report.clips) == 4  # the first shot asks for 2 takes
    side = json.loads(Path(report.clips[1].stems[0]).with_suffix(".json").read_text())
    assert [s["prompt"] for s in side["settings"]["segments"]] == ["leaves rustling", "clothing rustle",
                                                                  "leaves rustling"]
    assert side["clip"]["record_in_timecode"] == "01:00:02:22"  # 60 + 12 frames at 25 fps


def test_an_engine_that_cannot_load_fails_each_clip_with_its_reason(tmp_path, media):
    from melfoley.core.errors import WeightsError

    calls = []

    def factory(name):
        calls.append(name)
        raise WeightsError(f"{name} engine weights missing; train them")

    report = run_batch(_three(tmp_path, media), tmp_path / "out", engine_factory=factory)
    assert [c.status for c in report.clips] == ["failed"] * 3
    assert all("weights missing" in c.reason for c in report.clips)
    assert calls == ["debug"]  # tried once, remembered


def test_edl_clip_relinked_by_name_is_placed_by_the_file_timecode(tmp_path):
    """An EDL names no files; --media-root finds 'shot.mov' by clip name, and the movie's own
    start timecode (01:00:00:00) maps the EDL's source timecodes into the file."""
    import av
    import numpy as np

    from melfoley.core.synthvideo import counter_image
    from melfoley.plugin.timeline import find_picture_clips, media_timecode, read_timeline

    media = tmp_path / "media"
    media.mkdir()
    movie = media / "shot.mov"
    with av.open(str(movie), "w") as c:
        c.metadata["timecode"] = "01:00:00:00"
        st = c.add_stream("mpeg4", rate=25)
        st.width, st.height, st.pix_fmt = 160, 120, "yuv420p"
        for i in range(75):
            for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(counter_image(i, (160, 120))),
                                                          format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    assert media_timecode(movie, Fraction(25)) == 3600
    edl = tmp_path / "cut.edl"
    edl.write_text("TITLE: cut\nFCM: NON-DROP FRAME\n\n"
                   "001  shot     V     C        01:00:00:10 01:00:02:10 01:00:00:00 01:00:02:00\n"
                   "* FROM CLIP NAME:  shot\n")
    src = read_timeline(edl, edl_rate=25)
    c = find_picture_clips(src, media_root=media).clips[0]
    assert c.media_path == movie and c.media_available is None
    assert c.media_window(3.0, media_timecode(movie, Fraction(25))) == (pytest.approx(0.4), pytest.approx(2.0))
    report = run_batch(edl, tmp_path / "out", media_root=media, edl_rate=25)
    assert report.ok, report.to_dict()
    assert any("start timecode" in n for n in report.clips[0].notes)
    assert WavInfoReader(report.clips[0].stems[0]).bext.time_reference == 3600 * 48000


def test_paper_engine_flags_name_the_missing_weights_and_fall_back_on_request(tmp_path, media, capsys):
    tl = _three(tmp_path, media)
    missing = tmp_path / "no_weights"
    rc = main(["batch", str(tl), "-o", str(tmp_path / "out"), "--engine", "paper", "--weights", str(missing),
               "--quiet"])
    out = capsys.readouterr().out
    assert rc == 1 and "done 0" in out and str(missing) in out and "melfoley convert" in out
    rc = main(["batch", str(tl), "-o", str(tmp_path / "out2"), "--engine", "paper", "--weights", str(missing),
               "--fallback", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and "done 3, cached 0, failed 0" in out
    side = json.loads(next((tmp_path / "out2" / "stems").glob("*.json")).read_text())
    assert side["engine"]["engine"] == "embedded"  # the stem says which engine really rendered it


def test_the_partial_timeline_is_written_at_a_bounded_rate_and_is_valid_at_every_clip(tmp_path, media):
    """Issue 15: rebuilding the timeline after every clip made long edits quadratic. Now it is
    written when at least 2 s have passed (and its writes take at most a tenth of the run); the
    file on disk parses as a timeline whenever a clip has finished."""
    from melfoley.plugin.batch import BatchConfig, BatchRunner
    from melfoley.plugin.jobs import BatchDefaults

    items = [clip(f"c{i:02d}", media, i * 3, 5, RATE, media_frames=75) for i in range(20)]
    tl = edit(tmp_path / "e.otio", [items], RATE)
    out = tmp_path / "out"
    seen = []

    def progress(p):
        doc = otio.adapters.read_from_file(str(out / "e.foley.otio"))  # never half-written
        seen.append(len([c for t in doc.audio_tracks() for c in t.find_clips()]))

    cfg = BatchConfig(timeline=tl, out_dir=out, defaults=BatchDefaults(engine="debug"))
    runner = BatchRunner(cfg, progress=progress)
    report = runner.run()
    assert report.ok and report.count("done") == 20 and len(seen) == 21
    assert 2 <= runner.timeline_writes <= 2 + report.elapsed / 2.0 < 21  # was 22 writes: one per clip, plus two
    assert seen == sorted(seen) and seen[0] == 0
    final = otio.adapters.read_from_file(report.output_timeline)
    assert final.metadata["melfoley"]["complete"] is True
    assert len([c for t in final.audio_tracks() for c in t.find_clips()]) == 20


def test_an_executor_that_cannot_go_on_leaves_the_finished_clips_and_a_valid_partial_timeline(tmp_path, media):
    """The executor interface (a farm whose workers are all gone raises FarmError mid-run): the
    driver keeps what is done, writes the partial timeline and the report, and a rerun finishes."""
    from melfoley.core.errors import FarmError
    from melfoley.plugin.batch import BatchConfig, BatchRunner
    from melfoley.plugin.driver import LocalExecutor
    from melfoley.plugin.jobs import BatchDefaults

    class GivesUp(LocalExecutor):  # runs clips here, then fails as a farm with no workers left would
        def run(self, ctx, clips):
            for k, outcome in enumerate(super().run(ctx, clips)):
                yield outcome
                if k == 1:
                    raise FarmError("every farm worker died")

    tl = _three(tmp_path, media)
    cfg = BatchConfig(timeline=tl, out_dir=tmp_path / "out", defaults=BatchDefaults(engine="debug"))
    report = BatchRunner(cfg, executor=GivesUp).run()
    assert report.interrupted and [c.status for c in report.clips] == ["done", "done"]
    assert any("every farm worker died" in n and "1 of 3 clips left" in n for n in report.notes)
    out, names = _stems_in(report)
    assert names == ["one", "two"] and out.metadata["melfoley"]["complete"] is False
    assert json.loads((tmp_path / "out" / "e.foley.report.json").read_text())["interrupted"] is True
    again = run_batch(tl, tmp_path / "out")
    assert again.ok and [c.status for c in again.clips] == ["cached", "cached", "done"]


def test_readme_main_command_foleys_the_demo_with_the_default_engine(tmp_path, capsys):
    """README's first command: `melfoley batch <demo> -o OUT` with no --engine: the starter sound library."""
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    import melfoley
    from melfoley.core.engines import DEFAULT_ENGINE
    from melfoley.core.levels import true_peak_db

    assert DEFAULT_ENGINE == "library"
    demo = Path(melfoley.__file__).parent / "resources" / "demo" / "demo.otio"
    rc = main(["batch", str(demo), "-o", str(tmp_path / "demo"), "--quiet"])
    assert rc == 0, capsys.readouterr()
    stems = sorted((tmp_path / "demo" / "stems").glob("*.wav"))
    assert len(stems) == 4
    for stem in stems:
        side = json.loads(stem.with_suffix(".json").read_text())
        assert side["engine"]["engine"] == "library" and side["library_sources"], stem.name
        audio, sr = sf.read(stem, dtype="float32")
        assert sr == 48000 and true_peak_db(audio) <= -1.0 + 1e-3 and np.abs(audio).max() > 1e-3, stem.name
        assert audio[0] == 0.0 and audio[-1] == 0.0  # edge fades: no cut starts or ends on a step


def _default_prompt_edit(tmp_path, media, value):
    items = [clip("own", media, 0, 20, RATE, media_frames=75, meta={"prompt": "door knock"}),
             clip("plain", media, 20, 20, RATE, media_frames=75), clip("marked", media, 40, 25, RATE, media_frames=75)]
    marker = otio.schema.Marker(name="foley: glass breaking", marked_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(40, 25), otio.opentime.RationalTime(10, 25)))
    items[2].markers.append(marker)
    path = edit(tmp_path / "e.otio", [items], RATE)
    tl = otio.adapters.read_from_file(str(path))
    tl.metadata["melfoley"] = {"default_prompt": value}  # where the panel keeps the edit's default prompt
    otio.adapters.write_to_file(tl, str(path))
    return path


def _settings_by_clip(out):
    docs = [json.loads(p.read_text()) for p in (out / "stems").glob("*.json")]
    return {d["clip"]["name"]: d["settings"] for d in docs}


def test_clips_without_a_prompt_of_their_own_use_the_edits_default_prompt(tmp_path, media, capsys):
    """Issue 14 point 7 in ``melfoley batch``: per-range prompts (markers) in their ranges, then the
    clip's own prompt, then the edit's default prompt (set in the panel), then ``--prompt``."""
    tl = _default_prompt_edit(tmp_path, media, "  footsteps on gravel ")
    rc = main(["batch", str(tl), "-o", str(tmp_path / "out"), "--engine", "debug", "--quiet",
               "--prompt", "rain on a window"])
    cap = capsys.readouterr()
    assert rc == 0, cap
    assert "the edit's default prompt 'footsteps on gravel'" in cap.out
    got = _settings_by_clip(tmp_path / "out")
    assert got["own"]["prompt"] == "door knock" and got["own"]["sources"]["prompt"] == "clip metadata"
    assert got["plain"]["prompt"] == "footsteps on gravel" and got["plain"]["sources"]["prompt"] == "edit default"
    assert [s["prompt"] for s in got["marked"]["segments"]] == ["glass breaking", "footsteps on gravel"]
    assert not any("rain" in json.dumps(s) for s in got.values())  # --prompt is the fallback only
    out = otio.adapters.read_from_file(str(tmp_path / "out" / "e.foley.otio"))
    assert out.metadata["melfoley"]["default_prompt"] == "  footsteps on gravel "  # kept for the next run

    plain = edit(tmp_path / "p.otio", [[clip("plain", media, 20, 20, RATE, media_frames=75)]], RATE)
    assert main(["batch", str(plain), "-o", str(tmp_path / "p"), "--engine", "debug", "--quiet",
                 "--prompt", "rain on a window"]) == 0
    assert _settings_by_clip(tmp_path / "p")["plain"]["sources"]["prompt"] == "command line"
    assert "default prompt" not in capsys.readouterr().out


def test_a_default_prompt_that_is_not_text_is_refused_naming_the_edit(tmp_path, media, capsys):
    tl = _default_prompt_edit(tmp_path, media, 5)
    rc = main(["batch", str(tl), "-o", str(tmp_path / "out"), "--engine", "debug", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and str(tl) in err and '["default_prompt"] is 5' in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_workers_without_ray_is_refused_before_anything_is_made(tmp_path, media, capsys):
    tl = _three(tmp_path, media)
    rc = main(["batch", str(tl), "-o", str(tmp_path / "new" / "out"), "--engine", "debug", "--workers", "2"])
    assert rc == 2 and "--workers needs --ray" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_host_jobs_and_the_command_line_build_their_settings_alike(tmp_path):
    """One builder: ``melfoley host run`` and the watch folder check what ``melfoley batch`` checks."""
    from melfoley.core.errors import MelfoleyError
    from melfoley.plugin.batch import batch_config as build
    from melfoley.plugin.hosts.run import batch_config

    tl, out = tmp_path / "e.otio", tmp_path / "out"
    assert batch_config(tl, out, prompt="rain", takes=2, seed=3, engine="debug") == \
        build(tl, out, prompt="rain", takes=2, seed=3, engine="debug")
    for kw, flag in (({"seed": 2**40}, "--seed"), ({"seed": -5}, "--seed"), ({"takes": 0}, "--takes"),
                     ({"engine": "nonesuch"}, "unknown engine"), ({"fmt": "mp3"}, "--format")):
        with pytest.raises(MelfoleyError, match=flag):
            batch_config(tl, out, **{"engine": "debug", **kw})
    assert not out.exists()


def test_a_rerun_in_place_on_the_foleyed_edit_reuses_its_stems_and_never_writes_the_users_edit(tmp_path):
    """``melfoley batch a/demo.otio -o out``, then ``melfoley batch out/demo.foley.otio -o out``: the
    stems are named after the user's edit (not the file read), so the re-run writes the same stem
    files (no orphans beside them), replaces its own Foley tracks and never writes a/demo.otio."""
    import hashlib

    a = tmp_path / "a"
    a.mkdir()
    media = render_media(a, "m.mp4", RATE, 3.0)
    items = [clip("one", media, 0, 20, RATE, media_frames=75, url="m.mp4"), gap(5, RATE),  # relative, as editors write
             clip("two", media, 20, 15, RATE, media_frames=75, url="m.mp4")]
    tl = edit(a / "demo.otio", [items], RATE, start_frames=90000)
    digest, mtime = hashlib.sha256(tl.read_bytes()).hexdigest(), tl.stat().st_mtime_ns
    out = tmp_path / "out"
    assert main(["batch", str(tl), "-o", str(out), "--engine", "debug", "--quiet"]) == 0
    stems = sorted(p.name for p in (out / "stems").iterdir())
    first = otio.adapters.read_from_file(str(out / "demo.foley.otio"))
    assert len(stems) == 4 and len(first.audio_tracks()) == 1

    foleyed = out / "demo.foley.otio"
    assert main(["batch", str(foleyed), "-o", str(out), "--engine", "debug", "--quiet"]) == 0
    assert sorted(p.name for p in (out / "stems").iterdir()) == stems  # the same stems, no new ones
    assert sorted(p.name for p in out.glob("*.otio")) == ["demo.foley.otio"]
    again = otio.adapters.read_from_file(str(foleyed))
    urls = [[c.media_reference.target_url for c in t.find_clips()] for t in again.audio_tracks()]
    assert urls == [[c.media_reference.target_url for c in t.find_clips()] for t in first.audio_tracks()]
    assert again.metadata["melfoley"]["source_timeline"] == str(tl.resolve())
    assert hashlib.sha256(tl.read_bytes()).hexdigest() == digest and tl.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in a.iterdir()) == ["demo.otio", "m.mp4"]  # nothing written beside the edit


def test_an_interrupted_rerun_in_place_keeps_the_previous_complete_timeline(tmp_path, media):
    """A re-run on melfoley's own output (``batch out/e.foley.otio -o out``) stopped part-way leaves
    the previous complete timeline byte for byte: no partial write ever replaces it with fewer Foley
    clips than the artist had; finishing the re-run replaces it."""
    out = tmp_path / "out"
    first = run_batch(_three(tmp_path, media), out)
    assert first.ok
    foleyed = Path(first.output_timeline)
    before = foleyed.read_bytes()

    def progress(p):
        if p.done == 1:
            raise KeyboardInterrupt

    stopped = run_batch(foleyed, out, progress=progress, prompt="door knock")  # new prompt: every clip re-renders
    assert stopped.interrupted and stopped.output_timeline == str(foleyed)
    assert foleyed.read_bytes() == before
    assert any("previous" in n for n in stopped.notes)
    done = run_batch(foleyed, out, prompt="door knock")
    assert done.ok and foleyed.read_bytes() != before
    assert _stems_in(done)[1] == ["one", "three", "two"]


def test_each_edit_foleyed_into_one_folder_keeps_its_own_report(tmp_path, media):
    """The report is per edit, named like its output timeline: a second edit's run (another name, or
    the same name from another folder) never overwrites the first's; the host's result names it."""
    from melfoley.plugin.hosts.run import result_event

    out, reports = tmp_path / "out", {}
    for folder, name, prompt in (("a", "reel", "footsteps"), ("b", "reel", "door knock"), ("a", "promo", "rain")):
        (tmp_path / folder).mkdir(exist_ok=True)
        tl = edit(tmp_path / folder / f"{name}.otio", [[clip(prompt, media, 0, 20, RATE, media_frames=75)]], RATE)
        r = run_batch(tl, out, prompt=prompt)
        assert r.ok
        reports[tl] = (Path(result_event(r)["report"]), prompt)
        assert reports[tl][0] == Path(r.output_timeline[: -len(".otio")] + ".report.json")
    a_reel, b_reel, promo = (p.name for p, _ in reports.values())
    assert (a_reel, promo) == ("reel.foley.report.json", "promo.foley.report.json")
    assert b_reel != a_reel and b_reel.startswith("reel.") and b_reel.endswith(".foley.report.json")  # its unique name
    assert not (out / "melfoley_report.json").exists()
    for tl, (path, clip_name) in reports.items():  # every report still there, each about its own edit
        doc = json.loads(path.read_text())
        assert doc["timeline"] == str(tl) and [c["name"] for c in doc["clips"]] == [clip_name]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_a_batch_started_in_the_background_cleanly(tmp_path, media, sig):
    """`melfoley batch` as a render manager or `cmd &` in a script starts it (SIGINT inherited ignored):
    SIGTERM or SIGINT stop it like Ctrl-C: exit 130, the finished stems and a valid partial timeline.
    Before cli.stop_on_signals, SIGTERM killed it with no timeline or report written, and the
    ignored SIGINT let it run to the end."""
    import sys

    items = [clip(f"shot {i:03d}", media, (i * 7) % 50, 20, RATE, media_frames=75) for i in range(400)]
    tl = edit(tmp_path / "many.otio", [items], RATE, start_frames=90000)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "melfoley.plugin.cli", "batch", str(tl), "-o", str(out), "--engine", "debug",
           "--quiet"]
    rc, stdout, stderr = stop_batch_cli(cmd, out, sig, timeout=120)
    assert rc == 130, (stdout, stderr)
    assert b"Traceback" not in stderr
    report = json.loads((out / "many.foley.report.json").read_text())
    assert report["interrupted"] and 1 <= len(report["clips"]) < 400
    partial = otio.adapters.read_from_file(str(out / "many.foley.otio"))
    assert partial.metadata["melfoley"]["complete"] is False
