"""The edit written back: round trip of record ranges, stem lengths and timecodes; exports."""

from __future__ import annotations

import hashlib
import zipfile
from fractions import Fraction

import opentimelineio as otio
import pytest
import soundfile as sf
from opentimelineio.url_utils import filepath_from_url
from wavinfo import WavInfoReader

from melfoley.core.errors import MelfoleyError
from melfoley.plugin.otio_out import write_timeline
from melfoley.plugin.timeline import find_picture_clips, read_timeline
from test_timeline_media import clip, edit, gap, render_media, run_batch

RATE = Fraction(24000, 1001)


@pytest.fixture(scope="module")
def foleyed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rt")
    media = render_media(tmp, "m.mp4", RATE, 4.0)
    v1 = [clip("A", media, 0, 24, RATE, media_frames=95), gap(12, RATE),
          clip("B", media, 30, 36, RATE, media_frames=95, meta={"takes": 2, "prompt": "glass breaking"})]
    v2 = [gap(10, RATE), clip("C", media, 50, 20, RATE, media_frames=95)]
    tl = edit(tmp / "edit.otio", [v1, v2], RATE, start_frames=86400, name="Round Trip")
    digest = hashlib.sha256(tl.read_bytes()).hexdigest()
    report = run_batch(tl, tmp / "out", fmt="otio")
    return tmp, tl, digest, report


def test_round_trip_every_stem_sits_on_its_picture_clip(foleyed):
    tmp, tl, digest, report = foleyed
    assert report.ok, report.to_dict()
    src = read_timeline(tl)
    pictures = {c.clip_id: c for c in find_picture_clips(src).clips}
    out = otio.adapters.read_from_file(report.output_timeline)
    assert out.global_start_time.rate == 24000 / 1001 and out.global_start_time.value == 86400
    stems = [c for t in out.audio_tracks() for c in t.find_clips()]
    assert len(stems) == 4  # A, B take 1, B take 2, C
    for sc in stems:
        meta = sc.metadata["melfoley"]
        pic = pictures[meta["picture_clip"]]
        rip = sc.range_in_parent()
        assert rip.start_time.rate == 24000 / 1001  # exact, never 23.976
        assert rip == pic.record.__class__(pic.record.start_time, pic.record.duration)
        assert rip.start_time.value == pic.record.start_time.value and rip.duration.value == pic.record.duration.value
        avail = sc.media_reference.available_range
        assert avail.start_time == out.global_start_time + rip.start_time  # the stem's own timecode
        path = filepath_from_url(sc.media_reference.target_url)
        info = WavInfoReader(path)
        assert info.data.frame_count == round(Fraction(int(rip.duration.value)) / RATE * 48000)
        assert sf.info(path).frames == info.data.frame_count
        assert info.bext.time_reference == round((86400 + Fraction(int(rip.start_time.value))) / RATE * 48000)
        assert meta["seed"] in (0, 1) and meta["prompt"] in ("footsteps", "glass breaking")


def test_tracks_named_by_event_alternates_disabled_overlaps_in_lanes(foleyed):
    _, _, _, report = foleyed
    out = otio.adapters.read_from_file(report.output_timeline)
    audio = {t.name: t for t in out.audio_tracks()}
    assert set(audio) == {"FOLEY Footsteps", "FOLEY Footsteps 2", "FOLEY Glass Breaking",
                          "FOLEY Glass Breaking v002"}
    assert not audio["FOLEY Glass Breaking v002"].enabled and audio["FOLEY Glass Breaking"].enabled
    for t in audio.values():  # gaps keep record positions; nothing overlaps inside a track
        ends = 0
        for item in t:
            r = item.range_in_parent()
            assert r.start_time.value == ends
            ends = r.end_time_exclusive().value


def test_original_tracks_are_kept_and_input_untouched(foleyed):
    tmp, tl, digest, report = foleyed
    assert hashlib.sha256(tl.read_bytes()).hexdigest() == digest
    src = otio.adapters.read_from_file(str(tl))
    out = otio.adapters.read_from_file(report.output_timeline)
    assert [otio.adapters.write_to_string(t) for t in out.video_tracks()] == \
        [otio.adapters.write_to_string(t) for t in src.video_tracks()]
    # our metadata only under "melfoley"
    assert set(out.metadata) == {"melfoley"} and out.metadata["melfoley"]["complete"] is True
    for t in out.audio_tracks():
        assert set(t.metadata) == {"melfoley"}
        for c in t.find_clips():
            assert set(c.metadata) == {"melfoley"} and set(c.media_reference.metadata) == {"melfoley"}
    with pytest.raises(MelfoleyError, match="refusing to overwrite"):
        write_timeline(out, tl, "otio", input_path=tl)


