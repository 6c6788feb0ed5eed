"""The Nuke Studio / Hiero bridge against a MOCK of Hiero's Python API; melfoley's side for real.

Hiero cannot run here, so the host API is mocked: the few ``hiero.core`` / ``hiero.ui`` /
``hiero.exporters`` objects the bridge touches, modelled on Foundry's Hiero Python
documentation. A ``Sequence`` (``framerate()``, ``timecodeStart()``, ``videoTracks()``,
``audioTracks()``, ``addTrack``), video ``TrackItem``\\ s over rendered media, and recording
``AudioTrack`` / ``TrackItem`` / ``Clip`` / ``MediaSource`` / ``Bin`` classes that check what the
documentation requires: a source set before the ranges, inclusive timeline and source in/out
frames relative to the sequence start, media paths that exist, balanced ``beginUndo`` /
``endUndo``. Hiero's OTIO export is mocked as its export system: ``TimelineProcessorPreset``,
``OTIOExportPreset``, ``ItemWrapper`` and ``taskRegistry.createAndExecuteProcessor``, which
checks the preset, its export template and root, the wrapped sequence and the synchronous
flag, and writes what Foundry's exporter writes (record frames from the sequence start, the
start timecode as the global start, source ranges in the clip's timecode, file URLs), with
the real ``opentimelineio``. The exported OTIO is read by melfoley's own reader, and the batch
runs in a real child process (debug engine) from the docked panel, offscreen, in a
QMainWindow with its own palette standing in for the host.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import types
from fractions import Fraction
from pathlib import Path

import pytest

from melfoley.plugin.hosts import hiero as hiero_bridge
from melfoley.plugin.hosts import install
from melfoley.plugin.hosts.bridge import BridgeError
from melfoley.plugin.timeline import find_picture_clips, read_timeline
from hiero_mock import RATE, START, Sequence, TaskRegistry, VideoItem, hiero_modules  # the mocked Hiero API
from test_timeline_media import render_media

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def four_clips(folder: Path) -> Sequence:
    media = render_media(folder, "plate.mp4", Fraction(RATE), 3.0)
    return Sequence([VideoItem("one", media, 0, 20, 0), VideoItem("two", media, 25, 15, 30),
                     VideoItem("three", media, 45, 20, 10), VideoItem("four", media, 70, 20, 40)])


@pytest.fixture(params=[True], ids=["hiero-exporter"])
def host_has_exporter(request):
    return request.param


@pytest.fixture
def sequence(tmp_path, monkeypatch, host_has_exporter):
    seq = four_clips(tmp_path)
    for name in [m for m in sys.modules if m == "hiero" or m.startswith("hiero.")]:
        monkeypatch.delitem(sys.modules, name)
    for name, mod in hiero_modules(seq, exporter=host_has_exporter).items():
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("MELFOLEY_HOST_OUT", str(tmp_path / "jobs"))
    return seq


@pytest.mark.parametrize("host_has_exporter", [True, False], ids=["hiero-exporter", "fallback-writer"],
                         indirect=True)
def test_the_exported_sequence_reads_back_frame_exact(tmp_path, sequence, host_has_exporter):
    path, by = hiero_bridge.export_sequence(sequence, tmp_path / "reel2.otio")
    assert by == (hiero_bridge.BY_HIERO if host_has_exporter else hiero_bridge.BY_MELFOLEY)
    runs = sys.modules["hiero.core"].taskRegistry.runs
    if host_has_exporter:  # one synchronous 'Process as Sequence' run of an OTIO task on the sequence
        assert runs == [{"preset": hiero_bridge.PRESET_NAME, "root": tmp_path.as_posix(), "paths": ["reel2.otio"],
                         "sequence": "Reel 2", "synchronous": True, "submission": None}]
    else:
        assert runs == []
    src = read_timeline(path)
    scan = find_picture_clips(src)
    assert src.rate == Fraction(RATE) and src.global_start.value == START
    got = [(c.name, c.record.start_time.value, c.record.duration.value, c.media_window(3.0)) for c in scan.clips]
    assert got == [("one", 0, 20, (0.0, 0.8)), ("two", 25, 15, (1.2, 0.6)), ("three", 45, 20, (0.4, 0.8)),
                   ("four", 70, 20, (1.6, 0.8))]  # source frames from the media's start, whatever its timecode
    assert all(c.media_path == Path(tmp_path, "plate.mp4") and not c.media_problem for c in scan.clips)


def test_a_failed_hiero_export_is_a_clear_error_not_a_stale_file(tmp_path, monkeypatch):
    seq = four_clips(tmp_path)
    for name, mod in hiero_modules(seq, registry=TaskRegistry(task_fails=True)).items():
        monkeypatch.setitem(sys.modules, name, mod)
    stale = tmp_path / "reel2.otio"
    stale.write_text("{}")  # an earlier export's file must not pass for this one
    with pytest.raises(BridgeError, match=r"Hiero's OTIO export of sequence 'Reel 2' wrote no readable .*Export Queue"):
        hiero_bridge.export_sequence(seq, stale)
    assert not stale.exists()


#: stand-ins for the host's palettes (Nuke Studio's default dark one, and a light one)
HOST_PALETTES = {
    "dark": {"Window": "#323232", "WindowText": "#cfcfcf", "Base": "#1f1f1f", "AlternateBase": "#2a2a2a",
             "Text": "#dcdcdc", "Button": "#3d3d3d", "ButtonText": "#dcdcdc", "Highlight": "#f7931e",
             "HighlightedText": "#101010"},
    "light": {"Window": "#ececec", "WindowText": "#1e1e1e", "Base": "#ffffff", "AlternateBase": "#f4f4f4",
              "Text": "#111111", "Button": "#e0e0e0", "ButtonText": "#111111", "Highlight": "#2f6fd0",
              "HighlightedText": "#ffffff"},
}


def host_palette(kind: str):
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    for role, colour in HOST_PALETTES[kind].items():
        pal.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    return pal


@pytest.fixture
def palette_kind():
    return "dark"


@pytest.fixture
def host_window(tmp_path, qapp, palette_kind):
    from PySide6.QtWidgets import QLabel, QMainWindow

    from melfoley.plugin.hosts.hiero_panel import HieroFoleyPanel, dock_into

    record = install.install("hiero", home=tmp_path / "home", platform="linux").record
    win = QMainWindow()  # stands in for Nuke Studio: its own palette, the panel docked right
    win.setPalette(host_palette(palette_kind))
    win.setCentralWidget(QLabel("the host's timeline"))
    win.resize(1200, 700)
    panel = HieroFoleyPanel(record=str(record))
    dock = dock_into(win, panel)
    yield win, dock, panel
    if panel.child is not None:
        panel.child.cancel()
    win.close()


@pytest.mark.parametrize("palette_kind", ["dark", "light"], indirect=True)
def test_docked_panel_follows_the_host_palette_at_480_px(sequence, host_window, palette_kind):
    from PySide6.QtGui import QPalette

    win, dock, panel = host_window
    want = HOST_PALETTES[palette_kind]
    assert dock.width() == 480 and panel.styleSheet() == ""  # no sheet of its own: the host's palette rules
    assert panel.minimumSizeHint().width() <= 480, panel.minimumSizeHint()
    role = QPalette.ColorRole
    for widget, colour_role, key in ((panel, panel.backgroundRole(), "Window"),
                                     (panel.status, role.WindowText, "WindowText"),
                                     (panel.run_button, role.ButtonText, "ButtonText"),
                                     (panel.prompt, role.Base, "Base"), (panel.failures, role.Text, "Text")):
        assert widget.palette().color(colour_role).name() == want[key], (widget, key)
    for w in (panel.run_button, panel.cancel_button, panel.edit_button, panel.back_button, panel.prompt,
              panel.engine, panel.sequence_label):
        right = w.mapTo(panel, w.rect().topRight()).x()
        assert 0 < right <= panel.width(), (w, right)
    assert "Reel 2" in panel.sequence_label.text()


def _finished(panel):
    return panel.last_result is not None or panel.status.text().startswith("error")


def test_docked_panel_round_trip_writes_audio_tracks_back(sequence, host_window, qtbot):
    win, dock, panel = host_window
    assert dock.width() == 480  # layout and palette: test_docked_panel_follows_the_host_palette_at_480_px
    panel.engine.setCurrentText("debug")
    panel.takes.setValue(2)
    assert panel.start()
    qtbot.waitUntil(lambda: _finished(panel), timeout=90_000)
    assert panel.last_result is not None, panel.status.text()
    assert panel.last_result["ok"] and "stems placed" in panel.status.text()
    take1 = [t for t in sequence.audio if " v00" not in t.name()]
    alt = [t for t in sequence.audio if " v002" in t.name()]
    assert take1 and alt and all(t.enabled for t in take1) and not any(t.enabled for t in alt)
    items = sorted((i.t[0], i.t[1], i.s[0]) for t in take1 for i in t.placed)
    assert items == [(0, 19, 0), (25, 39, 0), (45, 64, 0), (70, 89, 0)]  # sequence frames, inclusive outs
    proj = sequence.project()
    assert proj.undo == [("begin", "melfoley Foley tracks"), ("end",)]
    (melfoley_bin,) = proj.bin.bins()
    assert melfoley_bin.name() == "melfoley" and len(melfoley_bin.items) == 8  # 4 clips x 2 takes
    side = json.loads(Path(take1[0].placed[0].clip.source.path).with_suffix(".json").read_text())
    assert side["settings"]["takes"] == 2 and side["settings"]["engine"] == "debug"
    # the sequence went out through Hiero's own OTIO exporter, and the job log and status say so
    (run,) = sys.modules["hiero.core"].taskRegistry.runs
    assert run["sequence"] == "Reel 2" and run["synchronous"] and run["paths"] == ["Reel 2.otio"]
    assert panel.exported_by == hiero_bridge.BY_HIERO and hiero_bridge.BY_HIERO in panel.status.text()
    log = (Path(run["root"]) / "melfoley.log").read_text()
    assert f"exported to {run['root']}/Reel 2.otio by {hiero_bridge.BY_HIERO}" in log


def test_cancel_stops_the_child_and_writes_nothing_back(sequence, host_window, qtbot):
    win, dock, panel = host_window
    panel.engine.setCurrentText("debug")
    events = []
    panel.relay.event.connect(events.append)
    assert panel.start()
    qtbot.waitUntil(lambda: any(e.get("event") == "progress" for e in events), timeout=60_000)
    panel.cancel()
    qtbot.waitUntil(lambda: _finished(panel), timeout=60_000)
    assert panel.last_result["interrupted"] and panel.status.text().startswith("stopped")
    assert sequence.audio == [] and panel.run_button.isEnabled()


def test_each_export_of_the_foley_panel_is_written_back_replacing_the_last(sequence, host_window, qtbot):
    from melfoley.ui.panel import FoleyPanel

    win, dock, panel = host_window
    panel.engine.setCurrentText("debug")
    panel.open_full_panel()
    proc = panel.panel_proc
    (run,) = sys.modules["hiero.core"].taskRegistry.runs  # the sequence went out through Hiero's exporter
    job = Path(run["root"])
    try:
        assert proc is not None and panel.watch_timer.isActive() and "written back" in panel.status.text()
        qtbot.wait(2000)
        assert proc.poll() is None, "melfoley's panel process did not stay up"
        # the artist's Export in that panel: the same export code, on the same edit, into its default folder
        fp = FoleyPanel(engine="debug")
        qtbot.addWidget(fp)
        assert fp.open_timeline(job / "Reel 2.otio", output_dir=job / "panel") is not None
        fp.set_default_prompt("footsteps")
        with qtbot.waitSignal(fp.generation_finished, timeout=120_000):
            assert fp.generate(None) is not None, fp.status.text()
        with qtbot.waitSignal(fp.exported, timeout=60_000):
            fp.export(job / "panel")
        qtbot.waitUntil(lambda: bool(sequence.audio), timeout=10_000)
        first = list(sequence.audio)
        frames = sorted((i.t[0], i.t[1]) for t in first for i in t.placed)
        assert frames == [(0, 19), (25, 39), (45, 64), (70, 89)], frames  # sequence frames, inclusive outs
        assert "from the Foley panel's export Reel 2.foley.otio" in panel.status.text()
        # a second export supersedes the first: its tracks go, in the same undo step as the new ones
        with qtbot.waitSignal(fp.exported, timeout=60_000):
            fp.export(job / "panel")
        qtbot.waitUntil(lambda: sequence.audio and sequence.audio[0] is not first[0], timeout=10_000)
        assert len(sequence.audio) == len(first) and not set(map(id, first)) & set(map(id, sequence.audio))
        assert sequence.project().undo == [("begin", "melfoley Foley tracks"), ("end",)] * 2
        fp.session.dirty = False
        fp.shutdown()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the panel and its engine process: their own group
        proc.wait(timeout=30)
    qtbot.waitUntil(lambda: not panel.watch_timer.isActive(), timeout=5_000)  # the panel closed: watching stops


def test_hiero_without_nuke_adds_the_panel_to_its_window_manager(sequence, tmp_path, qapp, monkeypatch):
    from melfoley.plugin.hosts import hiero_panel

    for name in ("DOCKED", "RECORD"):  # entry() sets them for the process: put back after this test
        monkeypatch.setattr(hiero_panel, name, getattr(hiero_panel, name))
    added = []
    sys.modules["hiero.ui"].windowManager = lambda: types.SimpleNamespace(addWindow=added.append)
    record = install.install("hiero", home=tmp_path / "home", platform="linux").record
    widget = hiero_panel.entry({}, str(record))  # no nukescripts here: Hiero's own window manager
    assert added == [widget] and isinstance(widget, hiero_panel.HieroFoleyPanel)
    assert "Reel 2" in widget.sequence_label.text() and widget.record == str(record)
    assert widget.docked_label.text() == ("melfoley's bridge panel is docked: this Python's PySide6 is melfoley's "
                                          "environment's own, not the host's")  # pytest runs in melfoley's env


def test_importing_the_panel_loads_no_torch():
    """The first condition for docking melfoley's own panel in a host's Python: importing it pulls
    no torch (nor av). It still needs PySide6, numpy and opentimelineio. (Constructing it, loading
    an edit, generating and exporting in a host's Python: test_melfoley_panel_docks_in_the_host_python_without_torch.)"""
    import subprocess

    code = ("import sys, melfoley.ui.panel\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'av', 'numpy', 'opentimelineio', "
            "'PySide6'}))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[-2] == "['PySide6', 'numpy', 'opentimelineio']", res.stdout


# ---------------------------------------------------------------- melfoley's own panel, docked in the host's Python
TESTS = Path(__file__).resolve().parent


def host_site(tmp_path) -> Path:
    """The host's own PySide6 and shiboken6: a folder of its own (linking to the same build, the one
    on this machine), so that which copy a module was imported from is visible in its path."""
    import PySide6
    import shiboken6

    site = tmp_path / "host_site"
    site.mkdir()
    for mod in (PySide6, shiboken6):
        (site / mod.__name__).symlink_to(Path(mod.__file__).parent, target_is_directory=True)
    return site


def test_melfoley_panel_docks_in_the_host_python_without_torch(tmp_path):
    """A process plays Nuke Studio: a Python whose sys.path has no melfoley (stdlib and the host's
    PySide6 only), the Hiero API mocked, a fake nukescripts recording registerWidgetAsPanel. The
    installed entry docks melfoley's real FoleyPanel, which loads the sequence through the (mocked)
    Hiero OTIO exporter, generates with the debug engine in its engine process, exports and writes
    the tracks back; torch never enters the host, and the engine process is melfoley's Python."""
    import subprocess

    record = install.install("hiero", home=tmp_path / "home", platform="linux")
    media = render_media(tmp_path, "plate.mp4", Fraction(RATE), 3.0)
    host_python = os.path.realpath(sys.executable)  # this environment's base interpreter, outside it
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MELFOLEY_HOST_OUT": str(tmp_path / "jobs"),
           "MELFOLEY_CACHE_DIR": str(tmp_path / "cache")}
    res = subprocess.run([host_python, "-I", "-S", str(TESTS / "hiero_host.py"), str(host_site(tmp_path)),
                          str(TESTS / "hiero_mock.py"), str(record.script), str(media), str(tmp_path)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    assert res.returncode == 0 and lines, res.stdout[-3000:] + res.stderr[-5000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert not out["had_melfoley"] and out["host_python"] == host_python  # the host could not import melfoley
    assert out["registered"] == ["__import__('melfoley_hosts.hiero_panel', fromlist=['DockedFoleyPanel'])"
                                 ".DockedFoleyPanel", "melfoley Foley", "org.melfoley.FoleyPanel"]
    assert out["cls"] == "DockedFoleyPanel", out
    assert out["docked"].startswith("melfoley's own Foley panel is docked: melfoley's Python 3.11 is the host's"), out
    assert out["loaded"] and out["dock_width"] == 480
    assert sorted(out["generated"]["done"]) == ["V1/0", "V1/2"] and not out["generated"]["failed"], out["generated"]
    assert out["engine"] == "debug"
    assert out["exported"].endswith("Reel 2.foley.otio") and "2 stems placed" in out["after_export"], out
    assert [frames for _, frames in out["tracks"]] == [[[0, 19], [25, 39]]]  # sequence frames, inclusive outs
    assert out["undo"] == [["begin", "melfoley Foley tracks"], ["end"]]
    assert "by Hiero's OTIO exporter" in out["job_log"] and "docked: melfoley's own Foley panel" in out["job_log"]
    # the host kept its own Qt and never loaded torch; melfoley came from melfoley's folder
    assert out["torch_in_host"] == []
    assert out["qt_files"] and all(f.startswith(str(tmp_path / "host_site")) for f in out["qt_files"]), out["qt_files"]
    assert out["melfoley_file"] == str(Path(hiero_bridge.__file__).parents[3] / "melfoley" / "__init__.py")
    # the engine process ran melfoley's interpreter, on its own path, without re-running the host's main file
    child = out["engine_child"]
    assert child["executable"] == json.loads(record.record.read_text())["python"] == sys.executable
    assert child["prefix"] == sys.prefix and child["main"] is None
    assert not any("host_site" in p for p in child["path"]), child["path"]
    runs = (tmp_path / "main_runs.txt").read_text().split()
    assert len(runs) == 1 and int(runs[0]) != child["pid"]


def test_the_bridge_panel_is_docked_when_melfoley_cannot_live_in_the_host(tmp_path):
    """This Python's PySide6 is melfoley's environment's own (not a host's): the entry keeps the
    bridge panel, and says which and why in the panel and the log."""
    import subprocess

    record = install.install("hiero", home=tmp_path / "home", platform="linux", output_root=tmp_path / "jobs")
    code = ("import runpy, sys, types\ncalls = []\n"
            "ns = types.ModuleType('nukescripts'); ns.panels = types.SimpleNamespace("
            "registerWidgetAsPanel=lambda *a: calls.append(a))\n"
            "sys.modules.update({'nukescripts': ns, 'nukescripts.panels': ns.panels})\n"
            f"runpy.run_path({str(record.script)!r})\n"
            "hp = sys.modules['melfoley_hosts.hiero_panel']\n"
            "print('DOCKED', calls[0][0].rsplit('.', 1)[1], '|', *hp.DOCKED)\n"
            "print('HEAVY', sorted(m for m in ('numpy', 'torch', 'melfoley') if m in sys.modules))\n")
    env = {k: v for k, v in os.environ.items() if k != "MELFOLEY_HOST_OUT"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert ("DOCKED HieroFoleyPanel | melfoley's bridge panel this Python's PySide6 is melfoley's environment's "
            "own, not the host's") in res.stdout, res.stdout + res.stderr
    assert "HEAVY []" in res.stdout
    log = (tmp_path / "jobs" / "hiero" / "melfoley.log").read_text()
    assert "docked: melfoley's bridge panel (this Python's PySide6 is melfoley's environment's own" in log


@pytest.fixture
def full_panel_window(tmp_path, qapp, palette_kind):
    """melfoley's own panel as the entry docks it when it fits the host (DockedFoleyPanel), in a
    QMainWindow standing in for Nuke Studio with the host's palette."""
    from PySide6.QtWidgets import QLabel, QMainWindow

    from melfoley.plugin.hosts.hiero_panel import DockedFoleyPanel, dock_into
    from melfoley.ui import engine_host

    record = install.install("hiero", home=tmp_path / "home", platform="linux").record
    win = QMainWindow()
    win.setPalette(host_palette(palette_kind))
    win.setCentralWidget(QLabel("the host's timeline"))
    win.resize(1400, 900)
    panel = DockedFoleyPanel(win, record=str(record), engine="debug")
    dock = dock_into(win, panel)
    yield win, dock, panel
    panel.shutdown()
    engine_host.use_interpreter(None)
    win.close()


@pytest.mark.parametrize("palette_kind", ["dark", "light"], indirect=True)
def test_melfoley_panel_docked_at_480_px_follows_the_host_palette(sequence, full_panel_window, palette_kind, qtbot):
    from collections import Counter

    from melfoley.ui import theme

    win, dock, panel = full_panel_window
    assert panel.load_sequence(), panel.status.text()
    qtbot.wait(200)
    fp = panel.panel
    assert dock.width() == 480 and fp.session is not None and len(fp.session.clip_ids) == 4
    assert panel.minimumSizeHint().width() <= 480, panel.minimumSizeHint()
    scheme = theme.LIGHT if palette_kind == "light" else theme.DARK  # melfoley's scheme of the host's lightness
    assert fp.styleSheet() == theme.style_sheet(scheme)
    assert panel.docked_label.text() == "melfoley's own Foley panel is docked: built directly, not by the startup script"
    for w in (panel.load_button, panel.sequence_label, panel.docked_label, fp.open_button, fp.generate_button, fp.generate_all_button,
              fp.cancel_button, fp.export_button, fp.timeline):
        left, right = w.mapTo(panel, w.rect().topLeft()).x(), w.mapTo(panel, w.rect().topRight()).x()
        assert w.isVisible() and 0 <= left < right <= panel.width(), (w, left, right)
    img = panel.grab().toImage()
    counts = Counter(img.pixelColor(x, y).name() for x in range(0, img.width(), 4) for y in range(0, img.height(), 4))
    assert counts.most_common(1)[0][0] in {scheme["BG"], scheme["PANEL"], scheme["BASE"]}, counts.most_common(3)
    assert panel.status.text().startswith("Reel 2 loaded (exported by Hiero's OTIO exporter")
