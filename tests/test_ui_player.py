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
