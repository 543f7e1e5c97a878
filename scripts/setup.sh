#!/usr/bin/env bash
# Set up vj for development on a fresh machine: system packages (apt, where present), a virtual
# environment in .venv, torch (a CPU build unless an NVIDIA GPU is found), then vj itself, editable
# (the repository's shaders/, presets/ and mappings/ are used in place), with every extra:
# diffusion, voice, rig (NDI, Link, virtual cameras), beats (madmom's beat tracker) and the test
# tools. A user's install is `pip install .` (procedural only) or `pip install '.[diffusion,voice,rig]'`:
# see the README.
#
#   bash scripts/setup.sh          # set up only
#   bash scripts/setup.sh --run    # set up, then show the dream: a window if there is a display,
#                                  # otherwise a 10 s video rendered headless to dream.mp4
#
# Environment: PYTHON (default python3), VJ_TORCH_INDEX (a pip index URL for torch, e.g. PyTorch's
# CPU-only wheel index on a CPU machine elsewhere), VJ_SKIP_APT=1 to skip system packages.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri  # OpenGL: EGL offscreen and GLX windows (Mesa works without a GPU)
  libx11-xcb1 libxcb1 libxcb-shm0              # the outputs read the window from the X server (--read-back server)
  xvfb xauth xdotool imagemagick               # tests: a virtual display, real key presses, screenshots
  jackd2                                       # MIDI and audio without a sound card (tests start a dummy JACK server)
  liblo-tools                                  # tests: oscsend and oscdump, real third-party OSC clients
  espeak-ng                                    # tests: spoken commands for the voice recogniser
  libportaudio2                                # live audio input (sounddevice)
  libsndfile1                                  # audio files (soundfile)
  iproute2                                     # tests: a loopback-only network namespace for NDI and Link (ip)
  g++                                          # torch.compile on the CPU (inductor compiles C++)
  chromium chromium-driver                     # tests: the control surface in a real headless browser (selenium)
  curl                                         # tests: a real third-party HTTP client against OSCQuery
)

if [[ "${VJ_SKIP_APT:-0}" != 1 ]] && command -v apt-get >/dev/null; then
  SUDO=""
  [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  echo "== system packages: ${APT_PACKAGES[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
elif [[ "$(uname)" == Darwin ]]; then
  echo "== macOS: OpenGL comes with the system; no packages needed"
fi

PY="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)

# torch before vj, or pip would resolve the extras' plain `torch` requirement to a multi-GB CUDA build.
if .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "== torch: $(.venv/bin/python -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "== torch: NVIDIA GPU found, installing a CUDA build"
  "${PIP[@]}" torch ${VJ_TORCH_INDEX:+--index-url "$VJ_TORCH_INDEX"}
else
  echo "== torch: no NVIDIA GPU, installing the CPU build"
  "${PIP[@]}" "torch==2.13.0" ${VJ_TORCH_INDEX:+--index-url "$VJ_TORCH_INDEX"}
fi

echo "== vj (editable, with the diffusion, voice, rig, beats and test extras)"
"${PIP[@]}" -e ".[diffusion,voice,rig,beats,test]"
echo "== ready: .venv/bin/vj --help"

if [[ "${1:-}" == "--run" ]]; then
  if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" || "$(uname)" == Darwin ]]; then
    exec .venv/bin/vj run
  else
    echo "== no display: rendering 10 s of the dream to dream.mp4 instead"
    exec .venv/bin/vj render --seconds 10 --out dream.mp4
  fi
fi
