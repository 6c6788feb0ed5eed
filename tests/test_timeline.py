"""Reading edits and finding picture clips: every corpus timeline, media paths, ranges, rates."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from melfoley.core.corpus import corpus_root
from melfoley.core.errors import MediaError
from melfoley.plugin.timeline import (TimelineError, exact_rate, find_picture_clips, media_candidates,
                                      read_timeline, resolve_media, url_to_path)

TIMELINES = corpus_root() / "timelines"


def _manifest_rows():
    path = TIMELINES / "manifest.csv"
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"corpus timelines not found at {TIMELINES}"))]
    with path.open(newline="") as fh:
        return [pytest.param(r, id=r["path"]) for r in csv.DictReader(fh)]


def _item(tl: otio.schema.Timeline, clip_id: str):
    """The OTIO object a scan's clip_id ("V1/2/0") points at."""
    parts = clip_id.split("/")
    obj = list(tl.video_tracks())[int(parts[0][1:]) - 1]
    for p in parts[1:]:
        obj = obj[int(p)]
    return obj


def _installed_suffixes() -> set[str]:
    return {"." + s.lower() for a in otio.plugins.ActiveManifest().adapters for s in a.suffixes}


@pytest.mark.parametrize("row", _manifest_rows())
def test_every_corpus_timeline_is_read_or_its_missing_adapter_named(row):
    path = TIMELINES / row["path"]
    if path.suffix.lower() not in _installed_suffixes():  # only a missing adapter may refuse a real edit
        with pytest.raises(TimelineError, match=f"install the {row['adapter']} package"):
            read_timeline(path)
        return
    src = read_timeline(path)  # an installed adapter must read every real edit of its format
    assert isinstance(src.timeline, otio.schema.Timeline)
    assert src.rate in (Fraction(24000, 1001), 24, 25, Fraction(30000, 1001), 30, 50, Fraction(60000, 1001), 60)
    scan = find_picture_clips(src)
    for clip in scan.clips:
        assert clip.record.duration.value > 0, clip.clip_id
        assert clip.rate == src.rate
        # the record range is OTIO's own mapping of the clip into the timeline (clips fully visible)
        item = _item(src.timeline, clip.clip_id)
        if item.trimmed_range().duration == clip.source.duration:
            want = item.transformed_time_range(item.trimmed_range(), src.timeline.tracks)
            assert clip.record.start_time.to_seconds() == pytest.approx(want.start_time.to_seconds(), abs=1e-9)
            assert clip.record.duration.to_seconds() == pytest.approx(want.duration.to_seconds(), abs=1e-9)
        # every clip either has a media file or says why not, naming the fix
        assert (clip.media_path is not None) != (clip.media_problem is not None)
        if clip.media_problem:
            assert "--media-root" in clip.media_problem or "not supported" in clip.media_problem
    for s in scan.skipped:
        assert s.reason


def test_xges_is_refused_naming_the_adapter_or_read(corpus):
    path = TIMELINES / "otio-xges-adapter" / "xges_example.xges"
    if ".xges" in _installed_suffixes():  # the adapter got installed: then it must read
        assert isinstance(read_timeline(path).timeline, otio.schema.Timeline)
    else:
        with pytest.raises(TimelineError, match="pip install otio-xges-adapter"):
            read_timeline(path)


def test_unknown_and_missing_files_are_refused(tmp_path):
    bad = tmp_path / "cut.xyz"
    bad.write_text("nothing")
    with pytest.raises(TimelineError, match="no OTIO adapter"):
        read_timeline(bad)
    with pytest.raises(TimelineError, match="not found"):
        read_timeline(tmp_path / "gone.otio")
    broken = tmp_path / "broken.otio"
    broken.write_text("{not json")
    with pytest.raises(TimelineError, match="could not be read"):
        read_timeline(broken)


