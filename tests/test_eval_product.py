"""The product-path bench: its scorers on signals with a known answer, and a --quick run on the debug engine."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import scorers  # noqa: E402

SR = 48000


def _bursts(times, gains, seconds=4.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SR))
    for t, g in zip(times, gains):
        i, n = int(t * SR), int(0.12 * SR)
        y[i:i + n] += rng.standard_normal(n) * np.exp(-np.arange(n) / (0.02 * SR)) * g
    return y


def test_onsets_of_quiet_late_bounces_are_found_on_time():
    times = [0.5, 1.2, 1.7, 2.05, 2.3, 2.48, 2.6]  # restitution-like gaps, each hit 6 dB quieter
    y = _bursts(times, [0.5 * 0.5 ** k for k in range(7)])
    tally = scorers.SyncTally()
    got = tally.add(y, SR, times, [(0.0, 0.5, "before first contact"), (2.6, 4.0, "rest")], late_from=4)
    assert got["matched"] == 7 and got["false"] == 0 and tally.late_recall() == 1.0
    assert tally.median_ms() < 5.0
    assert tally.quiet_dbfs() == float("-inf")  # digital silence where nothing touches
    assert tally.silent_spans() == "2/2"


def test_a_noise_bed_is_false_hits_and_a_loud_floor():
    times = [0.6, 2.2]
    rng = np.random.default_rng(3)
    bed = rng.standard_normal(int(4 * SR)) * 0.01 * (1 + 3 * (rng.random(int(4 * SR) // 2400 + 1) > 0.9)
                                                     ).repeat(2400)[: int(4 * SR)]
    y = _bursts(times, [0.5, 0.5]) + bed
    tally = scorers.SyncTally()
    got = tally.add(y, SR, times, [(0.0, 0.6, "before first contact"), (0.7, 2.1, "slide"), (2.2, 4.0, "rest")])
    assert got["matched"] == 2 and tally.hits_by["slide"] >= 1
    assert got["false"] >= 3 and tally.false_per_min() > 30
    assert -42 < tally.quiet_dbfs() < -25 and -50 < tally.noise_floor_dbfs() < -30
    assert tally.silent_spans() == "0/3"


def test_inner_onsets_of_an_event_are_not_false_hits():
    y = _bursts([1.0, 1.12, 1.2], [0.5, 0.3, 0.3])  # a glass: its shards follow the first hit
    tally = scorers.SyncTally()
    got = tally.add(y, SR, [1.0], [(0.0, 1.0, "before first contact")])
    assert got["matched"] == 1 and got["inner"] == 2 and got["false"] == 0
    missed = scorers.SyncTally()
    assert missed.add(_bursts([1.0, 1.6], [0.5, 0.5]), SR, [1.0], [(1.0, 4.0, "rest")])["false"] == 1
    assert missed.hits_by["rest"] == 1  # 0.6 s after the contact, past its 0.5 s guard


def test_quick_run_on_debug_prints_the_table(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setenv("MELFOLEY_CACHE_DIR", str(tmp_path / "cache"))
    import eval_product

    from melfoley.core.corpus import load_manifest, split

    quick = {label for _, label, _ in eval_product.QUICK_PROMPTS}
    if not quick <= {it.label for it in split(load_manifest(), "val")}:
        pytest.skip("the real ceiling needs val recordings of the quick prompts' classes: the full corpus "
                    "(MELFOLEY_CORPUS), not the tests/data fixture set, which has no val split")

    doc = tmp_path / "eval_product.md"
    try:
        rc = eval_product.main(["--engines", "debug,no_such_engine", "--quick", "--work", str(tmp_path / "work"),
                                "--write-doc", "--doc", str(doc)])
    finally:
        torch.set_num_threads(1)
    out = capsys.readouterr().out
    assert rc == 0
    header = next(line for line in out.splitlines() if line.startswith("| measure |"))
    assert header.split("|")[2:5] == [" debug ", " no_such_engine ", " real (ceiling) "]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ") and "---" not in line}
    assert rows["prompt-following accuracy (aisfx nearest centroid)"][1] == "not available"
    assert rows["stems scored"][0] == "3/3"
    recall = float(rows["sync recall within +-50 ms"][0])
    assert 0.0 <= recall <= 1.0
    ceiling = float(rows["prompt-following accuracy (aisfx nearest centroid)"][2])
    assert 0.34 < ceiling <= 1.0  # three classes: the real recordings beat chance
    # the debug engine's shaped noise bed sits far above the silence goal: the bench must say so
    assert float(rows["RMS where nothing touches (dBFS, all spans pooled)"][0]) > -70
    assert rows["no-touch spans at or under -70 dBFS"][0].startswith("0/")
    assert float(rows["10-min edit cold (s)"][0]) > 0
    text = doc.read_text()
    assert "| measure | debug | no_such_engine | real (ceiling) | goal |" in text and "--quick" in text
