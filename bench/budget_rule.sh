#!/usr/bin/env bash
# The default training budget against long runs on small data: seeded, stratified subsamples of
# ECG5000 (25, 50, 100 training series; tested on the full official test split) and BreastMNIST
# (100, 250 training images; its own validation and test splits), three seeds each, and ECG5000
# itself with the default command. Prints one line per run: set, size, seed, recipe, epochs run,
# selected epoch, test accuracy, test AUROC, seconds. Accuracy figures do not depend on the
# machine's load, so other work may run beside it; the seconds do.
#   bench/budget_rule.sh [PHASES]   PHASES: any of ecg-default ecg-full bm-default ecg-long bm-long ecg-fixed bm-fixed
#   (default: all; the -fixed phases are the fixed epoch counts of before: 100 for signals, 20 for images)
# Environment: SCALPEL (the binary; default .build/release/scalpel), DATA (ECG5000_*.tsv and
# breastmnist.npz; default Data), OUT (run folders; default /tmp/scalpel-budget), SEEDS (default "0 1 2").
set -euo pipefail
cd "$(dirname "$0")/.."
SCALPEL=${SCALPEL:-.build/release/scalpel}
DATA=${DATA:-Data}
OUT=${OUT:-/tmp/scalpel-budget}
SEEDS=${SEEDS:-0 1 2}
PHASES=${*:-ecg-default ecg-full bm-default ecg-long bm-long ecg-fixed bm-fixed}
mkdir -p "$OUT"
export SCALPEL_AUDIT_LOG="$OUT/audit.log"

run() {  # set size seed recipe -- scalpel train options...
    local set=$1 size=$2 seed=$3 recipe=$4; shift 5
    local folder="$OUT/$set-$size-$seed-$recipe"
    local start=$SECONDS
    "$SCALPEL" train "$@" --seed "$seed" --device cpu --out "$folder" --overwrite > "$folder.log" 2>&1 || { echo "FAILED $folder (see $folder.log)"; return; }
    python3 - "$folder/metrics.json" "$set" "$size" "$seed" "$recipe" "$((SECONDS - start))" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
test = m["test"]
auroc = test.get("auroc")
print("\t".join([sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], str(len(m["history"])), str(m["selectedEpoch"]),
                 f"{test['accuracy']:.4f}", f"{auroc:.4f}" if auroc is not None else "-", sys.argv[6]]), flush=True)
PY
}

subset() {  # kind source size seed out
    [ -f "$5" ] || python3 bench/subsample.py "$1" "$2" "$3" "$4" "$5"
}

for phase in $PHASES; do
    for seed in $SEEDS; do
        case $phase in
        ecg-default|ecg-long|ecg-fixed)
            for size in 25 50 100; do
                subset ucr "$DATA/ECG5000_TRAIN.tsv" "$size" "$seed" "$OUT/ecg-$size-$seed.tsv"
                if [ "$phase" = ecg-default ]; then
                    run ecg "$size" "$seed" default -- --data "$OUT/ecg-$size-$seed.tsv" --test "$DATA/ECG5000_TEST.tsv" --model fcn
                elif [ "$phase" = ecg-fixed ]; then
                    run ecg "$size" "$seed" epochs-100 -- --data "$OUT/ecg-$size-$seed.tsv" --test "$DATA/ECG5000_TEST.tsv" --model fcn --epochs 100
                else
                    run ecg "$size" "$seed" long-6000 -- --data "$OUT/ecg-$size-$seed.tsv" --test "$DATA/ECG5000_TEST.tsv" --model fcn --steps 6000
                fi
            done ;;
        ecg-full)
            run ecg 500 "$seed" default -- --data "$DATA/ECG5000_TRAIN.tsv" --test "$DATA/ECG5000_TEST.tsv" --model fcn ;;
        bm-default|bm-long|bm-fixed)
            for size in 100 250; do
                subset npz "$DATA/breastmnist.npz" "$size" "$seed" "$OUT/bm-$size-$seed.npz"
                if [ "$phase" = bm-default ]; then
                    run bm "$size" "$seed" default -- --data "$OUT/bm-$size-$seed.npz"
                elif [ "$phase" = bm-fixed ]; then
                    run bm "$size" "$seed" epochs-20 -- --data "$OUT/bm-$size-$seed.npz" --epochs 20
                else
                    run bm "$size" "$seed" long-1440 -- --data "$OUT/bm-$size-$seed.npz" --steps 1440
                fi
            done ;;
        *) echo "unknown phase $phase" >&2; exit 2 ;;
        esac
    done
done
