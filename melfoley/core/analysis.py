"""What ``melfoley analyze`` reports: a control's statistics and a look at the decomposition."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import qcd
from .control import QCDControl
from .mel import MelConfig, get_mel_config, to_unit


@dataclass(frozen=True)
class Analysis:
    source: str
    mel: str
    duration: float
    frames: int
    codes_used: tuple[int, int]  # distinct codes per group
    code_entropy: tuple[float, float]  # bits per frame, per group
    top_codes: tuple[tuple[tuple[int, float], ...], ...]  # per group: (code, share)
    recon_l1: float  # mean |unit mel - (E + D S)|
    recon_l1_released: float  # the released code's double recomposition
    energy_mean: float
    spread_mean: float

    def report(self) -> str:
        lines = [
            f"file        {self.source}",
            f"front-end   {self.mel}",
            f"duration    {self.duration:.3f} s",
            f"frames      {self.frames} ({self.frames / self.duration:.2f} per s)" if self.duration else "",
            f"energy      mean {self.energy_mean:.3f}   spread mean {self.spread_mean:.3f}",
        ]
        for g in range(qcd.GROUPS):
            top = ", ".join(f"{c}:{s:.0%}" for c, s in self.top_codes[g])
            lines.append(f"codes g{g}    {self.codes_used[g]}/81 used, entropy {self.code_entropy[g]:.2f} bits; top {top}")
        lines.append(f"recon L1    {self.recon_l1:.4f} (E + D*S)   {self.recon_l1_released:.4f} (released double recomposition)")
        return "\n".join(line for line in lines if line)


def code_histogram(codes: np.ndarray) -> np.ndarray:
    """[2, 81] share of frames using each code, per group."""
    codes = np.asarray(codes, dtype=np.int64)
    hist = np.stack([np.bincount(codes[g], minlength=qcd.CODES_PER_GROUP) for g in range(codes.shape[0])])
    return hist / max(1, codes.shape[1])


def entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def analyze_logmel(logmel, cfg: str | MelConfig, source: str = "") -> tuple[Analysis, QCDControl]:
    cfg = get_mel_config(cfg)
    control = QCDControl.from_logmel(logmel, cfg)
    s = control.ternary()
    hist = code_histogram(control.codes)
    top = tuple(
        tuple((int(c), float(hist[g, c])) for c in np.argsort(-hist[g])[:3] if hist[g, c] > 0) for g in range(2)
    )
    a = Analysis(
        source=source, mel=cfg.name, duration=control.duration, frames=control.frames,
        codes_used=tuple(int((hist[g] > 0).sum()) for g in range(2)),
        code_entropy=tuple(entropy_bits(hist[g]) for g in range(2)),
        top_codes=top,
        recon_l1=qcd.reconstruction_error(logmel, control.energy, control.spread, s, cfg),
        recon_l1_released=qcd.reconstruction_error(logmel, control.energy, control.spread, s, cfg, released=True),
        energy_mean=float(control.energy.mean()), spread_mean=float(control.spread.mean()),
    )
    return a, control


def plot_decomposition(logmel, control: QCDControl, out: str | Path, title: str = "") -> Path:
    """PNG: unit mel, E and D curves, the code raster (both groups) and the recomposed mel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = control.config
    unit = to_unit(np.asarray(logmel), cfg)
    t = np.arange(control.frames) / control.frame_rate
    extent = (0, control.duration, 0, cfg.n_mels)
    fig, axes = plt.subplots(5, 1, figsize=(11, 11), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.4, 1.6, 1.2, 3]})
    axes[0].imshow(unit, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=0, vmax=1)
    axes[0].set_ylabel("mel bin")
    axes[0].set_title(title or "log-mel (unit scale)")
    axes[1].plot(t, control.energy, color="tab:orange", label="E (energy)")
    axes[1].plot(t, np.where(control.spread < 1, control.spread, np.nan), color="tab:cyan", label="D (spread)")
    axes[1].set_ylim(0, 1)
    axes[1].legend(loc="upper right", fontsize=8)
    s = control.ternary()  # image order: row 0 = highest band
    axes[2].imshow(s, aspect="auto", extent=(0, control.duration, -0.5, 7.5), cmap="coolwarm", vmin=-1, vmax=1,
                   interpolation="nearest")
    axes[2].set_yticks(range(8), [f"b{7 - k}" for k in range(8)])
    axes[2].set_ylabel("S (ternary)")
    axes[3].step(t, control.codes[0], where="post", lw=0.8, label="code g0 (high bands)")
    axes[3].step(t, control.codes[1], where="post", lw=0.8, label="code g1 (low bands)")
    axes[3].set_ylim(-1, 81)
    axes[3].legend(loc="upper right", fontsize=8)
    axes[4].imshow(control.recomposed_mel(), origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=0, vmax=1)
    axes[4].set_ylabel("mel bin")
    axes[4].set_title("recomposed E + D*S")
    axes[4].set_xlabel("time (s)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(out)
    return out