def test_exact_rates():
    assert exact_rate(23.976) == Fraction(24000, 1001)
    assert exact_rate(24000 / 1001) == Fraction(24000, 1001)
    assert exact_rate(29.97) == Fraction(30000, 1001)
    assert exact_rate(59.94) == Fraction(60000, 1001)
    assert exact_rate(25.0) == 25
    assert exact_rate(12.5) == Fraction(25, 2)


def test_edl_rate_is_guessed_from_timecodes(corpus):
    src = read_timeline(TIMELINES / "otio-cmx3600-adapter" / "25fps.edl")
    assert src.rate == 25 and any("25" in n for n in src.notes)
    forced = read_timeline(TIMELINES / "otio-cmx3600-adapter" / "25fps.edl", edl_rate=25)
    assert forced.rate == 25
    with pytest.raises(TimelineError, match="--edl-rate"):
        read_timeline(TIMELINES / "otio-cmx3600-adapter" / "25fps.edl", edl_rate=24)


def test_edl_record_start_becomes_global_start(corpus):
    src = read_timeline(TIMELINES / "otio-cmx3600-adapter" / "dissolve_test.edl")
    clips = find_picture_clips(src).clips
    assert clips[0].timecode() == "01:00:00:00"
    assert clips[0].record.start_time.value == 0
    # transitions are flagged on both sides of the cut
    assert any("transition out" in f for f in clips[0].flags)
    assert any("transition in" in f for f in clips[1].flags)


def test_collection_picks_first_timeline_and_names_the_others(corpus):
    path = TIMELINES / "otio-fcpx-xml-adapter" / "fcpx_example.fcpxml"
    src = read_timeline(path)
    assert src.timeline.name == "OpenTimeline_Project" and "--timeline" in src.notes[0]
    other = read_timeline(path, timeline_name="OpenTimeline_Project 1")
    assert other.timeline.name == "OpenTimeline_Project 1"
    with pytest.raises(TimelineError, match="no timeline named"):
        read_timeline(path, timeline_name="nope")


def test_speed_effects_disabled_clips_and_generators(corpus):
    lin = find_picture_clips(read_timeline(TIMELINES / "otio-aaf-adapter" / "linear_speed_effects.aaf")).clips
    scalars = {c.time_scalar for c in lin}
    assert 1.0 in scalars and len(scalars) > 2
    assert all(any("honoured" in f for f in c.flags) for c in lin if c.time_scalar != 1.0)
    misc = find_picture_clips(read_timeline(TIMELINES / "otio-aaf-adapter" / "misc_speed_effects.aaf")).clips
    assert 0.0 in {c.time_scalar for c in misc}  # a freeze frame
    muted = find_picture_clips(read_timeline(TIMELINES / "otio-aaf-adapter" / "test_muted_clip.aaf"))
    assert not muted.clips and "disabled" in muted.skipped[0].reason
    assert len(find_picture_clips(read_timeline(TIMELINES / "otio-aaf-adapter" / "test_muted_clip.aaf"),
                                  include_disabled=True).clips) == 1
    gen = find_picture_clips(read_timeline(TIMELINES / "otio-fcp-adapter" / "premiere_generators.xml"))
    assert not gen.clips and all("generator" in s.reason for s in gen.skipped)


def test_nested_compositions_are_walked(corpus):
    scan = find_picture_clips(read_timeline(TIMELINES / "otio-aaf-adapter" / "nesting_test.aaf"))
    ids = [c.clip_id for c in scan.clips]
    assert any(i.count("/") > 1 for i in ids)
    starts = [c.record.start_time.value for c in scan.clips]
    ends = [c.record.end_time_exclusive().value for c in scan.clips]
    assert starts == sorted(starts) and starts[1:] == ends[:-1]  # back to back on the record side


