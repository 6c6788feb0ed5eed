"""The viewer during playback (issue 14, point 2): frames are decoded at the size shown while
playing (ahead of the playhead, backwards in reverse), not blown up from the preview frames,
and decoded again when the viewer is resized. Driven offscreen with the debug engine over the
corpus videos; no sound card (the playhead runs on the clock)."""

from __future__ import annotations

from ui_support import panel, wait_preview  # noqa: F401, I001 - first: Qt platform, skips

import numpy as np
import pytest

from melfoley.ui.sample_edit import make_edit
from melfoley.ui.timecode import frame_of


@pytest.fixture
def edit(corpus, tmp_path):
    return make_edit(tmp_path / "edit.otio", corpus / "video", long=True)  # 3.2 s first clip


def _watch(panel):
    """Record, for every frame the viewer paints, whether it was decoded at the size shown and for
    the frame under the playhead."""
    v, seen = panel.viewer, []
    orig = v.show_frame

    def show(frame, seconds, *, sharp=False):
        orig(frame, seconds, sharp=sharp)
        if frame is not None and panel.player.is_playing():
            seen.append((sharp, v._img.height(), v.wanted_size(), frame_of(seconds, 25)))
    v.show_frame = show
    return seen


def test_playback_shows_frames_decoded_at_the_size_shown(qtbot, panel, edit, tmp_path):
    panel.open_timeline(edit, output_dir=tmp_path / "out")
    wait_preview(qtbot, panel, "V1/0")
    v = panel.viewer
    preview_h = panel.preview("V1/0").frames.shape[1]
    size = v.wanted_size()
    assert size > 1.5 * preview_h  # the viewer is larger than the preview frames: they would be blown up
    panel.player.load(np.zeros(int(22050 * 3.2), np.float32), 22050)  # the clip's length of silence
    panel.player.seek(0.0)
    # paused: the frame at the playhead, then the runs after and before it, so L and J start sharp. Asked
    # as the panel asks its cache (decoded at the size shown now, or a little larger), as the reverse half
    # below does: an exact key at the size read once above never came when the layout settled a few
    # pixels smaller after a decode (the panel then rightly reuses the larger frames)
    qtbot.waitUntil(lambda: all(panel._cached("V1/0", f, v.wanted_size()) is not None for f in range(8)),
                    timeout=30000)
    seen = _watch(panel)
    panel.player.shuttle(1.0)
    qtbot.waitUntil(lambda: panel.player.position() > 2.0, timeout=10000)
    panel.player.stop()
    assert len(seen) > 20
    sharp = [s for s in seen if s[0]]
    # (decoding only when paused, as before, painted none; 0.6 leaves room for a loaded machine)
    assert len(sharp) >= 0.6 * len(seen), f"{len(sharp)} of {len(seen)} painted frames decoded at the size shown"
    assert all(want <= h <= 1.25 * want for _, h, want, _ in sharp)  # decoded at (or just above) the height shown: never scaled up
    assert len({f for *_, f in sharp}) > 20  # the picture moved along: more than twenty different frames
    # backwards (J): decoded ahead in the play direction
    seen.clear()
    panel.player.seek(3.0)  # frame 75; paused, the runs after and before it are decoded too
    qtbot.waitUntil(lambda: all(panel._cached("V1/0", f, v.wanted_size()) is not None for f in range(66, 76)),
                    timeout=30000)
    panel.player.shuttle(-1.0)
    qtbot.waitUntil(lambda: panel.player.position() < 1.8, timeout=10000)
    panel.player.stop()
    back = [s for s in seen if s[0]]
    assert len(back) >= 0.5 * len(seen) and len({f for *_, f in back}) > 15


def test_a_resized_viewer_decodes_again_at_its_new_size(qtbot, panel, edit, tmp_path):
    panel.open_timeline(edit, output_dir=tmp_path / "out")
    wait_preview(qtbot, panel, "V1/0")
    v = panel.viewer
    panel.player.load(np.zeros(22050 * 3, np.float32), 22050)
    panel.player.seek(1.0)
    qtbot.waitUntil(lambda: v.sharp and v._img.height() == v.wanted_size(), timeout=30000)
    before = v.wanted_size()
    panel.main.setSizes([700, 200])  # the picture made small ...
    qtbot.waitUntil(lambda: v.wanted_size() < before - 20, timeout=5000)
    qtbot.waitUntil(lambda: v.sharp and v._img.height() == v.wanted_size(), timeout=30000)
    small = v.wanted_size()
    panel.main.setSizes([150, 750])  # ... and large again: decoded at the new size, not scaled up
    qtbot.waitUntil(lambda: v.wanted_size() > small + 20, timeout=5000)
    qtbot.waitUntil(lambda: v.sharp and v._img.height() == v.wanted_size(), timeout=30000)
    assert v._img.height() > small


