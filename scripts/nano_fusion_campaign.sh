#!/usr/bin/env bash
# The LLM-branch fine-tunes of Mimir-nano and its ablation on the GPU machine, resumable across 10-minute device calls.
# Run through `scripts/nano_device.sh campaign PART [FUSION_TYPES...]` (which installs the carried wheels and stages
# the text models). Every fusion type is fine-tuned from the shipped CogVideoX-nano with the same pool, seed, budget
# and settings; `t5_only` is the CogVideoX-nano control (the same fine-tune without the LLM branch).
# INIT: the CogVideoX-nano base the fine-tunes start from (default runs/cogvideox/transformer, the base stage's output
# as mimir/assets/nano/README.md's recipe names it; the shipped mimir/assets/nano/cogvideox/transformer is now the fine-tuned
# control, so a re-run passes the base weights of the git history, e.g. INIT=.stage/base/transformer).
#   train TYPES...   train the given fusion types side by side until MIMIR_CALL_END (resumes); the k-th type runs on
#                    GPU k mod (number of GPUs), so several GPUs of one host share the work
#   bench TYPES...   NanoBench on every spec of the 18 suites at 2 seeds (+ Mimir with its LLM branch off), one
#                    report at a time; reports and a tar of the training logs go to $OUT
#   export TYPES...  fp16 weights + logs of the given runs as tars in $OUT
set -euo pipefail
R=/tmp/mimir_device/campaign
mkdir -p "$R"
END=${MIMIR_CALL_END:?set MIMIR_CALL_END to the epoch second the device call must end by}
SLACK=${SLACK:-45}
STEPS=${STEPS:-5000}
LAYERS=${LAYERS:-4,8,12,16,20,24,-1}
INIT=${INIT:-runs/cogvideox/transformer}
NGPU=$(nvidia-smi -L | wc -l)
minutes_left() { python3 -c "print(round(max(0.0, ($END - $SLACK - $(date +%s)) / 60), 2))"; }

train() {  # train TYPE GPU
  local dropout=0.3
  [ "$1" = t5_only ] && dropout=0.0
  CUDA_VISIBLE_DEVICES=$2 python3 -m mimir train dit --output-dir $R/ft_$1 --vae mimir/assets/nano/vae --fusion-type "$1" --mixed-precision bf16 \
    --init-transformer "$INIT" --seed 1 --pool-size 40000 --max-train-steps "$STEPS" \
    --train-batch-size 256 --learning-rate 1e-4 --fuser-learning-rate 1e-3 --lr-warmup-steps 200 \
    --llm-hidden-layers "$LAYERS" --encoder-dropout $dropout --log-every 50 --checkpoint-every 1000 \
    --cache-dir $R/cache --time-limit-minutes "$(minutes_left)" > $R/ft_$1.log 2>&1
}

part=${1:?part: train, bench or export}; shift
case $part in
  train)
    # The features of the pool are built once (LLM pass), by the first run; the others then read the cache.
    first=$1; shift
    train "$first" 0 &
    sleep 1
    while [ ! -f $R/ft_$first/losses.csv ] && kill -0 $! 2>/dev/null; do sleep 5; done
    k=1
    for t in "$@"; do train "$t" $((k % NGPU)) & k=$((k + 1)); done
    wait
    for t in "$first" "$@"; do tail -n 2 $R/ft_$t.log; done
    tar cf "$OUT/losses.tar" -C $R $(for t in "$first" "$@"; do echo ft_$t/losses.csv; done) ;;
  bench)
    # One report at a time on all cores, scoring workers single-threaded: two reports side by side with multi-threaded
    # BLAS in every worker took 300 s each on the two-GPU kind, one at a time 62 s (benchmarks/RESULTS.md).
    suites=$(printf -- '--suite %s ' prompts/bench/train/*.jsonl prompts/bench/heldout/*.jsonl)
    bench() {  # bench TYPE [extra args]
      local t=$1; shift
      OMP_NUM_THREADS=1 python3 -m mimir bench $suites --model mimir --weights $R/ft_$t --videos-per-prompt 2 \
        --batch-size 512 --workers $(( $(nproc) - 2 )) "$@"
    }
    for t in "$@"; do
      extra=(); [ "$t" = t5_only ] && extra=(--fusion-type t5_only)  # t5_only has no LLM branch to load
      bench "$t" "${extra[@]}" --out "$OUT/ft_$t.json.gz"
      [ "$t" = mimir ] && bench mimir --llm-branch off --out "$OUT/ft_mimir_llm_off.json.gz"
    done
    # the device returns at most 8 files: the logs of every run travel as one tar
    L=$(mktemp -d)
    for t in "$@"; do
      for f in losses.csv args.json environment.json; do cp $R/ft_$t/$f "$L/${f%.*}_$t.${f##*.}"; done
    done
    tar cf "$OUT/train_logs.tar" -C "$L" . ;;
  export)
    for t in "$@"; do python3 -m mimir train export --run $R/ft_$t --out "$OUT/ft_$t.tar" --fp16; done ;;
  *) echo "unknown part $part"; exit 2 ;;
esac
