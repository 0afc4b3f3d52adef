#!/usr/bin/env bash
# report, compare and export on run directories the user cannot write (with --out elsewhere):
# they work and change nothing there. Run as an unprivileged user (nobody, through setpriv)
# when the tests run as root, since root writes through any permission.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ARGS=(--backend mzi-realistic --data tiny --population 4 --children 2 --generations 1 --epochs 2
      --batch 32 --mc 2 --quiet)
for seed in 4 5; do
  "$UHNAS" search "${ARGS[@]}" --seed "$seed" --out "$tmp/run$seed" > /dev/null 2>&1 && ok \
    || bad "run with seed $seed"
done
# a candidate with stored weights, looked up before the directory is frozen
id=$(sql "$tmp/run4" "select c.id from candidates c join weights w on w.hash = c.hash limit 1")
as_user=()
if [[ $(id -u) -eq 0 ]]; then
  command -v setpriv > /dev/null || skip "root without setpriv (util-linux): cannot drop privileges"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  # nobody reaches the binary, the runs and the output directory, and nothing else of ours
  chmod 755 "$tmp"
  [[ $("${as_user[@]}" "$UHNAS" --version 2> /dev/null) ]] || skip "nobody cannot run $UHNAS here"
fi
chmod -R a+rX,a-w "$tmp/run4" "$tmp/run5" # readable by all (a store is created 0600)
mkdir "$tmp/out" && chmod 777 "$tmp/out"
sums() { (cd "$1" && find . -type f -exec md5sum {} + | sort); ls -la "$1"; }
before=$(sums "$tmp/run4")
"${as_user[@]}" "$UHNAS" report "$tmp/run4" --out "$tmp/out/report.html" > "$tmp/out/r.log" 2>&1 \
  && ok || bad "report on a read-only run: $(cat "$tmp/out/r.log")"
grep -q "<svg" "$tmp/out/report.html" && ok || bad "no report written"
"${as_user[@]}" "$UHNAS" compare "$tmp/run4" "$tmp/run5" --out "$tmp/out/compare.html" \
  > "$tmp/out/c.log" 2>&1 && ok || bad "compare of read-only runs: $(cat "$tmp/out/c.log")"
"${as_user[@]}" "$UHNAS" export --run "$tmp/run4" --candidate "$id" --format pytorch \
  --out "$tmp/out/net.py" > "$tmp/out/e.log" 2>&1 && ok || bad "export from a read-only run: $(cat "$tmp/out/e.log")"
[[ -s "$tmp/out/net.py" && -s "$tmp/out/net.py.uhw" ]] && ok || bad "export wrote nothing"
after=$(sums "$tmp/run4")
[[ "$after" == "$before" ]] && ok || bad "the read-only run changed: $(diff <(echo "$before") <(echo "$after"))"
# a report without --out on a read-only run says where it could not write
out=$("${as_user[@]}" "$UHNAS" report "$tmp/run4" 2>&1)
[[ $? -ne 0 && "$out" == *"report.html"* ]] && ok || bad "report into a read-only run: $out"
chmod -R u+w "$tmp/run4" "$tmp/run5"
finish
