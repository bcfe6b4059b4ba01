#!/usr/bin/env bash
# buf breaking against the previous commit: a change to proto/ must not break callers.
# The first commit that adds the contract has nothing to compare with.
set -euo pipefail
buf=${1:-buf}
if git rev-parse --quiet --verify 'HEAD~1:proto' >/dev/null 2>&1 \
   && git rev-parse --quiet --verify 'HEAD~1:buf.yaml' >/dev/null 2>&1; then
  "$buf" breaking --against '.git#ref=HEAD~1'
  echo "buf breaking: no breaking change against HEAD~1"
else
  echo "buf breaking: HEAD~1 has no contract to compare with; skipped"
fi
