#!/usr/bin/env bash
# One GPU session in one command: long generator trainings (the CPU preset, far more steps than the 2-core CPU
# affords), the oracle-δ diagnostic on each, and the sampling benchmark on the GPU. Writes logs, the exported
# generators and their last sample grids under $OUT.
#
#   OUT=gpu_out bash benchmarks/gpu_session.sh            # on a CUDA machine with the project installed
#
# Settings (environment): DEVICE (cuda), CONDS ("adanorm xattn": one training per δ conditioning, run side by side),
# STEPS (8000), BATCH (32), CLIPS (6144 cached training clips), TRAIN_S (training wall budget in seconds from the
# start of this script: runs still going then are stopped and their last export is used), PRECISION (bf16),
# DIAG_N (96 held-out triples for the diagnostic), PRESET (cpu), EXTRA (more `train generator` options for every run,
# e.g. EXTRA="--set patch_size=2 --set input_gate=true").
#
# History (docs/benchmarks.md, GPU section): its first run on an H200 (2026-11-26) ran out of its slot — before the
# δ cache the runs went at 1.5 s/step — and its stop signal (then SIGINT, which background jobs ignore) did not stop
# them; both are fixed, but the script has not been rerun end to end on a GPU since.
set -uo pipefail
T0=$(date +%s)
OUT=${OUT:-gpu_out}; DEVICE=${DEVICE:-cuda}; CONDS=${CONDS:-"adanorm xattn"}; STEPS=${STEPS:-8000}; BATCH=${BATCH:-32}
CLIPS=${CLIPS:-6144}; TRAIN_S=${TRAIN_S:-400}; PRECISION=${PRECISION:-bf16}; DIAG_N=${DIAG_N:-96}; PRESET=${PRESET:-cpu}
EVERY=${EVERY:-500}; WORK=${WORK:-/tmp/deltadiff-gpu}; EXTRA=${EXTRA:-}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
mkdir -p "$OUT" "$WORK"
el() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
common=(--action-encoder models/cpu-default/action_encoder --autoencoder pixel:4 --preset "$PRESET" --context-residual
        --variant delta --device "$DEVICE" --precision "$PRECISION" --batch-size "$BATCH" --cache-clips "$CLIPS"
        --cache-dir "$WORK/cache" --checkpoint-every "$EVERY")
el "filling the cache ($CLIPS clips)"
python3 -m deltadiff train generator --out "$WORK/fill" "${common[@]}" --steps 1 --checkpoint-every 1 > "$WORK/fill.log" 2>&1 \
  || { tail -30 "$WORK/fill.log"; exit 1; }
el "cache filled"

pids=(); n=$(echo $CONDS | wc -w)
for c in $CONDS; do  # CPU threads split between the runs: oversubscribed OpenMP threads stall every small CPU op
  OMP_NUM_THREADS=$(( $(nproc) / n > 0 ? $(nproc) / n : 1 )) python3 -m deltadiff train generator --out "$WORK/run-$c" "${common[@]}" --cond "$c" --steps "$STEPS" $EXTRA > "$WORK/run-$c.log" 2>&1 &
  pids+=($!)
done
while [ $(( $(date +%s) - T0 )) -lt "$TRAIN_S" ]; do
  running=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=1; done
  [ "$running" = 1 ] || break
  sleep 5
done
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done  # background jobs ignore SIGINT; exports are atomic
wait
el "training stopped"

for c in $CONDS; do
  echo "== $c"; grep -E "^generator: [0-9]+/" "$WORK/run-$c.log" | tail -3
  mkdir -p "$OUT/$c"
  if python3 -c "from deltadiff.generator import SpaceTimeDiT; SpaceTimeDiT.from_pretrained('$WORK/run-$c/generator')"; then
    cp "$WORK/run-$c/generator/"* "$OUT/$c/"
    last=$(ls "$WORK/run-$c/samples/"*.png 2>/dev/null | tail -1); [ -n "$last" ] && cp "$last" "$OUT/$c/"
    el "diagnostic $c"
    python3 benchmarks/diag_oracle_delta.py --generator "$WORK/run-$c/generator" --n "$DIAG_N" --device "$DEVICE"
  else
    tail -20 "$WORK/run-$c.log"
  fi
done
el "sampling benchmark"
python3 benchmarks/bench_create.py --device "$DEVICE" --repeats 10
cat "$WORK"/*.log > "$OUT/logs.txt"
el "done"
