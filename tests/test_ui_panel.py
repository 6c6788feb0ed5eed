"""The whole panel driven as a user would, offscreen: open an edit over the corpus videos,
select clips, type a sound event, draw on the energy curve, generate with the debug engine,
keep a take, export, reopen: the edit is still there. Plus the corpus timelines whose media
is absent, unsaved settings, and the event-loop latency while a batch runs."""

from __future__ import annotations

from ui_support import close_panel, draw as _draw, new_panel, set_prompt as _set_prompt  # noqa: I001
from ui_support import wait_preview as _wait_preview

import os
import threading
import time

import numpy as np
import opentimelineio as otio
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from melfoley.core.engines import debug as debug_engine
from melfoley.ui.engine_host import shared_host
from melfoley.ui.latency import LatencyProbe
from melfoley.ui.panel import FoleyPanel
from melfoley.ui.sample_edit import make_edit
from melfoley.ui.window import FoleyWindow


@pytest.fixture
def edit(corpus, tmp_path):
    return make_edit(tmp_path / "edit.otio", corpus / "video")


@pytest.fixture
def panel(qtbot):
    p = new_panel(qtbot)
    yield p
    close_panel(p)


def test_full_flow_edit_generate_keep_export_reopen(qtbot, panel, edit, tmp_path):
    out = tmp_path / "out"
    original = edit.read_bytes()
    session = panel.open_timeline(edit, output_dir=out)
    assert session is not None and panel.clips.clip_model.rowCount() == 4
    model = panel.clips.clip_model
    assert model.get("V1/3").status == "missing media" and "does_not_exist.mov" in model.get("V1/3").problem
    assert model.get("V1/0").timecode == "01:00:00:00"

    # clip 1: sound event, then a pen stroke over its curve
    panel.clips.select_ids(["V1/0"])
    _wait_preview(qtbot, panel, "V1/0")
    _set_prompt(qtbot, panel, "footsteps on gravel")
    curve = panel.editor.curve
    n = curve.energy().size
    assert n == debug_engine.clip_frames(1.6)  # the control grid of the engine
    _draw(qtbot, curve, n // 4, n // 2, 0.95)
    drawn = session.state("V1/0").settings.energy
    assert drawn is not None and drawn[n // 4 + 2: n // 2 - 2].min() > 0.9
    assert panel.has_unsaved()

    # clip 4: its own event; then both selected and generated in a worker
    panel.clips.select_ids(["V1/4"])
    _wait_preview(qtbot, panel, "V1/4")
    _set_prompt(qtbot, panel, "door slam")
    panel.clips.select_ids(["V1/0", "V1/4"])
    assert panel.clips.selected_ids() == ["V1/0", "V1/4"]
    with qtbot.waitSignal(panel.generation_finished, timeout=60000) as fin:
        panel.generate_button.click()
    assert fin.args[0]["done"] == ["V1/0", "V1/4"]
    assert model.get("V1/0").status == "done" and model.get("V1/2").status == "not generated"
    takes = session.state("V1/0").takes
    assert [t.seed for t in takes] == [0, 1, 2]
    # the drawn curve reached the renderer: the take's control carries it
    assert np.allclose(takes[0].control.energy[n // 4 + 2: n // 2 - 2], drawn[n // 4 + 2: n // 2 - 2], atol=0.02)

    # pick take 2 of clip 1
    panel.clips.select_ids(["V1/0"])
    qtbot.waitUntil(lambda: panel.takes.list.count() == 3)
    panel.takes.list.setCurrentRow(1)
    panel.takes.keep_button.click()
    assert session.state("V1/0").settings.kept == 1

    # a changed event makes the clip stale (takes no longer match its settings)
    panel.clips.select_ids(["V1/4"])
    _set_prompt(qtbot, panel, "door slam hard")
    assert model.get("V1/4").status == "stale"

    with qtbot.waitSignal(panel.exported, timeout=60000) as ex:
        panel.export(out)
    summary = ex.args[0]
    assert len(summary.stems) == 2 and all(p.exists() for p in summary.stems)
    assert summary.timeline.exists() and not panel.has_unsaved()
    tl = otio.adapters.read_from_file(str(summary.timeline))
    foley = [t for t in tl.audio_tracks() if t.name.startswith("FOLEY")]
    assert foley and sum(len(list(t.find_clips())) for t in foley) == 2
    assert "v002" in next(iter(foley[0].find_clips())).name or any(
        "v002" in c.name for t in foley for c in t.find_clips())  # the kept take (2) was written
    # the input edit is untouched, byte for byte (not "no 'melfoley' in it": a checkout named melfoley is in its paths)
    assert edit.read_bytes() == original

    # reopen the exported edit in a fresh panel: prompt, curve and kept take are back
    again = FoleyPanel(engine="debug")
    qtbot.addWidget(again)
    s2 = again.open_timeline(summary.timeline, output_dir=tmp_path / "out2")
    assert "Foley tracks already in the edit: FOLEY" in again.timeline_info.text()
    st = s2.state("V1/0").settings
    # the Foley track's stem is the clip's take again (found through its sidecar), still kept
    reopened = s2.state("V1/0").takes
    assert [t.seed for t in reopened] == [1] and st.kept == 0 and st.kept_seed == 1
    assert s2.state("V1/0").status == "done" and again.clips.clip_model.get("V1/0").status == "done"
    assert st.prompt == "footsteps on gravel"
    assert st.energy is not None and np.allclose(st.energy, drawn, atol=1e-3)
    assert s2.state("V1/4").settings.prompt == "door slam hard"
    assert s2.state("V1/4").status == "stale"  # exported stale: it says so again
    assert s2.state("V1/4").settings.kept is None  # nobody kept one: take 1 was written, not starred
    again.clips.select_ids(["V1/0"])
    _wait_preview(qtbot, again, "V1/0")
    assert np.allclose(again.editor.curve.energy(), drawn, atol=1e-3)
    assert again.editor.curve.is_edited()
    again.shutdown()


def test_corpus_timeline_with_missing_media_opens_and_says_why(qtbot, panel, corpus, tmp_path):
    path = corpus / "timelines" / "otio-fcp-adapter" / "premiere_example.xml"
    session = panel.open_timeline(path, output_dir=tmp_path / "out")
    assert session is not None
    rows = panel.clips.clip_model.rows
    assert rows and all(r.status == "missing media" and r.problem for r in rows)
    assert not any("--" in r.problem for r in rows)  # the panel's words: File > Media folder..., no flags
    assert any("File > Media folder" in r.problem for r in rows)
    assert "cannot be done" in panel.timeline_info.text() and "skipped" in panel.timeline_info.text()
    tip = panel.clips.clip_model.data(panel.clips.clip_model.index(0, 5), Qt.ItemDataRole.ToolTipRole)
    assert "cannot be done" in tip and "media" in tip
    panel.clips.select_ids([rows[0].clip_id])
    assert not panel.editor.isEnabled() and "cannot be done" in panel.editor.curve._message
    assert panel.generate(None) is None and "Nothing to generate" in panel.status.text()


def test_unsaved_settings_autosave_and_close_asks(qtbot, edit, tmp_path, monkeypatch):
    out = tmp_path / "out"
    win = FoleyWindow(engine="debug")
    qtbot.addWidget(win)
    win.show()
    win.panel.open_timeline(edit, output_dir=out)
    win.panel.clips.select_ids(["V1/0"])
    _wait_preview(qtbot, win.panel, "V1/0")
    _set_prompt(qtbot, win.panel, "cloth rustle")
    n = win.panel.editor.curve.energy().size
    _draw(qtbot, win.panel.editor.curve, 5, n // 3, 0.1)
    assert win.panel.has_unsaved()
    qtbot.waitUntil(lambda: win.panel.session.autosave_path().exists(), timeout=5000)  # the timer fired

    asked = []
    monkeypatch.setattr(win, "ask_unsaved", lambda: asked.append(1) or QMessageBox.StandardButton.Cancel)
    assert not win.close() and win.isVisible() and asked  # cancel keeps the window
    monkeypatch.setattr(win, "ask_unsaved", lambda: QMessageBox.StandardButton.Discard)
    assert win.close()

    # reopening the edit restores the autosaved settings (nothing silently dropped)
    p2 = FoleyPanel(engine="debug")
    qtbot.addWidget(p2)
    s2 = p2.open_timeline(edit, output_dir=out)
    assert s2.restored_from == s2.autosave_path()
    st = s2.state("V1/0").settings
    assert st.prompt == "cloth rustle" and st.energy is not None and st.energy[10:n // 3 - 5].max() < 0.15
    assert "restored unsaved settings" in p2.status.text()
    # saving writes the settings beside the output and clears the autosave
    saved = p2.save_settings()
    assert saved.exists() and not s2.autosave_path().exists() and not p2.has_unsaved()
    p2.shutdown()


def test_generation_runs_in_the_engine_process_and_the_ui_keeps_ticking(qtbot, panel, corpus, tmp_path,
                                                                        monkeypatch):
    """Generation never runs on the UI thread (nor in the UI's process: the engine process
    renders); a 20 ms QTimer probe keeps firing over a batch of a few seconds (8 takes of
    two clips) while the UI is used. The lateness figures: ``python bench/ui_latency.py``."""
    edit = make_edit(tmp_path / "long.otio", corpus / "video", long=True)
    session = panel.open_timeline(edit, output_dir=tmp_path / "out")
    for cid in ("V1/0", "V1/4"):
        session.update(cid, prompt="footsteps on gravel", takes=8)
    rendered_here = []
    real_render = debug_engine.DebugEngine.render

    def render(self, control, prompt, seed):  # records any render in this (the UI's) process
        rendered_here.append(threading.get_ident())
        return real_render(self, control, prompt, seed)

    monkeypatch.setattr(debug_engine.DebugEngine, "render", render)
    qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=20000)  # thumbnails, preview

    probe = LatencyProbe(20)
    lateness = probe.lateness
    probe.start()
    t0 = time.monotonic()
    with qtbot.waitSignal(panel.generation_finished, timeout=120000) as fin:
        panel.generate(["V1/0", "V1/4"])
        # the UI thread keeps working meanwhile: select, type, draw
        panel.clips.select_ids(["V1/4"])
        qtbot.keyClicks(panel.editor.prompt, " x")
    batch_s = time.monotonic() - t0
    probe.stop()
    assert fin.args[0]["done"] == ["V1/0", "V1/4"] and len(session.state("V1/4").takes) == 8
    assert not rendered_here  # all 16 takes were rendered by the engine process
    host = shared_host("generate")
    assert host.alive() and host._proc.pid != os.getpid()
    assert len(lateness) >= 10, f"too few probe ticks over a {batch_s:.2f} s batch"
    # the event loop kept running all along (the 100 ms budget is measured and judged by
    # bench/ui_latency.py: a timing threshold on a shared CI machine is not a test)
    assert len(lateness) >= batch_s * 1000 / 20 * 0.5


def test_cancel_keeps_finished_clips(qtbot, panel, edit, tmp_path):
    session = panel.open_timeline(edit, output_dir=tmp_path / "out")
    for cid in ("V1/0", "V1/2", "V1/4"):
        session.update(cid, prompt="footsteps", takes=4)
    done = []
    panel.generation_finished.connect(done.append)
    job = panel.generate(None)
    job.signals.item_done.connect(lambda cid, _takes: panel.cancel())  # cancel once the first clip is in
    qtbot.waitUntil(lambda: bool(done), timeout=60000)
    assert done[0].get("cancelled")
    statuses = [panel.clips.clip_model.get(c).status for c in ("V1/0", "V1/2", "V1/4")]
    assert statuses[0] == "done" and "generating" not in statuses and statuses.count("done") < 3
    assert panel.generate_button.isEnabled() and not panel.cancel_button.isEnabled()
