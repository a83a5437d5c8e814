#!/usr/bin/env bash
# Runs one fuzz target for a while: hack/fuzz-target.sh PKG-DIR FUZZ-NAME FUZZTIME
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# when -fuzztime ends while a starved worker is mid-call (golang/go#75804,
# fixed in Go 1.27): no input failed and no crasher is written. That one
# outcome, and only it, is run again once; anything else fails at once, and
# so does a second such outcome.
set -uo pipefail
dir=$1 fn=$2 fuzztime=$3
crashers=$dir/testdata/fuzz/$fn
count() { find "$crashers" -type f 2>/dev/null | wc -l; }
for try in 1 2; do
	before=$(count)
	echo "go test -run '^\$' -fuzz '^$fn\$' -fuzztime $fuzztime ./$dir"
	out=$(go test -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" "./$dir" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	[ "$rc" = 0 ] && exit 0
	if [ "$(count)" != "$before" ] || ! printf '%s\n' "$out" | grep -qx '    context deadline exceeded'; then
		exit "$rc"
	fi
	echo "fuzz: $fn stopped with Go's fuzztime race (golang/go#75804), no input failed; try $try of 2"
done
exit 1
