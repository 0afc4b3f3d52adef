#!/usr/bin/env bash
# A disk that fills (ENOSPC), for real: a small tmpfs this test mounts (root only; skipped
# with a message elsewhere), under a search with the built-in model, which writes the store,
# the model's checkpoints and the CSV tables. Wherever the space runs out, the search stops
# with one line naming the file and the reason, and, once there is room, `resume` ends with
# the rows of an uninterrupted run. (test_disk_full_cli.sh does the same with EFBIG under
# ulimit -f, on any machine; the model's calls.jsonl, written after a checkpoint that frees
# its predecessor, is tested on /dev/full in test_operators.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $(id -u) -eq 0 ]] || skip "mounting a small tmpfs needs root"
mnt="$tmp/mnt"
mkdir -p "$mnt"
mount -t tmpfs -o size=1m tmpfs "$mnt" 2> /dev/null || skip "cannot mount a tmpfs here"
umount "$mnt"
trap 'umount "$mnt" 2> /dev/null; cleanup' EXIT
export UHNAS_PROMPTS="$SRC/configs/prompts"
ARGS=(--backend mzi-realistic --data tiny --epochs 1 --batch 32 --mc 2 --seed 5 --quiet
      --population 4 --children 3 --generations 3 --strategy llm --jobs 1
      --llm-layers 2 --llm-width 64 --llm-train-steps 30)
"$UHNAS" search "${ARGS[@]}" --out "$tmp/whole" > /dev/null 2>&1 && ok || bad "uninterrupted run"

# out_of_space OUT RC WHAT: RC 1 and one line naming a file under $mnt/run and no space left;
# sets hit to the file's name
out_of_space() {
  local out=$1 rc=$2 what=$3
  if [[ $rc -eq 1 && $(wc -l <<< "$out") -eq 1 && "$out" == *"$mnt/run/"* &&
        ( "$out" == *"No space left on device"* || "$out" == *"database or disk is full"* ) ]]; then
    ok
  else
    bad "$what: exit $rc: $out"
  fi
  hit=$(sed -n "s|.*$mnt/run/\([^:]*\):.*|\1|p" <<< "$out")
}

# a search: the store fills, or the first checkpoint (KiB of the whole disk)
named=()
for kib in 600 2000; do
  mount -t tmpfs -o size=${kib}k tmpfs "$mnt"
  out=$("$UHNAS" search "${ARGS[@]}" --out "$mnt/run" 2>&1)
  out_of_space "$out" $? "search on $kib KiB"
  named+=("$hit")
  mount -o remount,size=64m "$mnt"
  "$UHNAS" resume "$mnt/run" --quiet > /dev/null 2> "$tmp/resume.err" && ok \
    || bad "resume after $kib KiB: $(cat "$tmp/resume.err")"
  same_rows "$tmp/whole" "$mnt/run" "run resumed after its disk of $kib KiB filled"
  umount "$mnt"
done
[[ "${named[*]}" == *run.sqlite* && "${named[*]}" == *lm/model-* ]] && ok \
  || bad "the full disks hit: ${named[*]} (want the store and a checkpoint)"

# the tables: a finished run copied onto a disk with a little room, less each time, until
# a table cannot be written (the store needs a few pages first)
mount -t tmpfs -o size=8m tmpfs "$mnt"
cp -r "$tmp/whole" "$mnt/run"
rm "$mnt/run"/*.csv
table_hit=""
for room in $(seq 160 -4 0); do
  rm -f "$mnt/filler"
  free_kib=$(df -k --output=avail "$mnt" | tail -1)
  fallocate -l $(((free_kib - room) * 1024)) "$mnt/filler"
  out=$("$UHNAS" resume "$mnt/run" --quiet 2>&1)
  rc=$?
  [[ $rc -eq 0 ]] && continue
  out_of_space "$out" $rc "resume with $room KiB of room"
  if [[ "$hit" == *.csv ]]; then table_hit=$hit; break; fi
done
[[ -n "$table_hit" ]] && ok || bad "no room left made a table fail"
rm -f "$mnt/filler"
"$UHNAS" resume "$mnt/run" --quiet > /dev/null 2> "$tmp/resume.err" && ok \
  || bad "resume with room again: $(cat "$tmp/resume.err")"
for t in front.csv candidates.csv; do
  cmp -s "$tmp/whole/$t" "$mnt/run/$t" && ok || bad "$t differs after a full disk"
done
ls "$mnt/run"/*.tmp.* > /dev/null 2>&1 && bad "temporary files left: $(ls "$mnt/run")" || ok
finish
