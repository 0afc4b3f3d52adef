#!/usr/bin/env bash
# Every hard limit is in include/uhnas/limits.h and in docs/limits.md, and only there: each
# UH_ name defined in the header is in the doc, each UH_ name in the doc's tables is defined
# in the header, and no other public header defines a UH_*_MAX* / UH_MAX_* limit (so a new
# limit lands in limits.h) except the algorithmic knobs listed below, which docs/limits.md
# ("Not limits") explains.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HEADER=$SRC/include/uhnas/limits.h
DOC=$SRC/docs/limits.md
INCLUDE=$SRC/include/uhnas
KNOBS="UH_SPACE_MAX_TRIES UH_SEARCH_MAX_DUPLICATE_TRIES UH_LM_MAX_RESAMPLES UH_SPACE_MAX_CONV
UH_SPACE_MAX_DENSE UH_SPACE_MAX_CHOICES UH_PRUNER_MAX_RUNGS"

defined=$(sed -n 's/^#define \(UH_[A-Z0-9_]*\).*/\1/p' "$HEADER" | grep -v '^UHNAS_' | sort -u)
[[ $(wc -l <<< "$defined") -ge 50 ]] && ok || bad "$HEADER defines only: $defined"
in_doc=$(grep '^|' "$DOC" | grep -o 'UH_[A-Z0-9_]*' | sort -u)

for n in $defined; do
  grep -qw -- "$n" <<< "$in_doc" && ok || bad "$n is defined in limits.h but not in docs/limits.md's table"
done
for n in $in_doc; do
  grep -qw -- "$n" <<< "$defined" && ok || bad "$n is in docs/limits.md's table but not defined in limits.h"
done

# Limits defined in another public header, knobs aside.
for h in "$INCLUDE"/*.h; do
  [[ $(basename "$h") == limits.h ]] && continue
  for n in $(sed -n 's/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}\(UH_[A-Z0-9_]*\).*/\1/p' "$h" |
             grep -E '^UH_([A-Z0-9_]*_)?MAX'); do
    if grep -qw -- "$n" <<< "$KNOBS"; then
      grep -qw -- "$n" "$DOC" && ok || bad "$n: a knob left in $(basename "$h") that docs/limits.md does not explain"
    else
      bad "$n is defined in $(basename "$h"); hard limits belong in include/uhnas/limits.h (and docs/limits.md)"
    fi
  done
done
# The header includes nothing: it is the lowest layer.
grep -q '^#include' "$HEADER" && bad "limits.h includes something" || ok
finish
