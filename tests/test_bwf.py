"""Broadcast WAV writer, checked with independent readers (wavinfo, libsndfile)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from wavinfo import WavInfoReader

from melfoley.core.errors import MelfoleyError
from melfoley.plugin import bwf
from melfoley.plugin.bwf import Bext, IXml, read_chunks, time_reference, write_bwf


def _signal(n=48000, seed=0):
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(np.arange(n) * 2 * np.pi * 440 / 48000) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def test_time_reference_at_one_hour_2398():
    # 01:00:00:00 at 23.976 = 86400 frames x 1001/24000 s = 3603.6 s
    assert time_reference(Fraction(86400) * Fraction(1001, 24000)) == 172_972_800
    assert time_reference(3600) == 172_800_000
    assert time_reference(86400 + 1) == 48000  # wraps at midnight


def test_chunks_read_back_with_wavinfo_and_libsndfile(tmp_path):
    x = _signal()
    tr = time_reference(Fraction(86400) * Fraction(1001, 24000))
    b = Bext(description="footsteps on gravel seed 7", originator="melfoley 0.1.0", originator_reference="abc123",
             origination_date="2026-11-27", origination_time="01:02:03", time_reference=tr,
             coding_history="A=PCM,F=22050,W=32,M=mono,T=model\nA=PCM,F=48000,W=24,M=mono,T=soxr VHQ")
    ix = IXml(project="My Show", scene="Sc12", take="3", tape="MYSHOW", note="footsteps on gravel | seed 7",
              file_uid="u1", timecode_rate=Fraction(24000, 1001), track_names=("Footsteps",))
    path = write_bwf(tmp_path / "a.wav", x, bext=b, ixml=ix)
    info = WavInfoReader(str(path))
    assert info.fmt.sample_rate == 48000 and info.fmt.bits_per_sample == 24 and info.fmt.channel_count == 1
    assert info.data.frame_count == x.shape[0]
    assert info.bext.time_reference == 172_972_800
    assert info.bext.description == "footsteps on gravel seed 7"
    assert info.bext.originator == "melfoley 0.1.0" and info.bext.originator_ref == "abc123"
    assert info.bext.originator_date == "2026-11-27" and info.bext.originator_time == "01:02:03"
    assert "soxr VHQ" in info.bext.coding_history and info.bext.coding_history.endswith("\r\n")
    assert info.ixml.project == "My Show" and info.ixml.scene == "Sc12" and info.ixml.take == "3"
    xml = info.ixml.raw_xml
    assert xml.find("NOTE").text == "footsteps on gravel | seed 7"
    assert xml.find("SPEED/TIMECODE_RATE").text == "24000/1001"
    assert int(xml.find("SPEED/TIMESTAMP_SAMPLES_SINCE_MIDNIGHT_LO").text) == 172_972_800
    y, sr = sf.read(path, dtype="float32")
    assert sr == 48000 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1.0 / 8388607 + 1e-7  # 24-bit: within one step


def test_long_text_is_cut_to_the_field_sizes(tmp_path):
    path = write_bwf(tmp_path / "b.wav", _signal(100), bext=Bext(description="d" * 400, originator="o" * 50))
    info = WavInfoReader(str(path))
    assert info.bext.description == "d" * 256 and info.bext.originator == "o" * 32


def test_clipping_and_stereo(tmp_path):
    x = np.stack([np.linspace(-2, 2, 1001), np.zeros(1001)], axis=1).astype(np.float32)
    path = write_bwf(tmp_path / "s.wav", x, bext=Bext())
    y, _ = sf.read(path, dtype="float32")
    assert y.shape == (1001, 2) and y.max() <= 1.0 and y.min() >= -1.0 and np.all(y[:, 1] == 0)


def test_rf64_layout_reads_back(tmp_path):
    x = _signal(4801)
    path = write_bwf(tmp_path / "r.wav", x, bext=Bext(time_reference=12345), ixml=IXml(project="P"), rf64=True)
    assert path.read_bytes()[:4] == b"RF64"
    assert list(read_chunks(path)) == ["ds64", "fmt ", "bext", "iXML", "data"]
    y, sr = sf.read(path, dtype="float32")
    assert y.shape == x.shape and sr == 48000
    info = WavInfoReader(str(path))
    assert info.bext.time_reference == 12345 and info.ixml.project == "P" and info.data.frame_count == 4801


def test_odd_sized_chunks_are_padded(tmp_path):
    path = write_bwf(tmp_path / "o.wav", _signal(3), bext=Bext(coding_history="x"), ixml=IXml(project="ab"))
    chunks = read_chunks(path)  # parses only when every chunk is word-aligned
    assert set(chunks) == {"fmt ", "bext", "iXML", "data"}


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    write_bwf(path, _signal(480), bext=Bext(description="old"))
    before = path.read_bytes()
    calls = {"n": 0}
    real = bwf.pcm24

    def failing(a):  # the disk "fills" after the first block
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(28, "No space left on device")
        return real(a)

    monkeypatch.setattr(bwf, "pcm24", failing)
    big = np.zeros((1 << 20) + 10, np.float32)
    with pytest.raises(MelfoleyError, match="cannot write stem"):
        write_bwf(path, big, bext=Bext(description="new"))
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]  # no temp left behind


def test_one_chunk_reader_serves_the_stem_checks_and_the_library(tmp_path):
    """core.riff is the one RIFF/RF64/BW64 walker: the stem writer's check and the library's
    metadata read the same chunks, from BW64 and from a truncated file too; a non-WAVE file is
    an error for one and 'no metadata' for the other."""
    from melfoley.core.library.metadata import read_chunks as library_chunks

    path = write_bwf(tmp_path / "r.wav", _signal(4801), bext=Bext(description="gate latch"),
                     ixml=IXml(note="rusty hinge"), rf64=True)
    raw = path.read_bytes()
    bw64 = tmp_path / "b.wav"
    bw64.write_bytes(b"BW64" + raw[4:])
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[:len(raw) // 2])  # ends inside the data chunk
    for p in (path, bw64, cut):
        chunks = read_chunks(p)
        assert list(chunks) == ["ds64", "fmt ", "bext", "iXML", "data"], p.name
        assert int.from_bytes(chunks["data"], "little") == 4801 * 3  # from ds64: the 32-bit size is 0xFFFFFFFF
        assert library_chunks(p) == ("gate latch", "rusty hinge Ch1"), p.name  # iXML NOTE, track NAME
    flac = tmp_path / "x.wav"
    flac.write_bytes(b"fLaC" + raw[4:])
    with pytest.raises(MelfoleyError, match="not a WAVE file"):
        read_chunks(flac)
    assert library_chunks(flac) == ("", "")
