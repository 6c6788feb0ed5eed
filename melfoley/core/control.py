"""``QCDControl``: the one control signal every predictor produces and every renderer consumes.

Energy ``E_t`` (the curve the artist sees and redraws), spread ``D_t`` and the two
81-class semantic code streams, on the frame grid of a named mel front-end. It is
immutable; edits return a new control. It serialises to a compact, checksummed,
JSON-friendly dict (it rides in OTIO metadata and sidecars) and validates what it loads.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from . import qcd
from .errors import ControlFormatError
from .mel import MelConfig, get_mel_config

FORMAT = "melfoley.qcd/1"
_U16 = 65535.0


@dataclass(frozen=True, eq=False)
class QCDControl:
    energy: np.ndarray
    spread: np.ndarray
    codes: np.ndarray
    mel: str = "auffusion16k"
    frame_rate: float = field(default=0.0)

    def __post_init__(self):
        cfg = get_mel_config(self.mel)
        e = np.ascontiguousarray(self.energy, dtype=np.float32).reshape(-1)
        d = np.ascontiguousarray(self.spread, dtype=np.float32).reshape(-1)
        c = np.asarray(self.codes)
        if c.ndim != 2 or c.shape[0] != qcd.GROUPS:
            raise ValueError(f"codes must have shape [2, frames], got {c.shape}")
        if not (e.shape[0] == d.shape[0] == c.shape[1]):
            raise ValueError(f"energy ({e.shape[0]}), spread ({d.shape[0]}) and codes ({c.shape[1]}) lengths differ")
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(d))):
            raise ValueError("energy and spread must be finite")
        if e.size and (e.min() < 0 or e.max() > 1 or d.min() < 0 or d.max() > 1):
            raise ValueError("energy and spread must lie in [0, 1] (the spec's unit image scale)")
        if c.size and (c.min() < 0 or c.max() >= qcd.CODES_PER_GROUP):
            raise ValueError(f"codes must lie in [0, {qcd.CODES_PER_GROUP - 1}]")
        rate = self.frame_rate or cfg.frame_rate
        if abs(rate - cfg.frame_rate) > 1e-6:
            raise ValueError(f"frame rate {rate} does not match the {cfg.name} front-end ({cfg.frame_rate})")
        for name, arr in (("energy", e), ("spread", d), ("codes", c.astype(np.uint8))):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "mel", cfg.name)
        object.__setattr__(self, "frame_rate", float(cfg.frame_rate))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_logmel(cls, logmel, mel: str | MelConfig = "auffusion16k") -> "QCDControl":
        """Decompose one log-mel [N, T] of front-end ``mel``."""
        cfg = get_mel_config(mel)
        e, d, s = qcd.decompose(logmel, cfg)
        return cls(e.numpy(), d.numpy(), qcd.encode(s).numpy(), cfg.name)

    @classmethod
    def from_waveform(cls, wave, sample_rate: int, mel: str | MelConfig = "auffusion16k", *, source=None):
        """Check, resample and peak-normalise a waveform, then decompose it."""
        from .audio import prepare_waveform
        from .mel import log_mel

        cfg = get_mel_config(mel)
        x = prepare_waveform(wave, sample_rate, cfg, source=source)
        return cls.from_logmel(log_mel(x, cfg), cfg)

    @classmethod
    def silent(cls, frames: int, mel: str | MelConfig = "auffusion16k") -> "QCDControl":
        return cls(np.zeros(frames), np.ones(frames), np.full((2, frames), qcd.SILENT_CODE), mel)

    # ------------------------------------------------------------------ properties
    @property
    def config(self) -> MelConfig:
        return get_mel_config(self.mel)

    @property
    def frames(self) -> int:
        return int(self.energy.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / self.frame_rate

    def ternary(self) -> np.ndarray:
        """S [8, T] in {-1, 0, 1}, image order (row 0 = highest band)."""
        return qcd.decode(self.codes).numpy()

    def bands(self, *, released: bool = False) -> np.ndarray:
        """Recomposed band map E + D*S [8, T] in [0, 1] units, image order."""
        return qcd.recompose_bands(self.energy, self.spread, self.ternary(), released=released).numpy()

    def recomposed_mel(self, *, released: bool = False) -> np.ndarray:
        """[N, T] mel-order map in [0, 1] units (bands repeated over their mel rows)."""
        f = np.clip(self.bands(released=released), 0.0, 1.0)
        return qcd.bands_to_mel(f, self.config.n_mels).numpy()

    def control_image(self, frames: int | None = None, *, released_compat: bool = False) -> np.ndarray:
        """[3, N, frames] in [-1, 1] (see :func:`melfoley.core.qcd.control_image`)."""
        return qcd.control_image(
            self.energy, self.spread, self.codes, self.config.n_mels, frames=frames, released_compat=released_compat
        ).numpy()

    # ------------------------------------------------------------------ edits
    def with_energy(self, energy) -> "QCDControl":
        """The same control with a redrawn energy curve (clipped to [0, 1])."""
        energy = np.clip(np.asarray(energy, dtype=np.float32).reshape(-1), 0.0, 1.0)
        if energy.shape[0] != self.frames:
            raise ValueError(f"energy curve has {energy.shape[0]} frames; this control has {self.frames}")
        return replace(self, energy=energy)

    def slice(self, start: int, stop: int) -> "QCDControl":
        return replace(self, energy=self.energy[start:stop], spread=self.spread[start:stop],
                       codes=self.codes[:, start:stop])

    @staticmethod
    def concat(parts: "list[QCDControl]") -> "QCDControl":
        if not parts:
            raise ValueError("nothing to concatenate")
        mels = {p.mel for p in parts}
        if len(mels) != 1:
            raise ValueError(f"cannot join controls of different front-ends: {sorted(mels)}")
        return QCDControl(
            np.concatenate([p.energy for p in parts]), np.concatenate([p.spread for p in parts]),
            np.concatenate([p.codes for p in parts], axis=1), parts[0].mel,
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, QCDControl):
            return NotImplemented
        return (self.mel == other.mel and np.array_equal(self.energy, other.energy)
                and np.array_equal(self.spread, other.spread) and np.array_equal(self.codes, other.codes))

    __hash__ = None  # mutable-looking arrays inside: not hashable

    # ------------------------------------------------------------------ serialisation
    def quantized(self) -> "QCDControl":
        """The control as it reads back after serialisation (E, D on a 1/65535 grid)."""
        return QCDControl.from_dict(self.to_dict())

    def to_dict(self) -> dict:
        """Compact JSON-friendly form: E, D as uint16 over [0, 1], codes as uint8; zlib + base64; CRC32."""
        e = np.round(self.energy.astype(np.float64) * _U16).astype("<u2")
        d = np.round(self.spread.astype(np.float64) * _U16).astype("<u2")
        raw = e.tobytes() + d.tobytes() + self.codes.astype(np.uint8).tobytes()
        return {
            "format": FORMAT,
            "mel": self.mel,
            "frame_rate": self.frame_rate,
            "frames": self.frames,
            "crc32": zlib.crc32(raw),
            "data": base64.b64encode(zlib.compress(raw, 9)).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, obj: dict) -> "QCDControl":
        if not isinstance(obj, dict):
            raise ControlFormatError(f"a QCD control must be a JSON object, got {type(obj).__name__}")
        if obj.get("format") != FORMAT:
            raise ControlFormatError(
                f"unknown QCD control format {obj.get('format')!r}; this melfoley reads {FORMAT!r}. "
                "Regenerate the control or upgrade melfoley"
            )
        try:
            frames = int(obj["frames"])
            raw = zlib.decompress(base64.b64decode(obj["data"], validate=True))
            crc = int(obj["crc32"])
            mel = str(obj["mel"])
            rate = float(obj["frame_rate"])
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise ControlFormatError(f"QCD control is corrupt or truncated ({exc}); regenerate it") from exc
        if len(raw) != 6 * frames or zlib.crc32(raw) != crc:
            raise ControlFormatError(
                f"QCD control payload does not match its header ({len(raw)} bytes for {frames} frames, "
                "checksum mismatch or truncation); regenerate it"
            )
        e = np.frombuffer(raw, "<u2", frames, 0).astype(np.float32) / np.float32(_U16)
        d = np.frombuffer(raw, "<u2", frames, 2 * frames).astype(np.float32) / np.float32(_U16)
        c = np.frombuffer(raw, np.uint8, 2 * frames, 4 * frames).reshape(2, frames)
        try:
            return cls(e, d, c, mel, rate)
        except ValueError as exc:
            raise ControlFormatError(f"QCD control fails validation: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "QCDControl":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ControlFormatError(f"QCD control is not valid JSON ({exc})") from exc
        return cls.from_dict(obj)
