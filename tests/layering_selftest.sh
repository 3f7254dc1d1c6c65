#!/usr/bin/env bash
# Proves layering_test.sh catches an upward include: builds a tiny tree where
# kernels/ includes worker/ and expects the check to fail naming that file.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/kernels" "$tree/worker"
printf '#include "common/status.h"\n' > "$tree/kernels/good.h"
printf '#include "worker/trainer.h"\n' > "$tree/kernels/bad.cc"
output=$("$here/layering_test.sh" "$tree" 2>&1)
status=$?
if [ $status -ne 1 ] || ! grep -q 'kernels/bad.cc includes "worker/trainer.h"' <<<"$output"; then
  echo "layering self-test: expected a failure naming kernels/bad.cc, got status $status:"
  echo "$output"
  exit 1
fi
rm "$tree/kernels/bad.cc"
if ! "$here/layering_test.sh" "$tree" >/dev/null; then
  echo "layering self-test: a clean tree was reported as violating"
  exit 1
fi
echo "layering self-test: upward include detected, clean tree accepted"
