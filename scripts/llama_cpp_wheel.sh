#!/usr/bin/env bash
# Build llama-cpp-python once per machine and CPU into a wheel folder, then install it into a venv.
#
#   scripts/llama_cpp_wheel.sh PYTHON VERSION           build once (when missing), then install
#   scripts/llama_cpp_wheel.sh PYTHON VERSION --folder  print the wheel folder this machine uses
#
# There is no llama-cpp-python wheel for this Python on PyPI: pip would compile the sdist (~16 min on one
# core) on every fresh venv. This builds it once into $CHRONORAG_WHEEL_CACHE (default
# ~/.cache/chronorag/wheels), in a folder keyed by the version, the CMake flags and the CPU's flags (a wheel
# built for AVX2 must not reach a CPU without it), under a lock so that concurrent installs build it once.
# CI: cache that folder (it is ~10 MB) to skip the build.
#   LLAMA_CMAKE_ARGS   override the CMake flags (default: AVX2/FMA/F16C when the CPU has them, else native)
#   LLAMA_BUILD_JOBS   compile jobs (default 1: the development VMs are shared; CI=true uses every core)
set -euo pipefail
python="$1"
version="$2"
cache="${CHRONORAG_WHEEL_CACHE:-$HOME/.cache/chronorag/wheels}"
cpu_flags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)"
if [[ -z "${LLAMA_CMAKE_ARGS:-}" ]]; then
    if [[ " $cpu_flags " == *" avx2 "* && " $cpu_flags " == *" fma "* && " $cpu_flags " == *" f16c "* ]]; then
        # The AVX2 kernels explicitly rather than -march=native: as fast here, and the wheel's needs are known.
        LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
        [[ " $cpu_flags " == *" bmi2 "* ]] && LLAMA_CMAKE_ARGS+=" -DGGML_BMI2=ON"
    else
        LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON"
    fi
    # chronorag reads text only: skip the multimodal library (a third of the compile time).
    LLAMA_CMAKE_ARGS+=" -DLLAVA_BUILD=OFF"
fi
if [[ -z "${LLAMA_BUILD_JOBS:-}" ]]; then
    if [[ "${CI:-}" == "true" ]]; then LLAMA_BUILD_JOBS="$(nproc)"; else LLAMA_BUILD_JOBS=1; fi
fi
key="$(printf '%s\n%s\n' "$LLAMA_CMAKE_ARGS" "$cpu_flags" | sha1sum | cut -c1-10)"
folder="$cache/llama-cpp-python-$version-$key"
if [[ "${3:-}" == "--folder" ]]; then
    echo "$folder"
    exit 0
fi
mkdir -p "$cache"
(
    flock 9
    if [[ ! -f "$folder/BUILT" ]]; then
        echo "building llama-cpp-python $version once into $folder (CMAKE_ARGS: $LLAMA_CMAKE_ARGS;" \
            "$LLAMA_BUILD_JOBS job(s); about 16 min on one core)"
        started=$(date +%s)
        work="$(mktemp -d "$cache/.build.XXXXXX")"
        trap 'rm -rf "$work"' EXIT
        CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$LLAMA_BUILD_JOBS" \
            "$python" -m pip wheel --no-deps --no-binary llama-cpp-python -w "$work" "llama-cpp-python==$version"
        printf 'CMAKE_ARGS=%s\nseconds=%s\n' "$LLAMA_CMAKE_ARGS" "$(($(date +%s) - started))" > "$work/BUILT"
        rm -rf "$folder"
        mv "$work" "$folder"
        echo "built in $(($(date +%s) - started)) s"
    fi
) 9>"$cache/llama-cpp-python.lock"
# --only-binary: never fall back to compiling the sdist in place (pip's own wheel cache ignores CMAKE_ARGS).
"$python" -m pip install -q --find-links "$folder" --only-binary llama-cpp-python \
    "llama-cpp-python[server]==$version"
