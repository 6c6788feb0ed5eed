"""Shared fixtures: the real corpus (../shared/corpus or $MELFOLEY_CORPUS) and scratch user folders.

Without the full corpus (a fresh clone), the tests run on ``tests/data/corpus``: a small
licence-clean slice of it (one sound per label, three short videos, the real timelines the tests
name), so every module is exercised on any machine. ``tests/data/make_fixtures.py`` rebuilds it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from melfoley.core.corpus import corpus_root, load_manifest

FIXTURE_CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
if not os.environ.get("MELFOLEY_CORPUS") and not (corpus_root() / "manifest.csv").exists():
    os.environ["MELFOLEY_CORPUS"] = str(FIXTURE_CORPUS)  # before any test module reads corpus_root()


@pytest.fixture(autouse=True)
def _scratch_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets private config/cache folders: no test touches the user's real ones."""
    base = tmp_path_factory.mktemp("userdirs")
    for name in ("CONFIG", "CACHE"):
        monkeypatch.setenv(f"MELFOLEY_{name}_DIR", str(base / name.lower()))


@pytest.fixture(scope="session")
def corpus():
    root = corpus_root()
    if not (root / "manifest.csv").exists():
        pytest.skip(f"corpus not found at {root}; set MELFOLEY_CORPUS")
    return root


@pytest.fixture(scope="session")
def corpus_items(corpus):
    return load_manifest(corpus)


@pytest.fixture(scope="session")
def corpus_sample(corpus_items):
    """One file per label (first in sorted order): a small real cross-section of the corpus."""
    seen, out = set(), []
    for it in corpus_items:
        if it.label not in seen:
            seen.add(it.label)
            out.append(it)
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run ~10x faster on one thread than on two busy shared cores (module-wide)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
