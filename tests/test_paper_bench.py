"""The GPU benches run their CPU smoke path (--tiny) end to end: bench/gpu_pipeline.py (inference
matrix) and bench/train_throughput.py (ControlNet training through the real trainer). Timings are
printed, never asserted; the full runs need a GPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_pipeline_tiny(capsys):
    assert _load("gpu_pipeline").main(["--tiny"]) == 0
    rows = [l.split() for l in capsys.readouterr().out.splitlines() if l.startswith("fp32")]
    assert [(r[2], r[4]) for r in rows] == [("dpm++", "1"), ("dpm++", "2"), ("pndm", "1"), ("pndm", "2")]


def test_train_throughput_tiny(tmp_path, capsys):
    assert _load("train_throughput").main(["--tiny", "--steps", "2", "--checkpointing", "on",
                                           "--work", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = [l.split() for l in out.splitlines() if l.strip().startswith("2 ")][0]
    assert row[:2] == ["2", "on"] and float(row[3]) > 0  # samples/s
    assert (tmp_path / "run-b2-on" / "controlnet" / "config.json").exists()
