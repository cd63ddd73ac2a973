#!/usr/bin/env bash
# Makes sure the system packages Kinema builds against, and the tools its tests use, are present.
# As root on Debian/Ubuntu it installs what is missing with apt-get; otherwise it prints the
# exact command to run and fails.
set -euo pipefail

packages=(pkg-config libopenblas-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

# Tools the C and Python test suites use, installed only when the command is missing (a
# toolchain's own clang or a pip-installed pytest is fine).
need_command() {  # need_command COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need_command g++ g++
need_command gcc gcc
need_command clang clang
need_command valgrind valgrind
need_command nm binutils
need_command python3 python3
if command -v python3 >/dev/null 2>&1; then
    python3 -c "import pytest" >/dev/null 2>&1 || missing+=(python3-pytest)
else
    missing+=(python3-pytest)
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (swift) is not on PATH; install Swift 5.9 or newer first." >&2
    exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing missing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "Kinema needs these system packages: ${missing[*]}" >&2
    echo "Run as root:  apt-get update && $cmd" >&2
    exit 1
fi