def test_a_drag_on_the_timeline_ruler_scrubs_grains_of_the_foley(qtbot, panel, edit, tmp_path):
    from PySide6.QtCore import QPoint, Qt

    from melfoley.ui.player import GRAIN_S
    from melfoley.ui.timeline_view import RULER

    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    s.update("V1/0", prompt="footsteps", takes=1)
    with qtbot.waitSignal(panel.generation_finished, timeout=60000):
        panel.generate(["V1/0"])
    panel.transport.edit_box.setChecked(True)  # the edit's Foley lanes, mixed
    p, tv = panel.player, panel.timeline
    panel.seek_edit(0.0)
    mix, rate = p._audio.copy(), p._rate
    n = int(GRAIN_S * rate)
    loud = [t for t in np.arange(0.3, 2.9, 0.05) if np.abs(mix[int(t * rate):int(t * rate) + n]).max() > 0.01]
    assert len(loud) > 3, "the debug take should have sound somewhere in the first clip"
    tv.fit()
    y = RULER // 2
    qtbot.mousePress(tv, Qt.MouseButton.LeftButton, pos=QPoint(int(tv.x_of(loud[0] - 0.2)), y))
    qtbot.mouseMove(tv, QPoint(int(tv.x_of(loud[0])), y))
    at = int(round((p.position() - p.start()) * rate))
    assert p.position() == pytest.approx(loud[0], abs=2 / tv.px_per_s)
    g = p._grain
    assert g is not None and np.abs(g).max() > 0.005  # the Foley under the playhead, not silence
    e = int(0.006 * rate)
    assert np.allclose(g[e:n - e], mix[at + e:at + n - e], atol=1e-6)
    # dragging back plays the grain backwards (what the drag passes over, in its direction)
    qtbot.mouseMove(tv, QPoint(int(tv.x_of(loud[0] - 0.1)), y))
    at = int(round((p.position() - p.start()) * rate))
    g = p._grain
    assert np.allclose(g[e:n - e], mix[at - n:at][::-1][e:n - e], atol=1e-6)
    qtbot.mouseRelease(tv, Qt.MouseButton.LeftButton, pos=QPoint(int(tv.x_of(loud[0] - 0.1)), y))
    assert not p.is_playing()


def test_across_the_edit_the_next_clip_is_decoded_before_the_cut(qtbot, panel, edit, tmp_path):
    s = panel.open_timeline(edit, output_dir=tmp_path / "out")
    wait_preview(qtbot, panel, "V1/0")
    v = panel.viewer
    panel.transport.edit_box.setChecked(True)
    panel.seek_edit(2.7)  # half a second before V1/0 ends; V1/2 starts after a 0.4 s gap
    qtbot.waitUntil(lambda: v.sharp, timeout=30000)
    nxt = float(s.state("V1/2").clip.record_in)
    seen, blank = [], []
    orig, orig_time = v.show_frame, v.set_time

    def show(frame, seconds, *, sharp=False):
        orig(frame, seconds, sharp=sharp)
        if frame is not None and panel.player.is_playing() and v.record_in == pytest.approx(nxt):
            seen.append(sharp)

    def set_time(seconds):  # a tick of the next clip with no frame of it to show
        orig_time(seconds)
        if panel.player.is_playing() and v.record_in == pytest.approx(nxt) and not seen:
            blank.append(seconds)
    v.show_frame, v.set_time = show, set_time
    panel.transport_key("l")
    qtbot.waitUntil(lambda: panel.player.position() > 4.1, timeout=15000)
    panel.player.stop()
    assert seen and all(seen[:5]), "the viewer showed the next clip, decoded at the size shown"
    assert blank == []  # its frames were there at the cut: not one tick without its picture
