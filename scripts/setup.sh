#!/usr/bin/env bash
# Installs what whale needs to build and test on Debian 12 (idempotent: skips apt when all present).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libpcre2-dev
  libdnnl-dev libtorch-dev libopenblas0-openmp gnuplot-nox
  libgloo-dev  # the c10d/Gloo headers of data-parallel training (docs/distributed.md)
  clang libclang-rt-14-dev python3-numpy
  libxapian-dev libgumbo-dev libpoppler-cpp-dev fonts-noto-cjk poppler-utils
  chromium
  libopenmpi-dev openmpi-bin
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
