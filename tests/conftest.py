"""Shared fixtures: the real corpus (../shared/corpus or $MELFOLEY_CORPUS) and scratch user folders.

Without the full corpus (a fresh clone), the tests run on ``tests/data/corpus``: a small
licence-clean slice of it (one or two sounds per label, three short videos, the real timelines the tests
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

#: tests that measure or sample the full corpus (its val split, several recordings per label, its
#: statistics): on the fixture corpus they are skipped, saying why (measured: each of these fails there)
FULL_CORPUS_ONLY = (
    "test_prior.py::test_shipped_prior_beats_uniform_and_event_blind_on_val",
    "test_prior.py::test_exemplar_bank_is_train_split_only_and_places_real_hits_on_the_contacts",
    "test_clicks.py::test_inserted_clicks_are_found_in_real_recordings",
    "test_clicks.py::test_real_transients_are_not_clicks",
    "test_motion.py::test_calibration_matches_corpus_statistics",
    "test_renderer.py::test_shipped_renderer_beats_the_control_alone_on_held_out_recordings",
    "test_engine_embedded.py::test_a_prompt_change_changes_the_class_an_independent_embedding_assigns",
)


def pytest_collection_modifyitems(config, items):
    if Path(os.environ.get("MELFOLEY_CORPUS", "")).resolve() != FIXTURE_CORPUS:
        return
    skip = pytest.mark.skip(reason="needs the full corpus (../shared/corpus or $MELFOLEY_CORPUS): it uses the "
                                   "val split or corpus statistics; tests/data holds one or two train sounds per "
                                   "label")
    for item in items:
        if any(name in item.nodeid for name in FULL_CORPUS_ONLY):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _scratch_user_dirs(tmp_path_factory, monkeypatch):
    """Every test gets private config/cache/data folders: no test touches the user's real ones
    (the data folder holds the user's sound-library index)."""
    base = tmp_path_factory.mktemp("userdirs")
    for name in ("CONFIG", "CACHE", "DATA"):
        monkeypatch.setenv(f"MELFOLEY_{name}_DIR", str(base / name.lower()))
    monkeypatch.delenv("MELFOLEY_LIBRARY_DB", raising=False)


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
