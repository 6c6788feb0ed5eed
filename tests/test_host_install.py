"""``melfoley host install|uninstall``: each OS layout computed (not the running OS), installed into a
temporary home, and the installed entry scripts run the way the hosts run them.

The hosts themselves are not here: the entry scripts are run by this machine's Python with the host's
objects stubbed (``resolve = None``; a recording ``nukescripts.panels``), which is enough to prove what
they import (nothing of melfoley's environment: no numpy, no torch) and what they register.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from melfoley.core.errors import MelfoleyError
from melfoley.plugin.cli import main
from melfoley.plugin.hosts import install

RESOLVE_TAIL = ("Blackmagic Design", "DaVinci Resolve")


def test_documented_folders_for_every_os():
    home = "/home/ann"
    assert install.script_dir("resolve", "linux", home) == PurePosixPath(
        "/home/ann/.local/share/DaVinciResolve/Fusion/Scripts/Edit")
    assert install.script_dir("resolve", "macos", "/Users/ann") == PurePosixPath(
        "/Users/ann/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit")
    assert install.script_dir("resolve", "windows", r"C:\Users\ann", {"APPDATA": r"C:\Users\ann\AppData\Roaming"}) \
        == PureWindowsPath(r"C:\Users\ann\AppData\Roaming\Blackmagic Design\DaVinci Resolve\Support\Fusion\Scripts\Edit")
    # without %APPDATA% the Roaming folder under the profile is the default
    assert install.script_dir("resolve", "windows", r"D:\prof") == PureWindowsPath(
        r"D:\prof\AppData\Roaming\Blackmagic Design\DaVinci Resolve\Support\Fusion\Scripts\Edit")
    for platform, h in (("linux", "/home/ann"), ("macos", "/Users/ann")):
        assert install.script_dir("hiero", platform, h) == PurePosixPath(h) / ".nuke/Python/Startup"
    assert install.script_dir("hiero", "windows", r"C:\Users\ann") == PureWindowsPath(r"C:\Users\ann\.nuke\Python\Startup")
    with pytest.raises(MelfoleyError, match="unknown host"):
        install.script_dir("premiere", "linux", home)
    with pytest.raises(MelfoleyError, match="unknown platform"):
        install.script_dir("resolve", "beos", home)


@pytest.mark.parametrize("platform", install.PLATFORMS)
@pytest.mark.parametrize("host", install.HOSTS)
def test_install_into_a_temporary_home_for_each_layout(tmp_path, host, platform):
    done = install.install(host, home=tmp_path, platform=platform)
    expected_dir = Path(tmp_path, *install._layout(host, platform, {})[1])
    assert done.script == expected_dir / install.ENTRIES[host] and done.script.exists()
    rec = json.loads(done.record.read_text())
    assert done.record == done.script.with_suffix(".json")
    assert rec["host"] == host and rec["platform"] == platform
    assert Path(rec["python"]) == Path(sys.executable) and Path(rec["hosts_dir"], "bridge.py").exists()
    text = done.script.read_text()
    assert install.MARK in text and repr(str(done.record)) in text and install.PLACEHOLDER not in text
    compile(text, str(done.script), "exec")  # the host's Python can load it
    assert install.uninstall(host, home=tmp_path, platform=platform) == [done.script, done.record]
    assert not done.script.exists() and not done.record.exists()


def test_foreign_files_are_never_overwritten_or_removed(tmp_path, capsys):
    rc = main(["host", "install", "resolve", "--home", str(tmp_path), "--platform", "macos"])
    out = capsys.readouterr().out
    script = Path(tmp_path, "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit",
                  "melfoley Foley.py")
    assert rc == 0 and str(script) in out and "Workspace > Scripts > Edit" in out
    install.install("resolve", home=tmp_path, platform="macos")  # reinstalling our own file is fine
    script.write_text("print('the artist wrote this')\n")
    rc = main(["host", "install", "resolve", "--home", str(tmp_path), "--platform", "macos"])
    err = capsys.readouterr().err
    assert rc == 2 and "was not written by melfoley" in err and len(err.strip().splitlines()) == 1
    rc = main(["host", "uninstall", "resolve", "--home", str(tmp_path), "--platform", "macos"])
    assert rc == 2 and script.read_text() == "print('the artist wrote this')\n"
    rc = main(["host", "uninstall", "hiero", "--home", str(tmp_path), "--platform", "linux"])
    assert rc == 0 and "nothing to remove" in capsys.readouterr().out


def _run_entry(script: Path, prelude: str) -> subprocess.CompletedProcess:
    code = (f"import runpy, sys\n{prelude}\n"
            f"g = runpy.run_path({str(script)!r}, init_globals=init)\n"
            "print('HEAVY', sorted(m for m in ('numpy', 'torch', 'opentimelineio', 'melfoley') if m in sys.modules))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_resolve_entry_loads_with_the_standard_library_only(tmp_path):
    done = install.install("resolve", home=tmp_path, platform="linux")
    res = _run_entry(done.script, "init = {'resolve': None}")
    assert res.returncode == 0, res.stderr
    assert "cannot reach DaVinci Resolve" in res.stdout  # the bridge ran, and said what was wrong
    assert "HEAVY []" in res.stdout


def test_hiero_entry_registers_a_dockable_panel_without_melfoley_imports(tmp_path):
    done = install.install("hiero", home=tmp_path, platform="linux")
    prelude = ("import types\ncalls = []\n"
               "ns = types.ModuleType('nukescripts'); ns.panels = types.SimpleNamespace("
               "registerWidgetAsPanel=lambda *a, **k: calls.append(a))\n"
               "sys.modules['nukescripts'] = ns; sys.modules['nukescripts.panels'] = ns.panels\ninit = {}\n")
    res = _run_entry(done.script, prelude + "\n")
    assert res.returncode == 0 and "HEAVY []" in res.stdout, res.stdout + res.stderr
    check = prelude + (f"runpy.run_path({str(done.script)!r})\n"
                       "factory, title, pid = calls[0]\n"
                       "cls = eval(factory)\n"
                       "print('PANEL', cls.__name__, title, pid)\n")
    res = subprocess.run([sys.executable, "-c", "import runpy, sys\n" + check], capture_output=True, text=True,
                         timeout=60)
    assert "PANEL HieroFoleyPanel melfoley Foley org.melfoley.FoleyPanel" in res.stdout, res.stderr


def test_host_run_answers_a_bad_edit_with_one_json_result(tmp_path, capsys):
    assert main(["host", "run", str(tmp_path / "missing.otio"), "-o", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().out.strip().splitlines()
    result = json.loads(line)
    assert result["event"] == "result" and not result["ok"] and "not found" in result["error"]
    assert main(["host", "run", str(tmp_path / "missing.otio"), "-o", str(tmp_path / "out"), "--takes", "0"]) == 2
    assert "choose 1 to 64" in json.loads(capsys.readouterr().out)["error"]
