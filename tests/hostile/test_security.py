"""Issue 15, points 1 and 4: bundles never carry files the run did not use; unpacking is capped."""

from __future__ import annotations

import zipfile

import pytest

from inputs import RATE, bomb_otioz, clip, edit, secret_file, small_otioz
from melfoley.plugin.timeline import TimelineError, read_timeline

KEEP_BUNDLES = 4  # melfoley.plugin.bundle.KEEP_BUNDLES


def test_otioz_carries_only_the_picture_the_run_used(tmp_path, pic, cli):
    secret = secret_file(tmp_path)
    tl = edit(tmp_path / "cut.otio", [[clip("good", pic, 0, 10, RATE, media_frames=50),
                                       clip("shadow", secret, 0, 10, RATE, media_frames=50),
                                       clip("badmeta", pic, 10, 10, RATE, media_frames=50, meta={"takes": 0})]], RATE)
    rc, out, _ = cli("batch", tl, "-o", tmp_path / "out", "--engine", "debug", "--format", "otioz", "--quiet")
    assert rc == 1 and out.count("FAILED") == 2, out
    with zipfile.ZipFile(tmp_path / "out" / "cut.foley.otioz") as zf:
        names = zf.namelist()
        blobs = b"".join(zf.read(n) for n in names if n.startswith("media/"))
    assert "media/m.mp4" in names and sum(n.endswith(".wav") for n in names) == 1, names
    assert b"SECRETHASH" not in blobs and not any("shadow" in n for n in names)


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path, monkeypatch):
    bomb = bomb_otioz(tmp_path / "bomb.otioz", 64 << 20)
    assert bomb.stat().st_size < 1 << 20
    from melfoley.core.userdirs import cache_dir

    with pytest.raises(TimelineError, match="MELFOLEY_OTIOZ_MAX_BYTES") as exc:
        read_timeline(bomb)
    assert "64.0 MiB" in str(exc.value) and str(bomb) in str(exc.value)
    unpacked = cache_dir() / "otioz"
    assert not unpacked.exists() or sum(f.stat().st_size for f in unpacked.rglob("*") if f.is_file()) == 0
    monkeypatch.setenv("MELFOLEY_OTIOZ_MAX_BYTES", "100M")  # the override, for a bundle the user trusts
    src = read_timeline(bomb)
    assert (src.bundle_dir / "media" / "zeros.mp4").stat().st_size == 64 << 20


def test_unpacked_bundles_are_kept_bounded(tmp_path, pic):
    from melfoley.core.userdirs import cache_dir

    dirs = [read_timeline(small_otioz(tmp_path / f"b{i}.otioz", pic, str(i))).bundle_dir
            for i in range(KEEP_BUNDLES + 2)]
    left = [d for d in (cache_dir() / "otioz").iterdir()]
    assert len(left) == KEEP_BUNDLES and dirs[-1] in left and dirs[0] not in left
    assert read_timeline(tmp_path / "b0.otioz").bundle_dir.joinpath("media", pic.name).is_file()  # unpacked again