# ---------------------------------------------------------------------------- media paths
def test_url_forms():
    assert url_to_path("file:///Users/a/b%20c.mov") == ("posix", "/Users/a/b c.mov")
    assert url_to_path("file://localhost/Volumes/x.mov") == ("posix", "/Volumes/x.mov")
    assert url_to_path("file://localhost/D%3a/media/x.mov") == ("windows", "D:/media/x.mov")
    assert url_to_path("file://D:/Projects/x.mov") == ("windows", "D:/Projects/x.mov")
    assert url_to_path("file:///C:/x.mov") == ("windows", "C:/x.mov")
    assert url_to_path("file://Nexis/share/a.mxf") == ("unc", "//Nexis/share/a.mxf")
    assert url_to_path("file:////server/share/a.mxf") == ("unc", "//server/share/a.mxf")
    assert url_to_path("S:\\path\\to\\x.exr") == ("windows", "S:\\path\\to\\x.exr")
    assert url_to_path("media/x.mov") == ("relative", "media/x.mov")


def test_resolution_relative_percent_encoded_and_relinked(tmp_path):
    (tmp_path / "edit").mkdir()
    (tmp_path / "edit" / "my clip.mov").write_bytes(b"x")
    root = tmp_path / "moved"
    (root / "shots").mkdir(parents=True)
    (root / "shots" / "a.mov").write_bytes(b"x")
    (root / "b.mov").write_bytes(b"x")
    ed = tmp_path / "edit"
    assert resolve_media("my clip.mov", timeline_dir=ed)[0] == ed / "my clip.mov"
    assert resolve_media("my%20clip.mov", timeline_dir=ed)[0] == ed / "my clip.mov"
    url = (ed / "my clip.mov").as_uri()  # file:///.../my%20clip.mov
    assert resolve_media(url)[0] == ed / "my clip.mov"
    # moved media: Windows drive, UNC and POSIX paths relink by their trailing components
    assert resolve_media("D:\\proj\\shots\\a.mov", media_root=root)[0] == root / "shots" / "a.mov"
    assert resolve_media("file://localhost/D%3a/x/shots/a.mov", media_root=root)[0] == root / "shots" / "a.mov"
    assert resolve_media("file://Nexis/share/b.mov", media_root=root)[0] == root / "b.mov"
    assert resolve_media("file:///Volumes/gone/b.mov", media_root=root)[0] == root / "b.mov"
    found, tried = resolve_media("file:///Volumes/gone/c.mov", media_root=root)
    assert found is None and tried[0] == Path("/Volumes/gone/c.mov") and tried[-1] == root / "c.mov"
    # the longest matching tail wins: shots/a.mov over a stray a.mov at the root
    (root / "a.mov").write_bytes(b"y")
    assert media_candidates("/x/shots/a.mov", media_root=root).index(root / "shots" / "a.mov") < \
        media_candidates("/x/shots/a.mov", media_root=root).index(root / "a.mov")


# ---------------------------------------------------------------------------- ranges
R = 24000 / 1001


def _rt(v, r=R):
    return otio.opentime.RationalTime(v, r)


def _tr(s, d, r=R):
    return otio.opentime.TimeRange(_rt(s, r), _rt(d, r))


def _synthetic(tmp_path) -> Path:
    """V1: clip, gap, nested stack (trimmed), clip; V2: a disabled clip and a generator."""
    (tmp_path / "m.mov").write_bytes(b"x")
    tl = otio.schema.Timeline(name="syn", global_start_time=_rt(86400))
    v1 = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    ref = lambda: otio.schema.ExternalReference(target_url="m.mov", available_range=_tr(86400, 1000))  # noqa: E731
    v1.append(otio.schema.Clip(name="a", media_reference=ref(), source_range=_tr(86410, 24)))
    v1.append(otio.schema.Gap(source_range=_tr(0, 12)))
    inner = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    inner.append(otio.schema.Clip(name="n1", media_reference=ref(), source_range=_tr(86500, 20)))
    inner.append(otio.schema.Clip(name="n2", media_reference=ref(), source_range=_tr(86600, 20)))
    nest = otio.schema.Stack(name="nest", source_range=_tr(10, 20))  # shows n1[10:20] + n2[0:10]
    nest.append(inner)
    v1.append(nest)
    v1.append(otio.schema.Clip(name="b", media_reference=ref(), source_range=_tr(86700, 30)))
    v2 = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    off = otio.schema.Clip(name="off", media_reference=ref(), source_range=_tr(86400, 5))
    off.enabled = False
    v2.append(off)
    v2.append(otio.schema.Clip(name="bars", media_reference=otio.schema.GeneratorReference(generator_kind="SMPTEBars"),
                               source_range=_tr(0, 5)))
    tl.tracks.extend([v1, v2])
    path = tmp_path / "syn.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path


