#!/usr/bin/env bash
# A write that fails: here EFBIG under `ulimit -f`, the error a full disk gives as ENOSPC, on
# the same paths. The search stops with one line naming the file and the reason; what it
# committed stays, and `resume`, once there is room, ends with the rows of an uninterrupted
# run. export's weights and a report fail the same way, and leave the old file (or none),
# never half of one (every file but the store is written to a temporary file, then renamed).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend cpu-xeon8380-fp32 --data tiny --population 6 --children 3 --generations 24
      --epochs 2 --seed 4 --jobs 1 --quiet)
"$UHNAS" search "${ARGS[@]}" --out "$tmp/whole" > /dev/null 2>&1 && ok || bad "uninterrupted run"

# the store in KiB: at 1000 the first rung's commit fails (the write-ahead log outgrows it),
# at 5200 a later one, after candidates were committed
for kib in 1000 5200; do
  dir="$tmp/full-$kib"
  out=$( (ulimit -f "$kib"; exec "$UHNAS" search "${ARGS[@]}" --out "$dir") 2>&1)
  rc=$?
  [[ $rc -eq 1 && $(wc -l <<< "$out") -eq 1 && "$out" == *"$dir/run.sqlite: "*"(continue with: uhnas resume $dir)"* ]] \
    && ok || bad "search under ulimit -f $kib: exit $rc: $out"
  [[ $kib -lt 5200 || $(rows "$dir") -gt 0 ]] && ok || bad "nothing committed before $kib KiB"
  "$UHNAS" resume "$dir" --quiet > /dev/null 2> "$tmp/resume.err" && ok \
    || bad "resume after ulimit -f $kib: $(cat "$tmp/resume.err")"
  same_rows "$tmp/whole" "$dir" "run resumed after its store hit $kib KiB"
done

# export: the weights file of the largest network on the front (over 40 KiB) cannot be
# written; nothing is left behind
id=$(python3 -c 'import csv,sys; print(max(csv.DictReader(open(sys.argv[1])), key=lambda r: int(r["params"]))["id"])' \
  "$tmp/whole/front.csv")
out=$( (ulimit -f 40; exec "$UHNAS" export --run "$tmp/whole" --candidate "$id" --format pytorch \
  --out "$tmp/net.py") 2>&1)
rc=$?
[[ $rc -eq 1 && "$out" == *"$tmp/net.py.uhw: write failed: File too large"* ]] && ok \
  || bad "export under ulimit -f: exit $rc: $out"
ls "$tmp"/net.py* > /dev/null 2>&1 && bad "export left $(ls "$tmp"/net.py*)" || ok

# a report larger than the limit (about 50 KiB; the store's 32 KiB shared-memory file fits): the old
# report stays as it was, and no temporary file is left
"$UHNAS" report "$tmp/whole" > /dev/null && cp "$tmp/whole/report.html" "$tmp/old.html"
out=$( (ulimit -f 34; exec "$UHNAS" report "$tmp/whole") 2>&1)
rc=$?
[[ $rc -eq 1 && "$out" == *"$tmp/whole/report.html: write failed: File too large"* ]] && ok \
  || bad "report under ulimit -f: exit $rc: $out"
cmp -s "$tmp/old.html" "$tmp/whole/report.html" && ok || bad "the old report changed"
[[ -z $(find "$tmp/whole" -name '*.tmp*' -o -name '.*report*') ]] && ok \
  || bad "temporary files left: $(ls -a "$tmp/whole")"
finish
