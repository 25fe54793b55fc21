#!/usr/bin/env bash
# Set up napari-medai from nothing: system libraries for headless Qt/OpenGL (Debian/Ubuntu),
# a virtual environment in .venv, the CPU build of torch, and the pinned dependencies.
# Safe to re-run: it reuses what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0
libxcb-randr0 libxcb-xkb1 libxcb-cursor0 libxkbcommon-x11-0 libgl1 libegl1 libgl1-mesa-dri libglx-mesa0
libdbus-1-3 libfontconfig1 dicom3tools"

if command -v apt-get >/dev/null 2>&1; then
  missing=$(dpkg-query -W -f='${Package} ${Status}\n' $APT_PACKAGES 2>/dev/null | grep -v "install ok installed" | cut -d' ' -f1 || true)
  # packages dpkg has never heard of do not appear above at all
  for p in $APT_PACKAGES; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
  if [ -n "${missing// /}" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing system packages: $missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      echo "setup: missing system packages (needed for the viewer and GUI tests): $missing" >&2
      echo "setup: run: sudo apt-get install -y $missing" >&2
    fi
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
export PIP_CONSTRAINT="$PWD/.ci/constraints.txt"
.venv/bin/python -m pip install -q --upgrade pip wheel
# torch first, pinned to the CPU build, so nothing later pulls a multi-GB CUDA build
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -r .ci/requirements-lock.txt
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -m napari_medai.cli info
