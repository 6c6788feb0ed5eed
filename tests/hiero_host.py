"""Plays Nuke Studio for tests/test_hosts_hiero.py: run as a script by a Python whose sys.path has
no melfoley (only its stdlib and HOST_SITE, the host's own PySide6), with the mocked Hiero API
(tests/hiero_mock.py, loaded by path) and a fake ``nukescripts`` recording registerWidgetAsPanel.

It runs melfoley's installed startup script, builds the panel the way Nuke does (evaluating the
registered factory), docks it in a QMainWindow standing in for the host, loads the sequence,
generates with the debug engine, exports, and prints one JSON line of what it saw.

    python -I -S hiero_host.py HOST_SITE MOCK_PY ENTRY_SCRIPT MEDIA OUT_DIR
"""

import importlib.util
import json
import os
import runpy
import sys
import types

HOST_SITE, MOCK_PY, ENTRY, MEDIA, OUT = sys.argv[1:6]
# top level, no __main__ guard: an engine process that re-ran the host's main file would add a line
with open(os.path.join(OUT, "main_runs.txt"), "a") as fh:
    fh.write(f"{os.getpid()}\n")
sys.path.insert(0, HOST_SITE)
had_melfoley = importlib.util.find_spec("melfoley") is not None

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402 - the host's PySide6, from HOST_SITE
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow  # noqa: E402

app = QApplication(["Nuke Studio (stand-in)"])
spec = importlib.util.spec_from_file_location("hiero_mock", MOCK_PY)
mock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mock)
seq = mock.Sequence([mock.VideoItem("one", MEDIA, 0, 20, 0), mock.VideoItem("two", MEDIA, 25, 15, 30)])
sys.modules.update(mock.hiero_modules(seq))  # with Hiero's OTIO exporter, as in Nuke Studio 16
calls = []
nukescripts = types.ModuleType("nukescripts")
nukescripts.panels = types.SimpleNamespace(registerWidgetAsPanel=lambda *a: calls.append(a) or a)
sys.modules.update({"nukescripts": nukescripts, "nukescripts.panels": nukescripts.panels})

runpy.run_path(ENTRY)  # what Nuke does with ~/.nuke/Python/Startup/melfoley_hiero.py
factory, title, panel_id = calls[0]
# what Nuke does when the artist opens Window > Custom > melfoley Foley (Nuke passes no arguments: the
# panel gets melfoley's default engine; here the debug engine, for speed, and only if it is ours)
panel_class = eval(factory)
docked = panel_class(engine="debug") if panel_class.__name__ == "DockedFoleyPanel" else panel_class()
win = QMainWindow()
pal = QPalette()
pal.setColor(QPalette.ColorRole.Window, QColor("#323232"))
win.setPalette(pal)
win.setCentralWidget(QLabel("the host's timeline"))
win.resize(1200, 800)
hp = sys.modules["melfoley_hosts.hiero_panel"]
dock = hp.dock_into(win, docked)


def wait(signal, ms):
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


out = {"registered": [factory, title, panel_id], "had_melfoley": had_melfoley, "host_python": sys.executable,
       "docked": docked.docked_label.text(), "cls": type(docked).__name__}
if out["cls"] == "DockedFoleyPanel":
    fp = docked.panel
    out["loaded"] = docked.load_sequence()
    fp.set_default_prompt("footsteps")
    done = []
    fp.generation_finished.connect(done.append)
    fp.generate(None)
    wait(fp.generation_finished, 240_000)
    out["generated"] = done[0] if done else None
    out["engine"] = fp.default_engine
    fp.grab()  # draws the curves and takes
    app.processEvents()
    exported = []
    fp.exported.connect(exported.append)
    fp.export()
    wait(fp.exported, 120_000)
    app.processEvents()
    out["exported"] = str(exported[0].timeline) if exported else None
    out["after_export"] = docked.status.text()
    out["tracks"] = [[t.name(), sorted([i.t[0], i.t[1]] for i in t.placed)] for t in seq.audio]
    out["undo"] = seq.project().undo
    out["dock_width"] = dock.width()
    from melfoley.ui.engine_host import shared_host

    out["engine_child"] = shared_host("generate").call("about", {})
    out["job_log"] = docked.edit_path and open(os.path.join(os.path.dirname(docked.edit_path), "melfoley.log")).read()
    fp.session.dirty = False
    docked.shutdown()
out["torch_in_host"] = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))[:3]
out["qt_files"] = sorted({os.path.dirname(getattr(m, "__file__", None) or "") for n, m in list(sys.modules.items())
                          if n.split(".")[0] in ("PySide6", "shiboken6")
                          and os.path.isabs(getattr(m, "__file__", None) or "")})  # (shibokensupport: embedded)
out["melfoley_file"] = getattr(sys.modules.get("melfoley"), "__file__", None)
print("RESULT " + json.dumps(out, default=str), flush=True)
win.close()
