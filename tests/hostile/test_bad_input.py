"""Issue 15, points 5, 7 and 9: silent wrong results, tracebacks where one line is promised, minor cases.

Every case goes through ``melfoley batch`` (or ``convert``) in process: the command must exit 2
with one line naming the file and the fix, or fail just the clip with its reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest

from inputs import (RATE, audio_only_edit, bad_utf8_edit, clip, deep_edit, edit, marker_meta_edit, one_clip_edit,
                    rate_edit, zero_length_edit)

DEBUG = ("--engine", "debug", "--quiet")


def _failed_lines(out):
    return [ln for ln in out.splitlines() if ln.startswith("FAILED")]


# ---------------------------------------------------------------------------- point 5
def test_relative_picture_urls_stay_online_from_another_output_folder(tmp_path, pic, cli):
    folder = tmp_path / "edit"
    folder.mkdir()
    shutil.copy(pic, folder / "m.mp4")
    tl = edit(folder / "cut.otio", [[clip("A", "m.mp4", 0, 10, RATE, media_frames=50, url="m.mp4"),
                                     clip("B", "m.mp4", 10, 10, RATE, media_frames=50, url="m.mp4",
                                          meta={"skip": True, "takes": 0})]], RATE)
    out = tmp_path / "elsewhere" / "out"
    rc, _, _ = cli("batch", tl, "-o", out, *DEBUG, "--format", "otioz")
    assert rc == 1  # clip B's bad setting fails it; A is foleyed
    res = otio.adapters.read_from_file(str(out / "cut.foley.otio"))
    for c in res.video_tracks()[0].find_clips():  # both pictures, the foleyed one and the failed one
        path = Path(otio.url_utils.filepath_from_url(c.media_reference.target_url))
        assert path.is_absolute() and path.samefile(folder / "m.mp4")
    import zipfile

    assert "media/m.mp4" in zipfile.ZipFile(out / "cut.foley.otioz").namelist()  # the demo's picture is bundled


def test_an_otiod_given_by_a_relative_path_reads_its_media(tmp_path, pic, cli, monkeypatch):
    tl = otio.adapters.read_from_file(str(one_clip_edit(tmp_path / "cut.otio", pic)))
    (tmp_path / "edits").mkdir()
    otio.adapters.write_to_file(tl, str(tmp_path / "edits" / "bundle.otiod"), adapter_name="otiod")
    monkeypatch.chdir(tmp_path)
    rc, out, _ = cli("batch", "edits/bundle.otiod", "-o", "out", *DEBUG)
    assert rc == 0 and "done 1" in out, out


def test_zero_and_negative_length_clips_are_in_the_report(tmp_path, pic, cli):
    rc, out, _ = cli("batch", zero_length_edit(tmp_path / "z.otio", pic), "-o", tmp_path / "out", *DEBUG)
    assert rc == 0 and "done 1" in out
    skipped = [ln for ln in out.splitlines() if ln.startswith("skipped")]
    assert len(skipped) == 2 and all("zero or negative duration" in ln for ln in skipped), out


def test_an_edit_with_no_video_tracks_says_so_and_fails(tmp_path, cli):
    rc, out, _ = cli("batch", audio_only_edit(tmp_path / "a.otio"), "-o", tmp_path / "out", *DEBUG)
    assert rc == 1 and "no video tracks" in out, out


# ---------------------------------------------------------------------------- point 7
@pytest.mark.parametrize("rate", [0, -1, "nan", "inf", 1e9])
def test_an_unusable_timeline_rate_is_one_line(tmp_path, pic, cli, rate):
    rc, _, err = cli("batch", rate_edit(tmp_path / "r.otio", rate, good_media=pic), "-o", tmp_path / "out", *DEBUG)
    assert rc == 2 and "not a usable frame rate" in err and "r.otio" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("rate", [0, -1, "nan", "inf", 1e9])
def test_an_unusable_clip_rate_fails_that_clip_only(tmp_path, pic, cli, rate):
    rc, out, _ = cli("batch", rate_edit(tmp_path / "r.otio", rate, where="clip", good_media=pic), "-o",
                     tmp_path / "out", *DEBUG)
    assert rc == 1, out
    lines = _failed_lines(out)
    assert any("'bad'" in ln and "not a usable frame rate" in ln for ln in lines), out
    # the clip before it is foleyed, unless OTIO cannot place it either (inf, -1 poison the track's sums)
    assert "done 1" in out or all("cannot be read" in ln for ln in lines), out
    assert (tmp_path / "out" / "r.foley.report.json").exists()


def test_names_that_are_not_utf8_are_foleyed(tmp_path, pic, cli):
    rc, out, _ = cli("batch", bad_utf8_edit(tmp_path / "u.otio", pic), "-o", tmp_path / "out", *DEBUG)
    assert rc == 0 and "done 1" in out and "not valid UTF-8" in out, out


def test_a_timeline_file_name_that_is_not_utf8_is_read(tmp_path, pic, cli):
    src = one_clip_edit(tmp_path / "cut.otio", pic)
    odd = tmp_path / os.fsdecode(b"cut\xff.otio")
    src.rename(odd)
    rc, out, _ = cli("batch", odd, "-o", tmp_path / "out", *DEBUG)
    assert rc == 0 and "done 1" in out, out


@pytest.mark.parametrize("meta", ["door", [1, 2], 5])
def test_marker_metadata_that_is_not_a_mapping_fails_the_clip_naming_the_marker(tmp_path, pic, cli, meta):
    rc, out, _ = cli("batch", marker_meta_edit(tmp_path / "m.otio", pic, meta), "-o", tmp_path / "out", *DEBUG)
    (line,) = _failed_lines(out)
    assert rc == 1 and "marker 'foley: door'" in line and "not a mapping" in line, out


def test_nesting_1500_deep_fails_the_deep_clip_only(tmp_path, pic, cli):
    rc, out, _ = cli("batch", deep_edit(tmp_path / "d.otio", pic, 1500), "-o", tmp_path / "out", *DEBUG)
    (line,) = _failed_lines(out)
    assert rc == 1 and "done 1" in out and "nested more than" in line, out


@pytest.mark.parametrize("key,value,words", [("event", [1, 2], '["event"] is [1, 2]'),
                                             ("prompts", 5, '["prompts"] is 5'),
                                             ("event", "", '["event"] is \'\'')])
def test_bad_metadata_values_name_their_key(tmp_path, pic, cli, key, value, words):
    tl = one_clip_edit(tmp_path / "c.otio", pic, meta={key: value})
    rc, out, _ = cli("batch", tl, "-o", tmp_path / "out", *DEBUG)
    (line,) = _failed_lines(out)
    assert rc == 1 and words in line and "internal error" not in line, out


def test_output_folder_problems_are_one_line(tmp_path, pic, cli, monkeypatch):
    tl = one_clip_edit(tmp_path / "c.otio", pic)
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    for out, words in ((a_file, "is a file"), (a_file / "sub", "cannot write to the output folder"),
                       (tmp_path / "out.otio", "use -o " + str(tmp_path / "out"))):
        rc, _, err = cli("batch", tl, "-o", out, *DEBUG)
        assert rc == 2 and words in err and err.count("\n") == 1, err
    assert a_file.read_text() == "mine" and not (tmp_path / "out.otio").exists()

    def refuse(self, *a, **k):  # an unwritable parent (as root, permissions cannot refuse: simulate it)
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    rc, _, err = cli("batch", tl, "-o", tmp_path / "ro" / "out", *DEBUG)
    assert rc == 2 and "Permission denied" in err and "choose a folder you can write to" in err


@pytest.mark.parametrize("seed", [2**64 + 1, -5])
def test_seeds_out_of_range_are_refused(tmp_path, pic, cli, seed):
    rc, _, err = cli("batch", one_clip_edit(tmp_path / "c.otio", pic), "-o", tmp_path / "out", "--seed", seed, *DEBUG)
    assert rc == 2 and "--seed" in err and "0 to 2147483647" in err, err
    assert not (tmp_path / "out" / "stems").exists()


def test_a_partial_checkpoint_is_one_line(tmp_path, cli):
    torch = pytest.importorskip("torch")
    torch.save({"state_dict": {"control_model.input_hint_block.0.weight": torch.zeros(16, 3, 3, 3)}},
               tmp_path / "part.ckpt")
    rc, _, err = cli("convert", tmp_path / "part.ckpt", tmp_path / "w")
    assert rc == 2 and "incomplete" in err and "part.ckpt" in err, err


# ---------------------------------------------------------------------------- point 9
def test_unknown_engine_options_are_refused(tmp_path, pic, cli):
    rc, _, err = cli("batch", one_clip_edit(tmp_path / "c.otio", pic), "-o", tmp_path / "out",
                     "--engine-opt", "foo=bar", *DEBUG)
    assert rc == 2 and "has no option 'foo'" in err, err


@pytest.mark.parametrize("target", ["/dev/zero", "folder"])
def test_a_device_or_folder_as_media_is_named_as_such(tmp_path, cli, target):
    if target == "folder":
        target = tmp_path / "clips"
        target.mkdir()
    rc, out, _ = cli("batch", one_clip_edit(tmp_path / "c.otio", target), "-o", tmp_path / "out", *DEBUG)
    (line,) = _failed_lines(out)
    assert rc == 1 and "not found" not in line and ("is a folder" in line or "not a regular file" in line), out


def test_a_failed_otio_write_does_not_suggest_otio(tmp_path):
    from melfoley.core.errors import MelfoleyError
    from melfoley.plugin.otio_out import write_timeline

    (tmp_path / "x.otio").mkdir()  # the destination is a folder: the final rename fails
    with pytest.raises(MelfoleyError) as exc:
        write_timeline(otio.schema.Timeline(name="x"), tmp_path / "x.otio", "otio")
    assert "try --format otio" not in str(exc.value)


def test_the_panel_opens_or_refuses_every_hostile_edit_with_a_message(tmp_path, pic):
    pytest.importorskip("PySide6")
    from inputs import audio_only_edit, bad_utf8_edit, deep_edit, marker_meta_edit, rate_edit, zero_length_edit
    from melfoley.core.errors import MelfoleyError
    from melfoley.ui.session import Session

    opens = {"clip rate": rate_edit(tmp_path / "rc.otio", 1e9, where="clip", good_media=pic),
             "utf8": bad_utf8_edit(tmp_path / "u.otio", pic), "marker": marker_meta_edit(tmp_path / "m.otio", pic, [1]),
             "deep": deep_edit(tmp_path / "d.otio", pic, 1500), "sound only": audio_only_edit(tmp_path / "a.otio"),
             "zero": zero_length_edit(tmp_path / "z.otio", pic),
             "metadata": one_clip_edit(tmp_path / "e.otio", pic, meta={"event": [1, 2], "prompts": 5})}
    for what, path in opens.items():
        assert Session.open(path, output_dir=tmp_path / "out" / what.replace(" ", "_")) is not None, what
    with pytest.raises(MelfoleyError, match="not a usable frame rate"):
        Session.open(rate_edit(tmp_path / "r.otio", float("nan"), good_media=pic), output_dir=tmp_path / "o")
