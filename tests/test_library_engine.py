"""The library engine on a library of real corpus recordings (train split) at 22.05-96 kHz:
onsets on synthetic contacts, silence, curve edits, seeds, textures without clicks, sources,
48 kHz output, stale files and the fallback."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from melfoley.core.control import QCDControl
from melfoley.core.engine import FoleyRequest, get_engine
from melfoley.core.engines.debug import clip_frames
from melfoley.core.errors import MelfoleyError
from melfoley.core.library.index import LibraryFileError, LibraryIndex
from melfoley.core.library.scan import scan
from melfoley.core.mel import get_mel_config
from melfoley.core.motion import CALIBRATION as CAL
from melfoley.core.motion import _envelope

RATE = get_mel_config("hifigan22k").frame_rate
SR = 48000
RATES = [(22050, 1), (44100, 2), (48000, 1), (96000, 2)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


def _build(root, corpus_items, spec, trim_s=None):
    import soxr

    root.mkdir(parents=True, exist_ok=True)
    i = 0
    for label, k in spec:
        for it in [c for c in corpus_items if c.label == label and c.split == "train"][:k]:
            x, sr = sf.read(str(it.path), dtype="float32")
            if trim_s:
                x = x[: int(trim_s * sr)]
            rate, ch = RATES[i % len(RATES)]
            i += 1
            y = 0.7 * (soxr.resample(x, sr, rate) if rate != sr else x)
            if ch == 2:
                y = np.stack([y, 0.9 * y], axis=1)
            (root / label).mkdir(exist_ok=True)
            sf.write(str(root / label / f"{it.path.stem}_{rate}.wav"), y, rate, subtype="PCM_24")
    return root


@pytest.fixture(scope="module")
def engine(tmp_path_factory, corpus_items):
    base = tmp_path_factory.mktemp("libeng")
    lib = _build(base / "sounds", corpus_items, [("glass_break", 4), ("footsteps_gravel", 4), ("dog_bark", 2)])
    _build(base / "sounds", corpus_items, [("rain", 2)], trim_s=6.0)  # short ambiences: the loop must seam
    db = base / "ix.sqlite"
    scan(LibraryIndex(db), [lib])
    return get_engine("library", library_db=db)


@pytest.fixture(scope="module")
def rates_engine(tmp_path_factory, corpus_items):
    """One glass recording at 22.05/44.1/48/96 kHz, mono and stereo: any of them may be picked."""
    import soxr

    base = tmp_path_factory.mktemp("librates")
    it = next(c for c in corpus_items if c.label == "glass_break" and c.split == "train")
    x, sr = sf.read(str(it.path), dtype="float32")
    for rate, ch in RATES:
        y = 0.7 * (soxr.resample(x, sr, rate) if rate != sr else x)
        (base / "glass" / str(rate)).mkdir(parents=True)
        sf.write(str(base / "glass" / str(rate) / f"glass break {rate}.wav"),
                 np.stack([y, 0.9 * y], axis=1) if ch == 2 else y, rate, subtype="PCM_24")
    scan(LibraryIndex(base / "ix.sqlite"), [base / "glass"])
    return get_engine("library", library_db=base / "ix.sqlite")


def hits_curve(duration: float, onsets, level: float = CAL.peak_e) -> tuple[np.ndarray, np.ndarray]:
    """E as the motion predictor draws it for contacts at ``onsets`` (moved to their frame's centre, which
    is what a frame-grid curve can say), and those times."""
    n = clip_frames(duration)
    t = (np.floor(np.asarray(onsets) * RATE) + 0.5) / RATE
    e = CAL.floor_e + _envelope(n, RATE, t, np.full(len(t), level - CAL.floor_e), CAL)
    return np.clip(e, 0, 1).astype(np.float32), t


def control(e: np.ndarray) -> QCDControl:
    return QCDControl(e, np.full(e.shape, 0.05, np.float32), np.full((2, e.shape[0]), 40), "hifigan22k")


def onset_near(y: np.ndarray, t: float) -> float:
    """Where a new sound starts within -30/+60 ms of ``t``: the first 0.25 ms block at 10 % of the
    window's peak that is 4x louder than 3 ms before it (a fading tail of the previous event is no onset)."""
    b = SR // 4000
    a0 = int((t - 0.03) * SR) // b * b
    seg = np.abs(y[a0 - 12 * b:int((t + 0.06) * SR)])
    env = seg[: seg.shape[0] // b * b].reshape(-1, b).max(axis=1)
    assert env.max() > 1e-4, f"nothing sounds near {t:.3f} s"
    k = np.arange(12, env.shape[0])
    ok = (env[k] >= 0.1 * env[12:].max()) & (env[k] >= 4 * env[k - 12])
    assert ok.any(), f"no onset near {t:.3f} s"
    return (a0 + (int(k[np.argmax(ok)]) - 12) * b) / SR


@pytest.mark.parametrize("which", ["engine", "rates_engine"])
def test_every_contact_gets_an_event_within_5_ms_from_sources_at_every_rate(which, request):
    engine = request.getfixturevalue(which)
    e, t = hits_curve(10.0, [0.8, 1.9, 2.6, 3.7, 4.4, 5.5, 6.1, 7.3, 8.2, 9.0])
    rates = set()
    for seed in range(6):
        y = engine.render(control(e), "glass breaking", seed)
        srcs = engine._renders[-1]["sources"]
        assert len(srcs) == len(t)
        for s, tc in zip(srcs, t):
            assert abs(onset_near(y, tc) - tc) <= 0.005, (s["file"], tc)
            rates.add(s["sample_rate"])
        assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-6  # never over full scale on its own
    if which == "rates_engine":
        assert rates == {22050, 44100, 48000, 96000}


def test_silence_stays_silent_and_curve_edits_work(engine):
    e, t = hits_curve(6.0, [1.0, 3.0, 5.0])
    base = engine.render(control(e), "footsteps on gravel", 7)
    assert np.all(base[: int(0.95 * SR)] == 0.0)  # before the first contact: digital silence
    gap = base[int(1.8 * SR):int(2.9 * SR)]  # between contacts, after the first one's tail
    assert np.sqrt(np.mean(gap ** 2)) < 10 ** (-80 / 20)
    erased = e.copy()
    erased[int(2.5 * RATE):int(3.6 * RATE)] = 0.0  # the artist erases the second hit
    y = engine.render(control(erased), "footsteps on gravel", 7)
    assert np.all(y[int(2.5 * SR) + 600:int(3.6 * SR) - 600] == 0.0) and len(engine._renders[-1]["sources"]) == 2
    drawn = e.copy()
    j = int(4.0 * RATE)
    drawn[j:j + 20] = np.maximum(drawn[j:j + 20], CAL.floor_e + 0.25 * np.exp(-np.arange(20) / 15))  # a drawn hit
    y = engine.render(control(drawn), "footsteps on gravel", 7)
    assert len(engine._renders[-1]["sources"]) == 4 and abs(onset_near(y, (j + 0.5) / RATE) - (j + 0.5) / RATE) <= 0.005
    raised = e.copy()
    raised[int(4.9 * RATE):] = np.minimum(1, raised[int(4.9 * RATE):] + 0.05)  # raise the last hit's region
    y = engine.render(control(raised), "footsteps on gravel", 7)
    first, last = slice(int(1.0 * SR), int(1.3 * SR)), slice(int(5.0 * SR), int(5.3 * SR))

    def rel(z):  # the last hit against the first, in dB (the take as a whole is kept under -1 dBFS)
        return 20 * np.log10(np.abs(z[last]).max() / np.abs(z[first]).max())

    assert rel(y) - rel(base) > 5.0  # +0.05 in E is +7.3 dB


def test_seeds_are_deterministic_and_make_different_takes(engine):
    e, _ = hits_curve(5.0, [0.5, 1.2, 2.0, 2.9, 3.6, 4.3])
    a = engine.render(control(e), "glass breaking", 11)
    sa = [(s["file"], s["offset_s"]) for s in engine._renders[-1]["sources"]]
    b = engine.render(control(e), "glass breaking", 11)
    assert np.array_equal(a, b)
    c = engine.render(control(e), "glass breaking", 12)
    sc = [(s["file"], s["offset_s"]) for s in engine._renders[-1]["sources"]]
    assert sa != sc and not np.allclose(a, c)
    assert all(x != y for x, y in zip(sa, sa[1:]))  # never the same event twice in a row


def test_textures_loop_with_equal_power_seams_and_no_clicks(engine):
    from melfoley.core.clicks import find_clicks

    e = np.full(clip_frames(14.0), 0.42, np.float32)
    y = engine.render(control(e), "rain falling", 3)
    (src,) = engine._renders[-1]["sources"]
    assert src["kind"] == "texture" and src["looped"]
    assert engine._renders[-1]["library_match"]["mode"] == "texture"
    assert find_clicks(y, SR) == []
    # the take's metadata says where every sample comes from (loop period and seam): the stem is the source
    # read there, scaled, on both sides of the seams; a gap put in is not (bench/eval_product's click test)
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from eval_product import click_residual

    period = src["loop_period_s"]
    assert 0 < src["loop_crossfade_s"] < period < 14.0
    for t in (0.7, period - 0.2, period + 0.1, 2 * period + 0.3, 13.5):
        assert click_residual(y, SR, t, [src]) < 0.05, t
    gap = y.copy()
    gap[int(5.0 * SR):int(5.0 * SR) + 400] = 0
    assert click_residual(gap, SR, 5.0, [src]) > 0.5
    # the loop holds its level across the seams (equal power): 0.5 s RMS within 4 dB everywhere
    r = np.sqrt(np.mean(y[: 28 * SR // 2].reshape(28, -1) ** 2, axis=1))
    assert 20 * np.log10(r.max() / r.min()) < 4.0
    # and it follows E: a quieter curve is quieter by the curve's step (log-mel units -> dB)
    q = engine.render(control(e - 0.05), "rain falling", 3)
    drop = 20 * np.log10(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(q ** 2)))
    assert 5.0 < drop < 9.5  # 0.05 x 16.8 nats = 7.3 dB


def test_generate_48k_sources_bandwidth_and_per_range_prompts(engine, tmp_path):
    frames = np.zeros((60, 32, 32, 3), np.uint8)  # a still picture: no contacts
    reqs = [FoleyRequest(None, 0.0, 2.0, "glass breaking", takes=2, seed=5, frames=frames, frame_rate=30.0,
                         energy=hits_curve(2.0, [0.5, 1.4])[0]),
            FoleyRequest(None, 2.0, 2.0, "dog barking", takes=1, seed=5, frames=frames, frame_rate=30.0,
                         energy=hits_curve(2.0, [0.3])[0])]
    out = engine.generate(reqs)
    assert engine.sample_rate == 48000 and all(t.sample_rate == 48000 for ts in out for t in ts)
    assert all(t.audio.shape[0] == 96000 for ts in out for t in ts)
    for ts in out:
        for t in ts:
            for s in t.metadata["sources"]:
                assert set(s) >= {"file", "offset_s", "duration_s", "gain_db", "licence", "attribution"}
            assert 4000 < t.metadata["content_bandwidth_hz"] <= 11100  # 22.05 kHz recordings, whatever the file rate
    assert all("glass_break" in s["file"] for s in out[0][0].metadata["sources"])
    assert [s["file"] for s in out[1][0].metadata["sources"]] and all(
        "dog_bark" in s["file"] for s in out[1][0].metadata["sources"])
    assert out[0][0].metadata["sources"] != out[0][1].metadata["sources"]
    assert engine.describe()["engine"] == "library" and engine.OPTIONS["fallback"] is str


def test_a_file_changed_or_deleted_after_indexing_fails_the_clip_naming_it(tmp_path, corpus_items):
    lib = _build(tmp_path / "lib", corpus_items, [("glass_break", 1)])
    db = tmp_path / "ix.sqlite"
    scan(LibraryIndex(db), [lib])
    eng = get_engine("library", library_db=db)
    (f,) = list(lib.rglob("*.wav"))
    f.unlink()
    e, _ = hits_curve(2.0, [0.5])
    req = FoleyRequest(None, 0, 2.0, "glass breaking", frames=np.zeros((10, 8, 8, 3), np.uint8), frame_rate=10.0,
                       energy=e, clip_id="C007")
    with pytest.raises(LibraryFileError, match=r"clip C007: .*" + f.name + r".*melfoley library rescan"):
        eng.generate([req])
    assert LibraryIndex(db).execute("SELECT status FROM files").fetchone()[0] == "missing"


def test_no_match_falls_back_to_the_generative_engine_and_says_so(engine, tmp_path):
    e, _ = hits_curve(1.0, [0.3])
    req = FoleyRequest(None, 0, 1.0, "a symphony orchestra tuning up", frames=np.zeros((10, 8, 8, 3), np.uint8),
                       frame_rate=10.0, energy=e)
    (take,) = engine.generate([req])[0]
    assert take.sample_rate == 48000 and take.audio.shape[0] == 48000
    assert take.metadata["fallback"]["engine"] == "embedded" and take.metadata["rendered_by"] == "embedded"
    assert "matches" in take.metadata["fallback"]["reason"] and take.metadata["sources"] == []
    strict = get_engine("library", library_db=engine.index.path, fallback="none")
    with pytest.raises(MelfoleyError, match="no sound in the user library matches"):
        strict.generate([req])


def test_batch_stems_name_every_source_in_the_sidecar_and_the_ixml_note(engine, tmp_path):
    import json
    from pathlib import Path

    from melfoley.plugin.cli import main

    demo = Path(__file__).resolve().parents[1] / "melfoley" / "resources" / "demo" / "demo.otio"
    out = tmp_path / "out"
    assert main(["batch", str(demo), "-o", str(out), "--engine", "library", "--prompt", "glass breaking",
                 "--engine-opt", f"library_db={engine.index.path}", "--quiet", "--no-cache"]) == 0
    sides = sorted((out / "stems").glob("*.json"))
    assert sides
    named = 0
    for side in sides:
        doc = json.loads(side.read_text())
        assert doc["audio"]["model_sample_rate"] == 48000  # no resampling in the stem path
        assert doc["engine"]["engine"] == "library" and doc["audio"]["true_bandwidth_hz"] <= 11100
        srcs = doc.get("library_sources") or []
        wav = side.with_suffix(".wav").read_bytes()
        note = wav[wav.find(b"<NOTE>"):wav.find(b"</NOTE>")].decode()
        for s in srcs:
            assert Path(s["file"]).exists() and Path(s["file"]).name in note and s["licence"] in note
        named += len(srcs)
    assert named > 0



def test_a_recording_that_starts_on_its_sound_is_faded_in_not_stepped(tmp_path, corpus_items):
    """Library files trimmed tight start on the sound (0 A.D.'s shield_metal_03: its hit rises within
    its first samples), so the 2 ms pre-roll does not exist: the event must still start from zero over
    about a millisecond, not with a full-band step."""
    it = next((c for c in corpus_items if c.path.name == "0ad-data__shield_metal_03.flac"), None)
    if it is None:
        pytest.skip("needs 0ad-data__shield_metal_03.flac from the full corpus (../shared/corpus)")
    (tmp_path / "metal").mkdir()
    x, sr = sf.read(str(it.path), dtype="float32")
    sf.write(str(tmp_path / "metal" / "metal impact shield.wav"), x, sr, subtype="PCM_24")
    db = tmp_path / "ix.sqlite"
    scan(LibraryIndex(db), [tmp_path / "metal"])
    engine = get_engine("library", library_db=db)
    e, t = hits_curve(3.0, [1.0])
    y = engine.render(control(e), "metal impact", 0)
    (src,) = engine._renders[-1]["sources"]
    assert src["offset_s"] == 0.0  # the event is cut from the file's first sample: no room for a pre-roll
    first = int(np.flatnonzero(y)[0])
    peak = np.abs(y).max()
    assert np.abs(y[first:first + 24]).max() <= 0.1 * peak  # the first half millisecond is still a fade
