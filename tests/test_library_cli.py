"""``melfoley library`` on the command line, the starter library, and the panel's Add sound library dialog."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from melfoley.core.corpus import split
from melfoley.core.library.index import LibraryIndex
from melfoley.plugin.cli import main

STARTER = Path(__file__).resolve().parents[1] / "melfoley" / "resources" / "library"


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


def _small_library(root: Path, corpus_items) -> Path:
    root.mkdir()
    for it in [c for c in corpus_items if c.split == "train" and c.label in ("glass_break", "dog_bark")][:4]:
        shutil.copy(it.path, root / it.path.name)
    (root / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    return root


def test_add_stats_list_rescan_remove(tmp_path, corpus_items, capsys):
    lib = _small_library(tmp_path / "sfx", corpus_items)
    db = tmp_path / "ix.sqlite"
    assert main(["library", "--library-db", str(db), "add", str(lib)]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "broken.wav" in out and "indexed 4, unchanged 0" in out
    assert main(["library", "--library-db", str(db), "stats"]) == 0
    out = capsys.readouterr().out
    assert "ok          4 files" in out and "22050 Hz: 4" in out and "error: " in out
    assert main(["library", "--library-db", str(db), "list"]) == 0
    assert f"{lib}  4 files" in capsys.readouterr().out
    assert main(["library", "--library-db", str(db), "rescan"]) == 0
    assert "indexed 0, unchanged 5" in capsys.readouterr().out
    assert main(["library", "--library-db", str(db), "remove", str(lib)]) == 0
    assert LibraryIndex(db).ok_files() == 0 and len(list(lib.iterdir())) == 5  # the files are untouched


def test_bad_folders_and_databases_are_one_line_errors(tmp_path, capsys, monkeypatch):
    db = tmp_path / "ix.sqlite"
    assert main(["library", "--library-db", str(db), "add", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err
    monkeypatch.setenv("MELFOLEY_LIBRARY_DB", str(tmp_path / "env.sqlite"))  # the env variable is the default
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    db.write_bytes(b"garbage" * 50)
    assert main(["library", "--library-db", str(db), "list"]) == 0
    assert "moved to" in capsys.readouterr().err and list(tmp_path.glob("ix.sqlite.corrupt-*"))
    assert main(["library", "list"]) == 0 and (tmp_path / "env.sqlite").exists()


def test_starter_library_is_the_train_split_with_licences(corpus_items):
    rows = list(csv.DictReader((STARTER / "manifest.csv").open()))
    val = {str(it.path.relative_to(it.path.parents[2])) for it in split(corpus_items, "val")}
    assert not val & {r["corpus_path"] for r in rows}  # the val split stays out
    assert {r["label"] for r in rows} == {it.label for it in corpus_items}  # every class
    assert all(r["licence"] and r["attribution"] and (STARTER / r["file"]).exists() for r in rows)
    assert sum(p.stat().st_size for p in STARTER.rglob("*") if p.is_file()) <= 40 * 2**20
    att = (STARTER / "ATTRIBUTION.md").read_text()
    assert att.count("**CC-BY-SA-3.0**") == sum(r["licence"] == "CC-BY-SA-3.0" for r in rows)


def test_the_engine_uses_the_starter_library_when_the_user_has_none(tmp_path, monkeypatch):
    from melfoley.core.engines import library as eng_mod

    part = tmp_path / "starter"
    rows = [r for r in csv.DictReader((STARTER / "manifest.csv").open()) if r["label"] in ("glass_break", "rain")]
    for r in rows:
        (part / r["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(STARTER / r["file"], part / r["file"])
    with (part / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    monkeypatch.setattr(eng_mod, "starter_dir", lambda: part)
    monkeypatch.setenv("MELFOLEY_LIBRARY_DB", str(tmp_path / "none-yet.sqlite"))
    eng = eng_mod.LibraryEngine()
    assert eng.source == "starter" and not (tmp_path / "none-yet.sqlite").exists()
    from melfoley.core.control import QCDControl

    e = np.full(861, 0.306, np.float32)
    e[200:230] = 0.56 * np.exp(-np.arange(30) / 15) + 0.306 * (1 - np.exp(-np.arange(30) / 15))
    eng.render(QCDControl(e, np.full(861, 0.05), np.full((2, 861), 40), "hifigan22k"), "glass breaking", 0)
    (src,) = eng._renders[-1]["sources"]
    assert "GLASBrk_" in src["file"] and src["licence"] in ("CC0-1.0", "CC-BY-3.0", "CC-BY-SA-3.0")
    assert src["attribution"]


def test_add_sound_library_dialog_indexes_off_the_ui_thread_and_cancels(tmp_path, corpus_items, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from melfoley.ui.library_dialog import add_library_folder

    app = QApplication.instance() or QApplication([])
    import threading

    import melfoley.core.library.scan as scan_mod

    lib = _small_library(tmp_path / "sfx", corpus_items)
    scan_threads, done_threads = [], []
    real_scan = scan_mod.scan

    def recording_scan(*a, **kw):
        scan_threads.append(threading.get_ident())
        return real_scan(*a, **kw)

    monkeypatch.setattr(scan_mod, "scan", recording_scan)
    got = []

    def on_done(rep, msg):
        done_threads.append(threading.get_ident())
        got.append((rep, msg))

    job = add_library_folder(None, folder=lib, library_db=tmp_path / "ix.sqlite", on_done=on_done)
    t = time.monotonic()
    while not got and time.monotonic() - t < 60:
        app.processEvents()  # the UI thread stays free while the pool thread indexes
        time.sleep(0.01)
    rep, msg = got[0]
    assert rep.indexed == 4 and "broken.wav" in msg and job.done.is_set()
    ui = threading.get_ident()
    assert scan_threads and scan_threads[0] != ui  # indexed on a pool thread
    assert done_threads == [ui]  # the result is delivered on the UI thread
    got.clear()
    job = add_library_folder(None, folder=lib, library_db=tmp_path / "other.sqlite",
                             on_done=lambda rep, msg: got.append((rep, msg)))
    job.cancel()
    t = time.monotonic()
    while not got and time.monotonic() - t < 60:
        app.processEvents()
        time.sleep(0.01)
    rep, msg = got[0]
    assert rep is None or rep.interrupted
    assert "Cancel" in msg
