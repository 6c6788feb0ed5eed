"""The panel's document and its files, without widgets where possible: settings in clip
metadata (read back by the plugin layer's job builder), stale takes, the demo edit with the
embedded engine, the space bar, regenerating one clip, and the lazy ``melfoley panel``."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("JACK_NO_START_SERVER", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
from importlib import resources  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from melfoley.plugin.jobs import BatchDefaults, build_job  # noqa: E402
from melfoley.plugin.timeline import find_picture_clips, read_timeline  # noqa: E402
from melfoley.ui import settings_io  # noqa: E402
from melfoley.ui.panel import FoleyPanel  # noqa: E402
from melfoley.ui.sample_edit import make_edit  # noqa: E402
from melfoley.ui.session import Session  # noqa: E402


@pytest.fixture
def edit(corpus, tmp_path):
    return make_edit(tmp_path / "edit.otio", corpus / "video")


def test_settings_saved_by_the_panel_are_what_the_batch_reads(edit, tmp_path):
    s = Session.open(edit, output_dir=tmp_path / "out")
    curve = np.linspace(0, 1, 137).astype(np.float32)
    s.update("V1/0", prompt="glass break", takes=2, seed=11, energy=curve)
    assert s.dirty
    saved = s.save()
    assert saved.parent == tmp_path / "out" and not s.dirty
    with pytest.raises(Exception, match="refusing to overwrite"):
        s.save(edit)
    src = read_timeline(saved)
    clip = next(c for c in find_picture_clips(src).clips if c.clip_id == "V1/0")
    job = build_job(clip, BatchDefaults())  # melfoley batch's reading of the same clip
    assert (job.prompt, job.takes, job.seed) == ("glass break", 2, 11)
    assert np.allclose(job.energy, curve, atol=1e-4)
    again = Session.open(saved, output_dir=tmp_path / "out2")
    st = again.state("V1/0").settings
    assert st.prompt == "glass break" and np.allclose(st.energy, curve, atol=1e-4)
    assert again.state("V1/3").status == "missing media"  # media still resolved (absolute paths)
    assert again.state("V1/2").problem is None


def test_settings_io_round_trip_and_bad_values():
    s = settings_io.ClipSettings(prompt="door", takes=4, seed=3, engine="debug",
                                 energy=np.array([0.0, 0.5, 1.0], np.float32), kept=2, kept_seed=5)
    back = settings_io.read(settings_io.to_metadata(s))
    assert back == s
    assert settings_io.read({"takes": "many", "seed": None, "energy": "bogus"}).takes == settings_io.DEFAULT_TAKES


def test_changed_settings_make_takes_stale(edit, tmp_path):
    s = Session.open(edit, output_dir=tmp_path / "out")
    s.update("V1/0", prompt="steps")
    s.set_takes("V1/0", ["t1", "t2"])
    assert s.state("V1/0").status == "done" and s.state("V1/0").settings.kept is None  # keep is explicit
    s.update("V1/0", kept=1)  # picking a take does not change the audio
    assert s.state("V1/0").status == "done"
    before = s.state("V1/0").settings
    s.update("V1/0", energy=np.full(10, 0.3, np.float32))
    assert s.state("V1/0").status == "stale"
    s.set_settings("V1/0", before)  # what undo does: the takes are current again
    assert s.state("V1/0").status == "done"
    s.update("V1/0", gain_db=-6.0, nudge=0.04)  # placement is applied at the stem, not rendered
    assert s.state("V1/0").status == "done"


def test_demo_edit_with_the_embedded_engine(qtbot, tmp_path):
    demo = resources.files("melfoley.resources").joinpath("demo/demo.otio")
    if not demo.is_file():
        pytest.skip("the demo edit is not installed")
    from melfoley.core.engine import available_engines

    if "embedded" not in available_engines():
        pytest.skip("the embedded engine is not installed")
    panel = FoleyPanel(engine="embedded")
    qtbot.addWidget(panel)
    s = panel.open_timeline(str(demo), output_dir=tmp_path / "out")
    assert [panel.clips.clip_model.get(c).problem for c in s.clip_ids] == [None] * len(s.clip_ids)
    assert s.state("V1/0").settings.prompt == "footsteps on grass"  # from the edit's clip metadata
    s.update("V1/0", takes=1)
    with qtbot.waitSignal(panel.generation_finished, timeout=240000) as fin:
        panel.generate(["V1/0"])
    assert fin.args[0]["done"] == ["V1/0"], panel.status.text()
    take = s.state("V1/0").takes[0]
    assert take.metadata["engine"] == "embedded" and take.audio.shape[0] == round(2.4 * take.sample_rate)
    assert np.abs(take.audio).max() > 1e-3  # it made sound
    with qtbot.waitSignal(panel.exported, timeout=60000) as ex:
        panel.export()
    assert len(ex.args[0].stems) == 1 and ex.args[0].stems[0].parent.name == "stems"
    panel.shutdown()


def test_space_bar_plays_and_regenerating_one_clip_leaves_the_others(qtbot, edit, tmp_path):
    panel = FoleyPanel(engine="debug")
    qtbot.addWidget(panel)
    panel.show()
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    for cid in ("V1/0", "V1/4"):
        s.update(cid, prompt="footsteps", takes=2)
    with qtbot.waitSignal(panel.generation_finished, timeout=60000):
        panel.generate(["V1/0", "V1/4"])
    before = list(s.state("V1/4").takes)
    panel.clips.select_ids(["V1/0"])
    qtbot.waitUntil(lambda: panel.takes.list.count() == 2)
    panel.clips.setFocus()
    qtbot.keyClick(panel.clips, Qt.Key.Key_Space)
    assert panel.player.is_playing()  # silently here (no sound card), with the playhead running
    qtbot.waitUntil(lambda: panel.player.position() > 0.05, timeout=3000)
    qtbot.keyClick(panel.clips, Qt.Key.Key_Space)
    assert not panel.player.is_playing()
    s.update("V1/0", seed=100)
    assert panel.clips.clip_model.get("V1/0").status in ("done", "stale")
    with qtbot.waitSignal(panel.generation_finished, timeout=60000) as fin:
        panel.takes.regen_button.click()
    assert fin.args[0]["done"] == ["V1/0"]
    assert [t.seed for t in s.state("V1/0").takes] == [100, 101]
    assert s.state("V1/4").takes == before  # the same take objects: untouched
    panel.shutdown()


def test_cli_panel_command_is_lazy():
    code = ("import sys, melfoley.plugin.cli as c; p = c.build_parser(); "
            "assert 'PySide6' not in sys.modules, 'Qt imported by --help'; "
            "a = p.parse_args(['panel', 'x.otio', '--engine', 'debug']); print(a.timeline, a.engine)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "x.otio debug"
    from melfoley.plugin.cli import main

    assert main(["panel", "/nonexistent/edit.otio"]) == 2  # a clear one-line error, not a traceback
