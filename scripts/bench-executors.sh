#!/bin/sh
# The executors' benchmark: one HAR search (random strategy, so every batch size proposes the
# same children) run by local:1 (one process, libtorch on every core), local:2 (two worker
# processes, a core each) and, where a Slurm cluster answers, slurm. Prints wall times, the
# speedup over local:1, Slurm's overhead per trial, and whether the journals agree.
#
# Usage: scripts/bench-executors.sh [TRIALS] [EPOCHS] [MAX_TRAIN_SAMPLES]
# Needs a release build (cargo build --release -p inas) and HAR in the dataset cache
# (inas data fetch har). Set SLURM_CONF for a test cluster (scripts/slurm-test-cluster.sh).
set -eu

trials=${1:-8}
epochs=${2:-5}
samples=${3:-4000}
root=$(cd "$(dirname "$0")/.." && pwd)
inas="$root/target/release/inas"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { python3 -c 'import time; print(time.monotonic())'; }

run() { # name, then flags
    name=$1
    shift
    t0=$(now)
    "$inas" search --out "$work/$name" --dataset har --strategy random --trials "$trials" \
        --epochs "$epochs" --max-train-samples "$samples" --device cpu --batch "$trials" \
        "$@" >"$work/$name.out" 2>&1 || { cat "$work/$name.out"; exit 1; }
    t1=$(now)
    python3 -c "print(f'{$t1 - $t0:.2f}')"
}

same() { # do two journals agree, wall times and retry reasons aside?
    python3 - "$work/$1/journal.jsonl" "$work/$2/journal.jsonl" <<'EOF'
import json, sys
def load(p):
    out = []
    for line in open(p):
        r = json.loads(line)
        r.pop("timings", None)
        r.pop("retries", None)
        out.append(r)
    return out
print("same journal" if load(sys.argv[1]) == load(sys.argv[2]) else "JOURNALS DIFFER")
EOF
}

trained=0
echo "HAR, random strategy, $trials trials of $epochs epochs on $samples samples, batch $trials"
t1=$(run local1)
trained=$(python3 -c "import json; print(sum(1 for l in open('$work/local1/journal.jsonl') if json.loads(l)['status'] == 'trained'))")
echo "local:1  ${t1} s  ($trained trials trained)"
t2=$(run local2 --executor local:2)
echo "local:2  ${t2} s  speedup $(python3 -c "print(f'{$t1 / $t2:.2f}')")x  $(same local1 local2)"
if sinfo -h >/dev/null 2>&1; then
    ts=$(run slurm --executor slurm --slurm-poll 0.5)
    per=$(python3 -c "print(f'{($ts - $t1) / max($trained, 1):.2f}')")
    per2=$(python3 -c "print(f'{($ts - $t2) / max($trained, 1):.2f}')")
    echo "slurm    ${ts} s  overhead per trained trial: $per s against local:1, $per2 s against local:2  $(same local1 slurm)"
else
    echo "slurm    not run: no Slurm cluster answers (set SLURM_CONF)"
fi