def test_exports_otioz_xml_edl(foleyed, tmp_path):
    _, tl, _, report = foleyed
    out = otio.adapters.read_from_file(report.output_timeline)
    z = write_timeline(out, tmp_path / "e.otioz", "otioz")
    names = zipfile.ZipFile(z).namelist()
    assert "content.otio" in names and sum(n.endswith(".wav") for n in names) == 4 and "media/m.mp4" in names
    (tmp_path / "x").mkdir()
    back = otio.adapters.read_from_file(str(z), extract_to_directory=str(tmp_path / "x"))
    assert len([c for t in back.audio_tracks() for c in t.find_clips()]) == 4

    x = write_timeline(out, tmp_path / "e.xml", "xml")
    xt = otio.adapters.read_from_file(str(x))
    # the FCP7 adapter keeps no track names: compare the audio tracks in order
    got_tracks, want_tracks = list(xt.audio_tracks()), list(out.audio_tracks())
    assert len(got_tracks) == len(want_tracks) == 4
    for t, ref in zip(got_tracks, want_tracks):
        got = [(c.name, c.range_in_parent().start_time.value, c.range_in_parent().duration.value)
               for c in t.find_clips()]
        want = [(c.name, c.range_in_parent().start_time.value, c.range_in_parent().duration.value)
                for c in ref.find_clips()]
        assert got == want
    xml_text = x.read_text()
    assert xml_text.count("<enabled>FALSE</enabled>") >= 1  # the alternate take does not play

    e = write_timeline(out, tmp_path / "e.edl", "edl")
    edls = sorted(tmp_path.glob("e.A*.edl"))
    assert e == edls[0] and len(edls) == 4
    et = otio.adapters.read_from_file(str(edls[0]), rate=float(RATE))
    texts = [ln for ln in edls[0].read_text().splitlines() if ln[:3].isdigit()]
    assert texts and all(" A " in ln for ln in texts)
    assert "01:00:" in texts[0]  # record timecodes carry the timeline's start
    assert len(list(et.find_clips())) == len(texts)


def _own_and_theirs(path):
    tl = otio.adapters.read_from_file(str(path))
    own = [t for t in tl.audio_tracks() if "event" in (t.metadata.get("melfoley") or {})]
    return tl, own, [t.name for t in tl.audio_tracks() if t not in own]


def test_foleying_an_output_again_replaces_our_tracks_keeps_the_users_and_never_stacks_names(foleyed, tmp_path):
    """Issue 14 point 5 in ``melfoley batch``: an edit melfoley already foleyed, run again (into another
    folder, and in place), has its Foley tracks replaced, the editor's own audio kept (a track they
    named ``FOLEY ...`` too: ours are known by their metadata), and is written as ``edit.foley.otio``."""
    tmp, tl, digest, report = foleyed
    first = otio.adapters.read_from_file(report.output_timeline)
    n_own = len(first.audio_tracks())
    theirs = otio.schema.Track(name="FOLEY my own steps", kind=otio.schema.TrackKind.Audio)
    theirs.append(otio.schema.Clip(name="recorded", media_reference=otio.schema.ExternalReference(
        target_url=str(tmp / "recorded.wav")), source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, float(RATE)), otio.opentime.RationalTime(24, float(RATE)))))
    first.tracks.append(theirs)
    first.tracks.append(otio.schema.Track(name="A1 dialogue", kind=otio.schema.TrackKind.Audio))
    out = tmp_path / "out"
    out.mkdir()
    again_in = out / "edit.foley.otio"  # the output, with the editor's additions, as it comes back
    otio.adapters.write_to_file(first, str(again_in))

    elsewhere = run_batch(again_in, tmp_path / "elsewhere")
    assert elsewhere.ok and elsewhere.output_timeline == str(tmp_path / "elsewhere" / "edit.foley.otio")
    assert not list((tmp_path / "elsewhere").glob("*.foley.foley.*"))
    back, own, kept = _own_and_theirs(elsewhere.output_timeline)
    assert len(own) == n_own and sum(len(list(t.find_clips())) for t in own) == 4  # replaced, not stacked
    assert kept == ["FOLEY my own steps", "A1 dialogue"]
    assert [c.name for c in back.audio_tracks()[0].find_clips()] == ["recorded"]
    assert back.metadata["melfoley"]["source_timeline"] == str(tl.resolve())  # the user's edit, not ours

    in_place = run_batch(again_in, out)  # melfoley's own output is replaced by its re-run ...
    assert in_place.ok and in_place.output_timeline == str(again_in) and sorted(
        p.name for p in out.glob("*.otio")) == ["edit.foley.otio"]
    _, own, kept = _own_and_theirs(again_in)
    assert len(own) == n_own and kept == ["FOLEY my own steps", "A1 dialogue"]
    assert hashlib.sha256(tl.read_bytes()).hexdigest() == digest  # ... the user's edit never is
    with pytest.raises(MelfoleyError, match="refusing to overwrite"):
        write_timeline(first, tl, "otio", input_path=output_source(again_in))


def output_source(path):
    from melfoley.plugin.otio_out import source_edit

    return source_edit(path, otio.adapters.read_from_file(str(path)))


def test_exports_carry_only_our_tracks_as_foley(foleyed, tmp_path):
    """EDL export and bundles go by our metadata too: an editor's track named ``FOLEY ...`` is not ours."""
    _, _, _, report = foleyed
    out = otio.adapters.read_from_file(report.output_timeline)
    theirs = otio.schema.Track(name="FOLEY my own steps", kind=otio.schema.TrackKind.Audio)
    theirs.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(
        24, float(RATE)))))
    out.tracks.append(theirs)
    write_timeline(out, tmp_path / "e.edl", "edl")
    assert len(list(tmp_path.glob("e.A*.edl"))) == 4  # the four Foley tracks melfoley wrote, not five


def test_the_panel_names_edits_as_the_batch_does(tmp_path):
    """One list of melfoley's own name endings: the panel's session knows the per-track EDLs too."""
    from melfoley.plugin import otio_out
    from melfoley.ui import session

    assert session.OWN_SUFFIXES is otio_out.OWN_SUFFIXES and session.edit_name is otio_out.edit_name
    for name in ("demo.otio", "demo.foley.otio", "demo.melfoley.otio", "demo.foley.A2.edl"):
        assert session.edit_name(tmp_path / name) == otio_out.edit_name(tmp_path / name) == "demo", name
    assert session.default_output_dir(tmp_path / "demo.foley.A1.edl") == tmp_path  # its own folder, not demo_foley
    assert session.default_output_dir(tmp_path / "demo.edl") == tmp_path / "demo_foley"
