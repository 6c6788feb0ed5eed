"""The command line: lazy help, analyze on real audio, clean errors."""

import subprocess
import sys

from melfoley.core.control import QCDControl
from melfoley.plugin.cli import main


def test_help_imports_nothing_heavy():
    code = ("import sys; from melfoley.plugin.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'numpy', 'PySide6', 'opentimelineio', 'av') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_analyze_reports_and_plots(corpus_sample, tmp_path, capsys):
    item = corpus_sample[20]
    png, js = tmp_path / "a.png", tmp_path / "a.json"
    assert main(["analyze", str(item.path), "--png", str(png), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    for field in ("duration", "frames", "codes g0", "codes g1", "recon L1"):
        assert field in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000
    control = QCDControl.from_json(js.read_text())
    assert abs(control.duration - item.duration) < 0.02


def test_analyze_bad_input_is_one_clear_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "missing.wav")]) == 2
    err = capsys.readouterr().err
    assert "missing.wav" in err and "does not exist" in err and "Traceback" not in err
    assert main(["analyze", "x.wav", "--mel", "bogus"]) == 2
    assert "unknown mel front-end" in capsys.readouterr().err


def test_stop_signals_are_caught_only_while_a_command_runs_and_only_in_the_main_thread():
    """cli.stop_on_signals: inside, SIGTERM raises KeyboardInterrupt and an inherited-ignored SIGINT
    is restored; on the way out the caller's handlers come back; from another thread (a host or a test
    calling main in a thread) it changes nothing instead of failing."""
    import signal
    import threading

    import pytest

    from melfoley.plugin.cli import stop_on_signals

    mine = signal.getsignal(signal.SIGTERM)
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is mine and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        seen = []

        def in_thread():
            with stop_on_signals():
                seen.append(signal.getsignal(signal.SIGTERM))

        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        assert seen == [mine]
    finally:
        signal.signal(signal.SIGINT, old_int)