def test_record_and_source_ranges_through_gaps_and_nested_trims(tmp_path):
    src = read_timeline(_synthetic(tmp_path))
    scan = find_picture_clips(src)
    by = {c.name: c for c in scan.clips}
    assert list(by) == ["a", "n1", "n2", "b"]
    assert by["a"].record == _tr(0, 24) and by["a"].source == _tr(86410, 24)
    assert by["n1"].record == _tr(36, 10) and by["n1"].source == _tr(86510, 10)
    assert by["n2"].record == _tr(46, 10) and by["n2"].source == _tr(86600, 10)
    assert by["b"].record == _tr(56, 30)
    assert by["a"].timecode() == "01:00:00:00"
    assert by["a"].record_in == Fraction(86400 * 1001, 24000)
    assert by["b"].samples() == 30 * 2002  # one 23.976 frame is exactly 2002 samples at 48 kHz
    # media time relative to the file's first frame (the reference starts at 01:00:00:00)
    start, dur = by["a"].media_window(100.0)
    assert start == pytest.approx(10 * 1001 / 24000) and dur == pytest.approx(24 * 1001 / 24000)
    with pytest.raises(MediaError, match="--media-root"):
        by["b"].media_window(1.0)
    reasons = sorted(s.reason for s in scan.skipped)
    assert reasons[0] == "disabled in the edit" and reasons[1].startswith("generator")
    assert all(c.media_path == tmp_path / "m.mov" for c in scan.clips)


def test_otioz_input_resolves_media_inside_the_bundle(tmp_path):
    media = tmp_path / "shot.mov"
    media.write_bytes(b"not really a movie")
    tl = otio.schema.Timeline(name="z")
    tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tr.append(otio.schema.Clip(name="s", source_range=_tr(0, 10), media_reference=otio.schema.ExternalReference(
        target_url=media.as_uri(), available_range=_tr(0, 100))))
    tl.tracks.append(tr)
    bundle = tmp_path / "z.otioz"
    otio.adapters.write_to_file(tl, str(bundle))
    media.unlink()  # only the bundled copy is left
    src = read_timeline(bundle)  # unpacked into the user cache folder
    clip = find_picture_clips(src).clips[0]
    assert clip.media_path is not None and clip.media_path.read_bytes() == b"not really a movie"
    from melfoley.core.userdirs import cache_dir

    assert cache_dir() in clip.media_path.parents


def test_otiod_input_resolves_bundled_media(tmp_path):
    media = tmp_path / "shot.mov"
    media.write_bytes(b"d")
    tl = otio.schema.Timeline(name="d")
    tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tr.append(otio.schema.Clip(name="s", source_range=_tr(0, 10), media_reference=otio.schema.ExternalReference(
        target_url=media.as_uri(), available_range=_tr(0, 100))))
    tl.tracks.append(tr)
    otio.adapters.write_to_file(tl, str(tmp_path / "d.otiod"))
    media.unlink()
    clip = find_picture_clips(read_timeline(tmp_path / "d.otiod")).clips[0]
    assert clip.media_path is not None and clip.media_path.parent.parent == tmp_path / "d.otiod"
