"""QCDControl: construction, edits, compact serialisation and validation of what it loads."""

import json

import numpy as np
import pytest

from melfoley.core.audio import load_audio
from melfoley.core.control import QCDControl
from melfoley.core.errors import ControlFormatError
from melfoley.core.mel import log_mel


@pytest.fixture(scope="module")
def control(corpus_sample):
    wave = load_audio(corpus_sample[10].path, "hifigan22k")
    return QCDControl.from_logmel(log_mel(wave, "hifigan22k"), "hifigan22k")


def test_control_carries_its_front_end_and_rate(control):
    assert control.mel == "hifigan22k"
    assert control.frame_rate == pytest.approx(22050 / 256)
    assert control.codes.dtype == np.uint8 and control.codes.shape == (2, control.frames)
    assert control.recomposed_mel().shape == (80, control.frames)
    assert control.control_image(512).shape == (3, 80, 512)
    with pytest.raises(ValueError):
        control.energy[0] = 1.0  # immutable


def test_serialisation_round_trip_is_compact_and_exact_for_codes(control):
    text = control.to_json()
    back = QCDControl.from_json(text)
    np.testing.assert_array_equal(back.codes, control.codes)
    np.testing.assert_allclose(back.energy, control.energy, atol=1 / 65535)
    np.testing.assert_allclose(back.spread, control.spread, atol=1 / 65535)
    assert back.quantized() == back  # a second round trip is lossless
    assert len(text) < 6 * control.frames * 1.4 + 200  # about 6 bytes per frame before compression


def test_tampered_payloads_are_refused(control):
    obj = control.to_dict()
    with pytest.raises(ControlFormatError, match="unknown QCD control format"):
        QCDControl.from_dict({**obj, "format": "melfoley.qcd/99"})
    with pytest.raises(ControlFormatError, match="does not match its header"):
        QCDControl.from_dict({**obj, "frames": obj["frames"] + 1})
    with pytest.raises(ControlFormatError, match="checksum"):
        QCDControl.from_dict({**obj, "crc32": obj["crc32"] ^ 1})
    with pytest.raises(ControlFormatError, match="corrupt"):
        QCDControl.from_dict({**obj, "data": obj["data"][:-8] + "!!!!!!!!"})
    with pytest.raises(ControlFormatError, match="frame rate"):
        QCDControl.from_dict({**obj, "frame_rate": 100.0})
    with pytest.raises(ControlFormatError, match="not valid JSON"):
        QCDControl.from_json("{oops")
    with pytest.raises(ControlFormatError):
        QCDControl.from_dict(json.loads("[1, 2]"))


def test_codes_out_of_range_fail_validation():
    with pytest.raises(ValueError, match="codes must lie"):
        QCDControl(np.zeros(3), np.ones(3), np.full((2, 3), 81))
    with pytest.raises(ValueError, match="lengths differ"):
        QCDControl(np.zeros(3), np.ones(4), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        QCDControl(np.array([0.0, np.nan]), np.ones(2), np.zeros((2, 2)))


def test_energy_edit_slice_and_concat(control):
    doubled = control.with_energy(control.energy * 2)
    assert doubled.energy.max() <= 1.0 and np.all(doubled.codes == control.codes)
    with pytest.raises(ValueError, match="frames"):
        control.with_energy(np.zeros(3))
    a, b = control.slice(0, 10), control.slice(10, control.frames)
    assert QCDControl.concat([a, b]) == control
    with pytest.raises(ValueError, match="different front-ends"):
        QCDControl.concat([a, QCDControl.silent(4, "auffusion16k")])
