#!/usr/bin/env bash
# The action-latents measurement at GPU scale in one command: pretrain a larger foundation model for a fixed wall
# budget (`--max-minutes`: as many steps as the machine makes), train P on it, and run the issue's probe (`delta` and
# `none`) — the measurement every CPU session since the twenty-fifth has named as the next one (docs/results.md:
# no recipe inside the CPU budget came within 6 points of the action line; three times the budget gave the only δ
# reading over 85 %, with mean and spread pooled). Writes $OUT/probe.json,
# $OUT/probe.md and $OUT/logs.txt; prints the probe's table.
#
#   OUT=gpu_out bash benchmarks/gpu_foundation.sh         # on a CUDA machine with the project's packages
#
# Settings (environment), defaults meant to end inside a 10-minute call on one H100/H200: the foundation's budget plus
# what P, its feature cache and the probe take there (estimated at ~2 minutes; the script has not run on a GPU yet):
#   DEVICE (cuda), MINUTES (6: the foundation's training budget), STEPS (100000: the schedule's length if the budget
#   does not end it first), WIDTH (256), HEADS (8), SPATIAL (8), TEMPORAL (4), BATCH (32), LR (0.003),
#   PRECISION (no: bf16 pretraining measured worse on the CPU, docs/results.md), WORKERS (6 data processes),
#   P_STEPS (400), CACHE (1024 clips for P), N_CLIPS (1000 probe clips), N_PAIRS (200), PRESET (tiny),
#   EXTRA (more `train foundation` options, e.g. EXTRA="--flow-weight 3"), WORK (/tmp/deltadiff-gpu-foundation).
# On the CPU, to check the script end to end (under a minute):
#   OUT=/tmp/gf DEVICE=cpu PRESET=micro WIDTH=32 HEADS=2 SPATIAL=1 TEMPORAL=1 BATCH=2 MINUTES=0.1 WORKERS=0 \
#     P_STEPS=5 CACHE=32 N_CLIPS=40 N_PAIRS=8 bash benchmarks/gpu_foundation.sh
set -uo pipefail
T0=$(date +%s)
OUT=${OUT:-gpu_out}; DEVICE=${DEVICE:-cuda}; MINUTES=${MINUTES:-6}; STEPS=${STEPS:-100000}; WIDTH=${WIDTH:-256}
HEADS=${HEADS:-8}; SPATIAL=${SPATIAL:-8}; TEMPORAL=${TEMPORAL:-4}; BATCH=${BATCH:-32}; LR=${LR:-0.003}
PRECISION=${PRECISION:-no}; WORKERS=${WORKERS:-6}; P_STEPS=${P_STEPS:-400}; CACHE=${CACHE:-1024}
N_CLIPS=${N_CLIPS:-1000}; N_PAIRS=${N_PAIRS:-200}; PRESET=${PRESET:-tiny}; EXTRA=${EXTRA:-}
WORK=${WORK:-/tmp/deltadiff-gpu-foundation}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
mkdir -p "$OUT" "$WORK"
el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
fail() { echo "failed: $1 (log: $WORK/$1.log)"; tail -30 "$WORK/$1.log"; cat "$WORK"/*.log > "$OUT/logs.txt"; exit 1; }

python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
el "foundation: width $WIDTH, $HEADS heads, $SPATIAL + $TEMPORAL layers, batch $BATCH, $MINUTES min"
# shellcheck disable=SC2086  # EXTRA holds several options
python3 -m deltadiff train foundation --out "$WORK/F" --preset "$PRESET" --width "$WIDTH" --heads "$HEADS" \
  --spatial-layers "$SPATIAL" --temporal-layers "$TEMPORAL" --batch-size "$BATCH" --lr "$LR" --steps "$STEPS" \
  --max-minutes "$MINUTES" --device "$DEVICE" --precision "$PRECISION" --workers "$WORKERS" --checkpoint-every 1000 \
  $EXTRA > "$WORK/foundation.log" 2>&1 || fail foundation
grep -E "budget ended|^foundation: [0-9]+/" "$WORK/foundation.log" | tail -2
el "bottleneck P ($P_STEPS steps on $CACHE cached clips)"
python3 -m deltadiff train bottleneck --foundation "$WORK/F/foundation" --out "$WORK/A" --steps "$P_STEPS" \
  --cache-clips "$CACHE" --device "$DEVICE" > "$WORK/bottleneck.log" 2>&1 || fail bottleneck
grep -E "^bottleneck: [0-9]+/" "$WORK/bottleneck.log" | tail -1
el "probe ($N_CLIPS clips, $N_PAIRS pairs)"
python3 -m deltadiff probe --action-encoder "$WORK/A" --out "$OUT/probe.json" --variants delta,none --no-random-init \
  --n-clips "$N_CLIPS" --n-pairs "$N_PAIRS" --device "$DEVICE" > "$WORK/probe.log" 2>&1 || fail probe
cat "$OUT/probe.md" 2>/dev/null || tail -15 "$WORK/probe.log"
cat "$WORK"/*.log > "$OUT/logs.txt"
el "done"
