# melfoley-host-entry
# Written by `melfoley host install resolve|hiero`; `melfoley host uninstall ...` removes it.
# DaVinci Resolve runs it from Workspace > Scripts > Edit > "melfoley Foley"; Nuke Studio / Hiero
# run it at startup from ~/.nuke/Python/Startup, which registers the dockable "melfoley Foley" panel.
# Only the standard library is imported here (and, in Hiero, the host's PySide6): melfoley itself,
# with numpy and torch, runs in its own Python, recorded below, in a child process.
import importlib
import importlib.util
import json
import sys

RECORD = __MELFOLEY_RECORD__


def _melfoley_host_module():
    with open(RECORD, encoding="utf-8") as fh:
        record = json.load(fh)
    if "melfoley_hosts" not in sys.modules:
        hosts_dir = record["hosts_dir"]
        spec = importlib.util.spec_from_file_location("melfoley_hosts", hosts_dir + "/__init__.py",
                                                      submodule_search_locations=[hosts_dir])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["melfoley_hosts"] = mod
        spec.loader.exec_module(mod)
    return importlib.import_module("melfoley_hosts." + {"resolve": "resolve", "hiero": "hiero_panel"}[record["host"]])


try:
    _melfoley_host_module().entry(globals(), RECORD)
except Exception as exc:  # noqa: BLE001 - a host script must never take the host down; say why in its console
    print(f"melfoley: {exc}", file=sys.stderr)
