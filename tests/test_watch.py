"""The watch folder, for real: files dropped into a folder (one written in pieces), a bad file, restarts.

Edits are written over rendered media (FCP7 XML through the OTIO adapter, OTIO natively) and foleyed
with the debug engine; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
import time
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from melfoley.plugin.cli import main
from melfoley.plugin.hosts.bridge import Settings
from melfoley.plugin.hosts.watch import JOB_FILE, LOG_FILE, Watcher, job_dir
from melfoley.plugin.timeline import find_picture_clips, read_timeline
from test_timeline_media import clip, edit, gap, render_media

RATE = Fraction(25)
DEBUG = Settings(engine="debug")


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.fixture
def media(tmp_path):
    return render_media(tmp_path / "media", "shot.mp4", RATE, 3.0)


def _otio_edit(path: Path, media: Path, prompt: str = "footsteps") -> Path:
    items = [clip("one", media, 0, 20, RATE, media_frames=75, meta={"prompt": prompt}), gap(5, RATE),
             clip("two", media, 30, 15, RATE, media_frames=75)]
    return edit(path, [items], RATE, start_frames=90000, name=path.stem)


def test_a_file_written_in_pieces_is_taken_once_it_stops_growing(tmp_path, media):
    drop = tmp_path / "drop"
    drop.mkdir()
    scratch = _otio_edit(tmp_path / "cut.otio", media)
    xml = otio.adapters.write_to_string(otio.adapters.read_from_file(str(scratch)), "fcp_xml").encode()
    w = Watcher(drop, DEBUG, settle=0.5, say=lambda s: None)
    target = drop / "cut.xml"
    target.write_bytes(xml[: len(xml) // 3])  # the editor's export has begun
    assert w.poll() == []
    time.sleep(0.3)
    with open(target, "ab") as fh:
        fh.write(xml[len(xml) // 3:])  # ... and goes on
    assert w.poll() == [] and w.pending()[1] == [target]
    before = _fingerprint(target)
    time.sleep(0.6)
    (outcome,) = w.poll()
    assert outcome.status == "done", outcome.reason
    out = job_dir(target)
    exported = Path(outcome.exported)
    assert exported == out / "cut.foley.xml"  # the same format family: FCP7 XML in, FCP7 XML out
    back = read_timeline(exported)
    assert len(list(back.timeline.audio_tracks())) >= 1  # the Foley track came back in the XML
    assert len(list((out / "stems").glob("*.wav"))) == 2
    assert len(find_picture_clips(back).clips) == 2
    log = (out / LOG_FILE).read_text()
    assert "job cut.xml" in log and "done 2" in log and "output format xml" in log
    assert json.loads((out / JOB_FILE).read_text())["status"] == "done"
    assert _fingerprint(target) == before  # the dropped file is never touched
    assert w.poll() == []  # and not done twice


def test_bad_file_restart_and_changed_file(tmp_path, media, capsys):
    drop = tmp_path / "drop"
    drop.mkdir()
    good = _otio_edit(drop / "reel.otio", media)
    bad = drop / "broken.edl"
    bad.write_text("this is not an edit list\n\x00\x01")
    (drop / ".hidden.otio").write_text("{}")  # editors' temporary files are ignored
    (drop / "notes.txt").write_text("not an edit")
    args = ["watch", str(drop), "--once", "--settle", "0.2", "--interval", "0.1", "--engine", "debug"]
    assert main(args) == 1  # one job failed
    printed = capsys.readouterr().out
    assert "broken.edl: failed" in printed and "reel.otio: done" in printed
    bad_job = json.loads((job_dir(bad) / JOB_FILE).read_text())
    assert bad_job["status"] == "failed" and bad_job["reason"]
    assert bad_job["reason"] in (job_dir(bad) / LOG_FILE).read_text()
    assert not job_dir(drop / ".hidden.otio").exists() and not job_dir(drop / "notes.txt").exists()
    stems = sorted((job_dir(good) / "stems").glob("*.wav"))
    stamps = [s.stat().st_mtime_ns for s in stems]
    # a restart redoes nothing that finished (done or failed) ...
    again = Watcher(drop, DEBUG, settle=0.2, say=lambda s: None).run(once=True, interval=0.1)
    assert again == [] and [s.stat().st_mtime_ns for s in stems] == stamps
    # ... a job that was running when the watcher stopped is redone (resuming from its stems) ...
    doc = json.loads((job_dir(good) / JOB_FILE).read_text())
    (job_dir(good) / JOB_FILE).write_text(json.dumps({**doc, "status": "running"}))
    (resumed,) = Watcher(drop, DEBUG, settle=0.2, say=lambda s: None).run(once=True, interval=0.1)
    assert resumed.source == good and resumed.status == "done"
    assert [s.stat().st_mtime_ns for s in stems] == stamps  # finished stems were kept as they were
    # ... and a file dropped again with new content is done again
    _otio_edit(drop / "reel.otio", media, prompt="door slam")
    (redone,) = Watcher(drop, DEBUG, settle=0.2, say=lambda s: None).run(once=True, interval=0.1)
    assert redone.source == good and redone.status == "done"
    assert any("Door" in p.name for p in (job_dir(good) / "stems").glob("*.wav"))
    assert (job_dir(good) / LOG_FILE).read_text().count("job reel.otio") == 3


def test_edl_fcpxml_and_aaf_come_back_in_their_format_family(tmp_path, media, corpus, capsys):
    """An EDL (clips relinked by name under --media-root) gets EDLs back, one per Foley track; FCPXML
    and AAF, which melfoley cannot write, get FCP7 XML (the corpus AAF's media is not here: every clip
    of it fails with its reason in the job's log, and the exit status says so)."""
    drop = tmp_path / "drop"
    drop.mkdir()
    fcpxml = otio.adapters.write_to_string(otio.adapters.read_from_file(str(_otio_edit(tmp_path / "fx.otio", media))),
                                           "fcpx_xml")
    (drop / "fx.fcpxml").write_text(fcpxml)
    (drop / "cut.edl").write_text("TITLE: cut\nFCM: NON-DROP FRAME\n\n"
                                  "001  shot     V     C        00:00:00:10 00:00:02:10 01:00:00:00 01:00:02:00\n"
                                  "* FROM CLIP NAME:  shot\n")
    aaf = corpus / "timelines" / "otio-aaf-adapter" / "misc_speed_effects.aaf"
    (drop / aaf.name).write_bytes(aaf.read_bytes())
    rc = main(["watch", str(drop), "--once", "--settle", "0.2", "--interval", "0.1", "--engine", "debug",
               "--media-root", str(media.parent)])
    assert rc == 1 and "clip(s) failed" in capsys.readouterr().out
    edl_out = job_dir(drop / "cut.edl")
    (a1,) = edl_out.glob("cut.foley.A*.edl")
    back = read_timeline(a1, edl_rate=25)
    (track,) = back.timeline.audio_tracks()
    (stem_clip,) = track.find_clips()
    assert back.global_start.to_seconds() + stem_clip.range_in_parent().start_time.to_seconds() == 3600.0
    assert stem_clip.range_in_parent().duration.to_frames() == 50
    fx = read_timeline(job_dir(drop / "fx.fcpxml") / "fx.foley.xml")
    placed = sorted((c.range_in_parent().start_time.to_frames(), c.range_in_parent().duration.to_frames())
                    for t in fx.timeline.audio_tracks() for c in t.find_clips())
    assert placed == [(0, 20), (25, 15)]  # FCPXML in, FCP7 XML out, stems at the clips' record frames
    aaf_out = job_dir(drop / aaf.name)
    assert (aaf_out / "misc_speed_effects.foley.xml").exists()
    doc = json.loads((aaf_out / JOB_FILE).read_text())
    assert doc["status"] == "done" and doc["failed_clips"] > 0
    log = (aaf_out / LOG_FILE).read_text()
    assert log.count("FAILED clip") == doc["failed_clips"] and "media not found" in log


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["watch", str(tmp_path / "nowhere"), "--once"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
