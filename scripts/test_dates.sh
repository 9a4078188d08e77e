#!/usr/bin/env bash
# Run the date-sensitive tests (pytest marker `dates`) as if today were each of several days (tests/clock.py:
# time-machine for the test process, libfaketime for the processes it starts).
#   scripts/test_dates.sh                         the default days below
#   scripts/test_dates.sh 2027-03-01 2028-02-29   these days; DAY@ZONE also sets TZ, DAYTHH:MM a UTC time of day
#   DATE_TESTS= scripts/test_dates.sh 2027-03-01  the whole suite on that day (DATE_TESTS: pytest arguments)
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
[ "${SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh
summary=()
failed=0
for day in "${days[@]}"; do
  moment="${day%@*}"
  zone=UTC
  [ "$moment" = "$day" ] || zone="${day#*@}"
  started=$SECONDS
  if [ "$moment" = today ]; then
    env -u COHORTS_TODAY TZ="$zone" .venv/bin/pytest -q -p no:cacheprovider "${tests[@]}" && result=passed || result=FAILED
  else
    COHORTS_TODAY="$moment" TZ="$zone" .venv/bin/pytest -q -p no:cacheprovider "${tests[@]}" && result=passed || result=FAILED
  fi
  [ "$result" = passed ] || failed=1
  summary+=("$(printf '%-18s %-17s %-7s %4ss' "$moment" "$zone" "$result" $((SECONDS - started)))")
done
echo
echo "day                TZ                result  time"
printf '%s\n' "${summary[@]}"
exit $failed
