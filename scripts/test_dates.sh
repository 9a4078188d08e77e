#!/usr/bin/env bash
# Run the date-sensitive tests (pytest marker `dates`) as if today were each of several days (tests/clock.py:
# time-machine for the test process, libfaketime for the processes it starts).
#   scripts/test_dates.sh                         the default days below
#   scripts/test_dates.sh 2027-03-01 2028-02-29   these days; DAY@ZONE also sets TZ, DAYTHH:MM a UTC time of day
#   DATE_TESTS= scripts/test_dates.sh 2027-03-01  the whole suite on that day (DATE_TESTS: pytest arguments)
#   DATE_JOBS=1                                   days run one at a time (default: 3 at once, each its own pytest
#                                                 with its own sandbox ports and temporary directories)
#   SKIP_SETUP=1                                  do not run scripts/setup.sh first
# The default days: the real today; month, year and leap-day edges; a 30-day month's end; the European and US
# DST changes of 2027, late in the UTC day in a zone where the local date is another one (a tap reading local
# time instead of UTC would cut its windows on the wrong day).
set -euo pipefail
cd "$(dirname "$0")/.."
DEFAULT_DAYS=(today 2026-12-31 2027-01-01 2027-02-28 2027-03-01 2027-04-30 2028-02-29
  "2027-03-28T23:30@Europe/Berlin" "2027-11-07T02:30@America/New_York")
days=("$@")
[ ${#days[@]} -gt 0 ] || days=("${DEFAULT_DAYS[@]}")
read -r -a tests <<<"${DATE_TESTS--m dates}"
jobs=${DATE_JOBS:-3}
[ "${SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_day() {  # $1 index, $2 DAY[@ZONE]: one pytest as if today were that day; output and result to $logs/$1.*
  local moment="${2%@*}" zone=UTC started=$SECONDS
  [ "$moment" = "$2" ] || zone="${2#*@}"
  local clock=(env COHORTS_TODAY="$moment")
  [ "$moment" != today ] || clock=(env -u COHORTS_TODAY)
  if "${clock[@]}" TZ="$zone" .venv/bin/pytest -q -p no:cacheprovider "${tests[@]}" >"$logs/$1.out" 2>&1; then
    result=passed
  else
    result=FAILED
  fi
  printf '%-18s %-17s %-7s %4ss\n' "$moment" "$zone" "$result" $((SECONDS - started)) >"$logs/$1.summary"
}

for i in "${!days[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_day "$i" "${days[$i]}" &
done
wait
failed=0
for i in "${!days[@]}"; do
  echo "=== ${days[$i]}"
  if grep -q FAILED "$logs/$i.summary"; then failed=1; cat "$logs/$i.out"; else tail -n 1 "$logs/$i.out"; fi
done
echo
echo "day                TZ                result  time"
cat "$logs"/*.summary
exit $failed
