#!/usr/bin/env bash
# Installs the Debian packages uhnas needs, only those that are missing.
#   scripts/setup.sh          build dependencies and the Fashion-MNIST dataset (make demo)
#   scripts/setup.sh --check  also PyTorch (python3-torch): the reference the export tests
#                             load the generated module in, ONNX (python3-onnx, NumPy) that
#                             checks the exported model, and Chromium, the browser the report
#                             test renders the report in (make check, make sanitize)
#   scripts/setup.sh --sanitize  as --check, and clang with libomp (ThreadSanitizer: make tsan)
#   scripts/setup.sh --bench  PyTorch and NumPy, the benchmarks' peer
set -euo pipefail

packages=(
  gcc make cmake pkg-config
  libopenblas-dev libopenblas0-openmp   # SGEMM; the OpenMP build shares our thread pool
  libcjson-dev zlib1g-dev libsqlite3-dev libcurl4-openssl-dev
  libcmocka-dev python3                  # unit tests; python3 checks JSON in CLI tests
  openmpi-bin libopenmpi-dev             # optional MPI mode: mpirun -np N uhnas search
  dataset-fashion-mnist                  # /usr/share/datasets/fashion-mnist (default data)
)
case "${1:-}" in
  "") ;;
  --check) packages+=(python3-torch python3-onnx python3-numpy chromium) ;;
  --sanitize) packages+=(python3-torch python3-onnx python3-numpy chromium clang libomp-dev) ;;
  --bench) packages+=(python3-torch python3-numpy) ;;
  *) echo "setup: unknown option $1 (--check, --sanitize or --bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "setup: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
