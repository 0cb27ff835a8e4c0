#!/usr/bin/env bash
# Speed before and after a change, side by side in one run: the generation, training-step and attribution
# benchmarks of revision REV (checked out in a temporary worktree) and of the working tree, alternated
# ROUNDS times so that both see the same machine. Each tree runs its own benchmark scripts on its own code.
#
#     benchmarks/compare.sh REV [ROUNDS]        e.g. benchmarks/compare.sh 606724b 2
set -euo pipefail
rev=${1:?usage: benchmarks/compare.sh REV [ROUNDS]}
rounds=${2:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
python=$here/.venv/bin/python
before=$(mktemp -d "$(dirname "$here")/poet-before.XXXXXX")  # beside the checkout: benchmarks read ../shared
trap 'git -C "$here" worktree remove --force "$before"' EXIT
git -C "$here" worktree add --detach --quiet "$before" "$rev"
run() {  # tree label: the three benchmarks, the lines that carry their figures
    local tree=$1 label=$2
    echo "### $label ($(git -C "$tree" rev-parse --short HEAD)), load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd "$tree" && PYTHONPATH=$tree/src "$python" benchmarks/bench_generate.py --repeat 3) | grep -E "^(torch-poet|baseline|model.step)" || true
    (cd "$tree" && OMP_WAIT_POLICY=PASSIVE PYTHONPATH=$tree/src "$python" benchmarks/bench_train.py --only throughput --steps 10) | grep -E "torch-poet|original" || true
    (cd "$tree" && PYTHONPATH=$tree/src "$python" benchmarks/bench_attribution.py --only speed --repeat 3) | grep -E "^\\| " || true
}
for i in $(seq "$rounds"); do
    run "$before" "before, round $i"
    run "$here" "after, round $i"
done
