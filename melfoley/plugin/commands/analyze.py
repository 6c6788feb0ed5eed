"""``melfoley analyze AUDIO [--png OUT]``: decompose a recording and report its Mel-QCD control."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("analyze", help="decompose an audio file into its Mel-QCD control and report it",
                       description="Print duration, frames, code usage and reconstruction error of an audio "
                                   "file's Mel-QCD decomposition; optionally plot it to PNG.")
    p.add_argument("audio", help="audio file (WAV, FLAC, ...)")
    p.add_argument("--png", metavar="OUT", help="write a plot of mel, E/D curves, code raster and recomposed mel")
    p.add_argument("--mel", default="auffusion16k", help="mel front-end: auffusion16k (default) or hifigan22k")
    p.add_argument("--json", metavar="OUT", help="also write the QCDControl as JSON")
    return p


def run(args) -> int:
    from pathlib import Path

    from ...core.analysis import analyze_logmel, plot_decomposition
    from ...core.audio import load_audio
    from ...core.errors import MelfoleyError
    from ...core.mel import get_mel_config, log_mel

    try:
        cfg = get_mel_config(args.mel)
    except ValueError as exc:
        raise MelfoleyError(str(exc)) from None
    wave = load_audio(args.audio, cfg)
    logmel = log_mel(wave, cfg)
    analysis, control = analyze_logmel(logmel, cfg, source=args.audio)
    print(analysis.report())
    if args.png:
        print(f"plot        {plot_decomposition(logmel.numpy(), control, args.png, title=Path(args.audio).name)}")
    if args.json:
        from ...core.atomic import atomic_text

        out = Path(args.json)
        atomic_text(out, control.to_json())  # verified, and the previous file survives a failed write
        print(f"control     {out}")
    return 0
