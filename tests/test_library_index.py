"""The sound-library index on real corpus files: rates, channels, metadata, incremental rescans,
interruption and resumption, bad input, a corrupt or locked database, two indexers at once."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from melfoley.core.library import index as index_mod
from melfoley.core.library.index import LibraryIndex, LibraryIndexError
from melfoley.core.library.metadata import parse_ucs
from melfoley.core.library.scan import LibraryFolderError, scan

RATES = [(22050, 1, "FLAC", "PCM_16"), (44100, 2, "WAV", "PCM_24"), (48000, 1, "WAV", "FLOAT"),
         (96000, 2, "WAV", "PCM_24")]


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


def _train(corpus_items, label, k):
    return [it for it in corpus_items if it.label == label and it.split == "train"][:k]


def make_library(root: Path, corpus_items) -> Path:
    """Corpus train files at 22.05/44.1/48/96 kHz, mono and stereo, WAV/FLAC, plus a BWF with bext/iXML."""
    import soxr

    from melfoley.plugin.bwf import Bext, IXml, write_bwf

    root.mkdir(parents=True, exist_ok=True)
    picks = _train(corpus_items, "glass_break", 2) + _train(corpus_items, "footsteps_gravel", 2) + \
        _train(corpus_items, "dog_bark", 1) + _train(corpus_items, "door_close", 1)
    for i, it in enumerate(picks):
        x, sr = sf.read(str(it.path), dtype="float32")
        rate, ch, fmt, sub = RATES[i % len(RATES)]
        y = 0.7 * (soxr.resample(x, sr, rate) if rate != sr else x)  # headroom: no clipping at the write
        if ch == 2:
            y = np.stack([y, 0.8 * y], axis=1)
        d = root / it.label
        d.mkdir(exist_ok=True)
        sf.write(str(d / f"{it.path.stem}_{rate}.{'flac' if fmt == 'FLAC' else 'wav'}"), y, rate, subtype=sub,
                 format=fmt)
    extra = _train(corpus_items, "footsteps_wood", 2)  # AIFF and Ogg Vorbis too
    for it, (ext, fmt, sub) in zip(extra, [("aiff", "AIFF", "PCM_16"), ("ogg", "OGG", "VORBIS")]):
        x, sr = sf.read(str(it.path), dtype="float32")
        (root / it.label).mkdir(exist_ok=True)
        sf.write(str(root / it.label / f"{it.path.stem}.{ext}"), 0.7 * x, sr, format=fmt, subtype=sub)
    door = _train(corpus_items, "door_open", 1)[0]
    x, sr = sf.read(str(door.path), dtype="float32")
    write_bwf(root / "DOORWood_Creaky Barn Door_ABC_TESTLIB.wav", x, sample_rate=sr,
              bext=Bext(description="old barn door creaking open slowly"),
              ixml=IXml(note="hinge squeak wooden", project="testlib"))
    write_bwf(root / "DOORMetl_Steel Hatch_ABC_TESTLIB.wav", x, sample_rate=sr, rf64=True,  # RF64 with ds64
              bext=Bext(description="submarine hatch clank"))
    return root


@pytest.fixture(scope="module")
def library(tmp_path_factory, corpus_items):
    return make_library(tmp_path_factory.mktemp("lib") / "sounds", corpus_items)


def _digest(folder: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_index_reads_every_rate_channel_count_and_the_metadata(tmp_path, library):
    before = _digest(library)
    ix = LibraryIndex(tmp_path / "ix.sqlite")
    rep = scan(ix, [library])
    assert rep.problems == [] and rep.indexed == 10 and not rep.interrupted
    assert _digest(library) == before  # library files are only ever read
    st = ix.stats()
    assert set(st["sample_rates"]) == {22050, 44100, 48000, 96000}
    rows = {Path(p).name: (sr, ch, bw) for p, sr, ch, bw in
            ix.execute("SELECT path, sample_rate, channels, bandwidth_hz FROM files")}
    assert {ch for _, ch, _ in rows.values()} == {1, 2}
    for name, (sr, ch, bw) in rows.items():  # all come from 22.05 kHz recordings: none claims full band
        assert 4000 < bw <= 11025 + 50, (name, bw)
    # UCS name -> category, bext description and iXML note are searchable
    cat, sub, fx, desc, text = ix.execute("SELECT category, subcategory, fxname, description, text FROM files "
                                          "WHERE path LIKE '%DOORWood%'").fetchone()
    assert (cat, sub, fx) == ("DOORS", "WOOD", "Creaky Barn Door")
    assert desc == "old barn door creaking open slowly" and "hinge squeak" in text
    assert len(ix.fts("squeak")) == 1 and len(ix.fts("submarine")) == 1  # iXML of a WAV, bext of an RF64
    fmts = {f.split("/")[0] for (f,) in ix.execute("SELECT format FROM files")}
    assert fmts >= {"WAV", "FLAC", "AIFF", "OGG", "RF64"}
    # every file has events with sane onsets inside it, envelopes and histograms
    for onset, offset, dur, env in ix.execute("SELECT e.onset, e.offset, f.duration, e.env FROM events e "
                                              "JOIN files f ON f.id = e.file_id"):
        assert 0 <= onset < offset <= dur + 1e-3
        assert np.frombuffer(env, np.float16).shape == (43,)


def test_ucs_names_parse_and_non_ucs_names_do_not():
    assert parse_ucs("GLASBrk_Window Shatter_ABC_SFXLIB") == {
        "catid": "GLASBrk", "category": "GLASS", "subcategory": "BREAK", "fxname": "Window Shatter", "creator": "ABC"}
    assert parse_ucs("FOLYFeet-Gravel_Vendor-Walk Slow_XYZ_LIB")["fxname"] == "Walk Slow"
    assert parse_ucs("my_favourite_sound") == {}


def test_rescan_is_incremental_and_marks_changed_and_missing_files(tmp_path, library, corpus_items):
    lib = tmp_path / "lib"
    make_library(lib, corpus_items)
    ix = LibraryIndex(tmp_path / "ix.sqlite")
    assert scan(ix, [lib]).indexed == 10
    again = scan(ix)
    assert (again.indexed, again.unchanged, again.missing) == (0, 10, 0)
    changed = sorted(lib.rglob("*.wav"))[0]
    x, sr = sf.read(str(changed), dtype="float32")
    sf.write(str(changed), x[: len(x) // 2], sr)
    gone = sorted(lib.rglob("*.flac"))[0]
    gone.unlink()
    rep = scan(ix)
    assert (rep.indexed, rep.unchanged, rep.missing) == (1, 8, 1)
    assert ix.execute("SELECT status FROM files WHERE path=?", (str(gone),)).fetchone()[0] == "missing"
    assert ix.execute("SELECT COUNT(*) FROM files WHERE path=?", (str(changed),)).fetchone()[0] == 1
    assert ix.ok_files() == 9


def test_an_interrupted_scan_keeps_its_work_and_resumes(tmp_path, library, monkeypatch):
    monkeypatch.setattr("melfoley.core.library.scan.BATCH", 2)
    ix = LibraryIndex(tmp_path / "ix.sqlite")
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    first = scan(ix, [library], should_stop=stop)
    assert first.interrupted and first.indexed == 3 and ix.ok_files() == 3
    rest = scan(ix)
    assert not rest.interrupted and (rest.unchanged, rest.indexed) == (3, 7)
    assert ix.ok_files() == 10
    assert ix.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 10  # nothing twice


def test_bad_files_are_listed_and_skipped(tmp_path, corpus_items):
    lib = tmp_path / "bad"
    lib.mkdir()
    good = _train(corpus_items, "glass_break", 1)[0]
    x, sr = sf.read(str(good.path), dtype="float32")
    sf.write(str(lib / "good.wav"), x, sr)
    (lib / "empty.wav").write_bytes(b"")
    (lib / "corrupt.flac").write_bytes(b"fLaC" + os.urandom(300))
    sf.write(str(lib / "slow.wav"), np.zeros(4000, np.float32) + 0.1, 4000)  # absurdly low rate
    sf.write(str(lib / "poly.wav"), np.zeros((2000, 80), np.float32), 48000)  # 80 channels
    (lib / "notes.txt").write_text("not audio")
    ix = LibraryIndex(tmp_path / "ix.sqlite")
    rep = scan(ix, [lib])
    why = {Path(p).name: w for p, w in rep.problems}
    assert rep.indexed == 1 and set(why) == {"empty.wav", "corrupt.flac", "slow.wav", "poly.wav"}
    assert "sample rate 4000" in why["slow.wav"] and "channel count 80" in why["poly.wav"]
    again = scan(ix)  # problems are remembered (not re-read) and still listed
    assert again.indexed == 0 and len(again.problems) == 4


def test_missing_unreadable_and_empty_folders(tmp_path):
    ix = LibraryIndex(tmp_path / "ix.sqlite")
    with pytest.raises(LibraryFolderError, match="does not exist"):
        scan(ix, [tmp_path / "nope"])
    (tmp_path / "file.wav").write_bytes(b"x")
    with pytest.raises(LibraryFolderError, match="is a file"):
        scan(ix, [tmp_path / "file.wav"])
    empty = tmp_path / "empty"
    empty.mkdir()
    rep = scan(ix, [empty])
    assert (rep.total, rep.problems) == (0, [])
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0)
        try:
            with pytest.raises(LibraryFolderError, match="cannot list"):
                scan(ix, [locked])
        finally:
            locked.chmod(0o755)
    empty.rmdir()  # a folder that vanished later (unmounted drive): reported, its files marked missing
    rep = scan(ix)
    assert any("missing" in w for _, w in rep.problems)


def test_a_corrupt_index_is_moved_aside_and_rebuilt_with_its_folders(tmp_path, library):
    db = tmp_path / "ix.sqlite"
    ix = LibraryIndex(db)
    scan(ix, [library])
    ix.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    ix = LibraryIndex(db)
    assert ix.rebuilt_from is not None and ix.rebuilt_from.exists()
    assert [p for _, p in ix.roots()] == [str(library)] and ix.ok_files() == 0
    assert scan(ix).indexed == 10


def test_a_locked_index_waits_then_says_so(tmp_path, monkeypatch):
    db = tmp_path / "ix.sqlite"
    LibraryIndex(db).close()
    other = sqlite3.connect(str(db), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(index_mod, "BUSY_TIMEOUT_S", 0.3)
    try:
        with pytest.raises(LibraryIndexError, match="locked by another process"):
            ix = LibraryIndex(db)
            ix.add_root(tmp_path)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_two_processes_indexing_at_once(tmp_path, library):
    db = tmp_path / "ix.sqlite"
    code = ("import sys, torch; torch.set_num_threads(1)\n"
            "from melfoley.core.library.index import LibraryIndex\n"
            "from melfoley.core.library.scan import scan\n"
            "r = scan(LibraryIndex(sys.argv[1]), [sys.argv[2]])\n"
            "print(r.indexed, r.unchanged, len(r.problems))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(library)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    counts = sorted(tuple(map(int, o[0].split())) for o in outs)
    assert counts == [(0, 10, 0), (10, 0, 0)]  # one indexed, the other waited and found it done
    ix = LibraryIndex(db)
    assert ix.ok_files() == 10 and ix.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 10


def test_a_folder_inside_an_indexed_folder_is_not_indexed_twice(tmp_path, library):
    ix = LibraryIndex(tmp_path / "ix.sqlite")
    scan(ix, [library])
    said = []
    rep = scan(ix, [library / "glass_break"], notify=said.append)
    assert rep.indexed == 0 and rep.unchanged == 10 and "already in the index" in said[0]
    assert [p for _, p in ix.roots()] == [str(library)]
