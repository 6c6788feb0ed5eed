"""The GPU benches run their CPU smoke path (--tiny) end to end through bench/gpu_all.sh, the one script
that runs every GPU figure on a GPU machine: bench/gpu_pipeline.py (inference matrix) and
bench/train_throughput.py (ControlNet training through the real trainer), their JSON and the markdown
table built from them. Timings are recorded, never asserted; the full runs need a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_all.sh"


def _run(*args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_gpu_all_refuses_bad_arguments():
    bad = _run("--bogus")
    assert bad.returncode == 2 and "unknown argument '--bogus'" in bad.stderr
    assert _run("--only", "everything").returncode == 2
    if not torch.cuda.is_available():
        run = _run("--only", "train")
        assert run.returncode == 2 and "no CUDA GPU" in run.stderr and "--tiny" in run.stderr


def test_gpu_all_tiny_runs_both_benches_and_writes_the_figures(tmp_path):
    run = _run("--tiny", "--out", str(tmp_path))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    figures = json.loads((tmp_path / "gpu_figures.json").read_text())
    inference = figures["gpu_pipeline"]["rows"]
    assert [(r["scheduler"], r["clips"]) for r in inference] == [("dpm++", 1), ("dpm++", 2), ("pndm", 1), ("pndm", 2)]
    assert all(r["s_per_clip"] > 0 and r["mode"] == "eager" for r in inference)
    training = figures["train_throughput"]["rows"]
    assert [(r["batch"], r["checkpointing"]) for r in training] == [(2, "off"), (2, "on")]
    assert all(r["samples_per_s"] > 0 and not r["out_of_memory"] for r in training)
    md = (tmp_path / "gpu_figures.md").read_text()
    assert "## Inference" in md and "## ControlNet training" in md and md.count("| fp32 | eager |") == 4
    assert not (tmp_path / "train-work").exists()  # the synthetic data and runs are removed
