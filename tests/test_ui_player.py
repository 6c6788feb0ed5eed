"""Audition through PyAudio: ALSA's null device when we can point PortAudio at it, and the
no-device path (this machine has no sound card), which must say so and keep the playhead."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("JACK_NO_START_SERVER", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from melfoley.ui.player import Player, Transport, output_device_status  # noqa: E402

NULL_CONF = "pcm.!default { type null }\nctl.!default { type hw card 0 }\n"


@pytest.fixture
def no_device(monkeypatch, tmp_path):
    """ALSA pointed at a sound card that does not exist: PortAudio sees no output device."""
    pytest.importorskip("pyaudio")
    conf = tmp_path / "asound-nocard.conf"
    conf.write_text("pcm.!default { type hw card 99 }\nctl.!default { type hw card 99 }\n")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(conf))
    ok, name = output_device_status()
    if ok:
        pytest.skip(f"an output device is reachable outside ALSA ({name}); cannot simulate none here")


@pytest.fixture
def null_device(monkeypatch, tmp_path):
    """ALSA's null PCM as the default device: a real PortAudio stream that plays into nothing."""
    pytest.importorskip("pyaudio")
    conf = tmp_path / "asound-null.conf"
    conf.write_text(NULL_CONF)
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(conf))
    ok, name = output_device_status()
    if not ok:
        pytest.skip(f"PortAudio was built without ALSA or ignores ALSA_CONFIG_PATH: {name}")


def _tone(seconds=0.4, rate=22050):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_no_device_says_so_and_playhead_still_runs(qtbot, no_device):
    player = Player(tick_ms=10)
    transport = Transport(player)
    qtbot.addWidget(transport)
    player.load(_tone(0.3), 22050)
    positions = []
    player.position_changed.connect(positions.append)
    with qtbot.waitSignal(player.device_message, timeout=3000) as msg:
        player.play()
    assert "No audio output device" in msg.args[0]
    assert transport.device_label.text() == msg.args[0]
    assert player.is_playing()
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=3000)
    assert max(positions) == pytest.approx(0.3, abs=0.02)  # ran to the end on the clock
    assert positions == sorted(positions)


def test_null_device_plays_stops_and_loops(qtbot, null_device):
    player = Player(tick_ms=10)
    player.load(_tone(0.25), 22050)
    player.play()
    assert player.device_ok and player._stream is not None  # a real PortAudio stream
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=5000)
    assert player.position() == pytest.approx(0.25, abs=0.01)
    # loop: still playing after more than two lengths, position inside the take
    player.set_loop(True)
    player.play()
    qtbot.wait(700)
    assert player.is_playing() and 0 <= player.position() < 0.25
    player.stop()
    assert not player.is_playing()
    player.close()


def test_transport_frame_follows_playhead(qtbot, no_device):
    player = Player()
    transport = Transport(player)
    qtbot.addWidget(transport)
    frames = np.zeros((4, 18, 32, 3), np.uint8)
    for i in range(4):
        frames[i, :, :, 0] = 60 * i  # a different red per frame
    transport.set_frames(frames, np.array([0.0, 0.25, 0.5, 0.75]))
    player.load(_tone(1.0), 22050)
    player.seek(0.6)
    assert transport.frame_index(0.6) == 2
    transport.resize(480, 400)
    img = transport.viewer.grab().toImage()
    r = transport.viewer.picture_rect()
    assert img.pixelColor(int(r.center().x()), int(r.center().y())).red() == pytest.approx(120, abs=3)
    assert transport.time_label.text() == "00:00:00:15"  # SMPTE at the clip's rate (25 fps here)
    assert transport.viewer.frame_number() == 15


