"""The weightless ``debug`` engine through the real Engine.generate path (frames made here)."""

import numpy as np
import pytest

from melfoley.core.engine import FoleyRequest, get_engine
from melfoley.core.mel import get_mel_config, log_mel, to_unit
from melfoley.core import qcd

SR = 22050


def _frames(seconds: float, fps: float = 25.0, hits=(0.5, 1.3)) -> np.ndarray:
    """A grey picture with a white square that jumps at each hit time (motion at the hits)."""
    n = max(1, int(round(seconds * fps)))
    out = np.full((n, 64, 64, 3), 40, np.uint8)
    pos = 0
    for i in range(n):
        t = i / fps
        pos = sum(1 for h in hits if t >= h)
        x = 8 + 16 * (pos % 3)
        out[i, 20:36, x : x + 16] = 230
    return out


def _req(seconds, **kw):
    kw.setdefault("prompt", "footsteps on gravel")
    return FoleyRequest(None, 0.0, seconds, frames=_frames(seconds), frame_rate=25.0, **kw)


def _energy(audio: np.ndarray) -> np.ndarray:
    lm = log_mel(audio, "hifigan22k")
    return qcd.decompose(lm, "hifigan22k")[0].numpy()


def test_debug_engine_is_registered_and_resident():
    assert get_engine("debug") is get_engine("debug")


def test_same_seed_same_take_other_seed_other_take():
    eng = get_engine("debug")
    a, b = eng.generate([_req(2.0, takes=2, seed=7)])[0]
    (c,) = eng.generate([_req(2.0, takes=1, seed=7)])[0]
    assert a.seed == 7 and b.seed == 8
    np.testing.assert_array_equal(a.audio, c.audio)
    assert not np.allclose(a.audio, b.audio)
    assert a.control == b.control  # takes share the control; only the noise differs


@pytest.mark.parametrize("seconds", [0.2, 0.0137, 3.3333])
def test_exact_length_short(seconds):
    (take,) = get_engine("debug").generate([_req(seconds)])[0]
    assert take.audio.shape == (int(round(seconds * SR)),)
    assert take.sample_rate == SR and take.audio.dtype == np.float32
    assert np.all(np.isfinite(take.audio))


def test_five_minute_clip_exact_length_and_windows_join_without_gaps():
    seconds = 300.0
    req = FoleyRequest(None, 0.0, seconds, "rain", frames=np.zeros((10, 8, 8, 3), np.uint8), frame_rate=1 / 30,
                       energy=np.full(10, 0.5, np.float32))
    (take,) = get_engine("debug").generate([req])[0]
    assert take.audio.shape == (int(seconds * SR),)
    e = _energy(take.audio)
    from melfoley.core.windows import plan_windows

    eng = get_engine("debug")
    plan = plan_windows(take.control.frames, eng.window_frames, eng.overlap_frames)
    assert len(plan) > 20
    # constant requested energy: the crossfades neither dip nor double the level at the seams
    seams = np.concatenate([np.arange(w.start, plan[i - 1].stop) for i, w in enumerate(plan) if i])
    assert abs(e[seams].mean() - e[5:-5].mean()) < 0.02
    assert e[-3:].mean() > e[5:-5].mean() - 0.05  # the last window reaches the end


def test_energy_edit_moves_output_and_silence_stays_silent():
    eng = get_engine("debug")
    n = eng.predict(_req(3.0)).frames
    curve = np.full(n, 0.3, np.float32)
    curve[: n // 3] = 0.0  # first third silent
    doubled = curve.copy()
    mid = slice(n // 3 + 10, 2 * n // 3)
    doubled[mid] *= 2.0
    (base,) = eng.generate([_req(3.0, energy=curve)])[0]
    (edit,) = eng.generate([_req(3.0, energy=doubled)])[0]
    eb, ee = _energy(base.audio), _energy(edit.audio)
    inner = slice(mid.start + 3, mid.stop - 3)
    assert ee[inner].mean() > eb[inner].mean() + 0.2
    tail = slice(2 * n // 3 + 5, n - 5)
    # untouched region unchanged but for the take's reported static gain (the -1 dBTP ceiling)
    shift = (edit.metadata["levels"]["gain_db"] - base.metadata["levels"]["gain_db"]) / (20 * np.log10(np.e))
    shift /= np.log(200.0 / 1e-5)  # nats -> unit mel (mel.LOG_FLOOR .. LOG_CEIL)
    assert edit.metadata["levels"]["gain_db"] < 0
    assert abs(ee[tail].mean() - eb[tail].mean() - shift) < 0.02
    silent = base.audio[: (n // 3 - 3) * 256]
    assert np.max(np.abs(silent)) < 1e-3  # below -60 dBFS
    assert np.sqrt(np.mean(silent**2)) < 0.01 * np.sqrt(np.mean(base.audio[n // 3 * 256 :] ** 2))
    # measured energy follows the requested curve
    assert np.corrcoef(eb[: n - 2], curve[: n - 2])[0, 1] > 0.95


def test_batch_of_clips_in_order_with_metadata():
    eng = get_engine("debug")
    out = eng.generate([_req(0.5, prompt="rain", clip_id="a"), _req(1.0, prompt="fire", clip_id="b", takes=3)])
    assert [len(t) for t in out] == [1, 3]
    assert out[1][0].audio.shape[0] == SR
    meta = out[1][2].metadata
    assert meta["engine"] == "debug" and meta["prompt"] == "fire" and meta["seed"] == 2


def test_frames_without_rate_is_a_clear_error():
    from melfoley.core.errors import MelfoleyError

    req = FoleyRequest(None, 0.0, 1.0, "rain", frames=_frames(1.0), clip_id="shot12")
    with pytest.raises(MelfoleyError, match="shot12"):
        get_engine("debug").generate([req])


def test_window_plan_covers_every_frame_with_full_windows():
    from melfoley.core.windows import plan_windows

    assert plan_windows(0, 10, 2) == []
    assert [(w.start, w.stop) for w in plan_windows(7, 10, 2)] == [(0, 7)]
    plan = plan_windows(25, 10, 2)
    assert plan[0].start == 0 and plan[-1].stop == 25
    assert all(w.stop - w.start == 10 for w in plan)
    assert all(b.start < a.stop for a, b in zip(plan, plan[1:]))  # consecutive windows overlap
    with pytest.raises(ValueError):
        plan_windows(25, 10, 10)


def test_crossfade_join_is_exact_on_a_shared_signal():
    """Windows cut from one signal join back into that signal (the fades sum to one)."""
    from melfoley.core.windows import crossfade_join, plan_windows

    hop, frames = 4, 53
    sig = np.random.default_rng(0).standard_normal(frames * hop).astype(np.float32)
    plan = plan_windows(frames, 12, 3)
    pieces = [sig[w.start * hop : w.stop * hop] for w in plan]
    np.testing.assert_allclose(crossfade_join(pieces, plan, hop, frames * hop), sig, atol=1e-6)