def _freq(x, rate):
    """The dominant frequency of ``x`` (Hz)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * rate / x.size)


def _tone_at(freq, seconds, rate=22050, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_shuttle_speeds_are_heard_resampled_and_reversed(qtbot, no_device):
    """J/K/L off 1x plays the audio: 2x doubles the pitch, 0.5x halves it, reverse reads it
    backwards, and 4x does not fold a high tone back down at full level (the box filter)."""
    rate = 22050
    player = Player()
    player.load(_tone_at(1000, 2.0), rate)
    for speed, want in ((2.0, 2000.0), (0.5, 500.0), (-1.0, 1000.0), (-2.0, 2000.0)):
        player.seek(1.0)
        player.shuttle(speed)
        before = player._pos
        out, done = player.render(4096)
        assert not done and player.shuttle_rate() == speed
        assert _freq(out, rate) == pytest.approx(want, abs=15)
        assert player._pos - before == pytest.approx(speed * 4096)  # the playhead follows the speed
        player.stop()
    # reverse is the buffer read backwards, sample for sample
    ramp = np.linspace(-0.5, 0.5, rate, dtype=np.float32)
    player.load(ramp, rate)
    player.seek(0.5)
    at = int(player._pos)
    player.shuttle(-1.0)
    out, _ = player.render(1000)
    assert np.allclose(out, ramp[at - 999:at + 1][::-1], atol=1e-6)
    # reverse runs to the start and stops there
    player.seek(0.01)
    player.shuttle(-1.0)
    out, done = player.render(1000)
    assert done and player.position() == 0.0 and np.abs(out[300:]).max() == 0.0
    # 4x of a 5 kHz tone: without a filter it would alias to 2050 Hz at full level
    player.load(_tone_at(5000, 2.0), rate)
    player.seek(0.2)
    player.shuttle(4.0)
    out, _ = player.render(4096)
    assert np.sqrt(np.mean(out ** 2)) < 0.5 / np.sqrt(2) * 10 ** (-15 / 20)
    player.close()


def test_scrub_without_a_device_moves_the_playhead_silently(qtbot, no_device):
    player = Player()
    player.load(_tone(1.0), 22050)
    with qtbot.waitSignal(player.device_message, timeout=3000):
        player.scrub(0.3)
    assert player.position() == pytest.approx(0.3, abs=1e-3) and player._stream is None
    player.scrub(0.2)  # said once; scrubbing goes on
    assert player.position() == pytest.approx(0.2, abs=1e-3)
    player.close()


def test_null_device_plays_reverse_and_varispeed_through_a_stream(qtbot, null_device):
    """Off 1x the audio goes out through a real PortAudio stream (ALSA's null PCM takes it as fast
    as it is made), and the callback, not the silent clock, moves the playhead to the end."""
    player = Player(tick_ms=10)
    player.load(_tone(1.0), 22050)
    for start, speed, end in ((0.9, -2.0, 0.0), (0.2, 0.5, 1.0)):
        player.seek(start)
        player.shuttle(speed)
        assert player._stream is not None and player._silent_t0 is None  # sound, not the silent clock
        qtbot.waitUntil(lambda: not player.is_playing(), timeout=5000)
        assert player.position() == pytest.approx(end, abs=0.01)
    player.close()


def test_scrub_plays_grains_at_the_playhead(qtbot, null_device):
    from melfoley.ui.player import GRAIN_EDGE_S, GRAIN_S, grain

    rate = 22050
    ramp = np.linspace(-0.5, 0.5, rate, dtype=np.float32)
    g = grain(ramp, 11025, rate)
    e, n = int(GRAIN_EDGE_S * rate), int(GRAIN_S * rate)
    assert g.shape[0] == n and abs(g[0]) < 1e-6 and abs(g[-1]) < 1e-3  # faded edges: no clicks
    assert np.allclose(g[e:n - e], ramp[11025 + e:11025 + n - e])
    back = grain(ramp, 11025, rate, backwards=True)
    assert np.allclose(back[e:n - e], ramp[11025 - n:11025][::-1][e:n - e])  # a drag back plays backwards
    player = Player(tick_ms=10)
    player.load(_tone(1.0), rate)
    player.scrub(0.5)
    assert player.position() == pytest.approx(0.5, abs=1e-3) and not player.is_playing()
    assert player._stream is not None  # the grain goes out through a real stream
    qtbot.waitUntil(lambda: player._grain is None, timeout=2000)  # the callback played it
    qtbot.waitUntil(lambda: player._stream is None, timeout=2000)  # and the output closes when idle
    player.close()
