#!/usr/bin/env bash
# Re-runs the model card's training commands (mimir/assets/nano/README.md, "Reproduce") from scratch on the GPU machine,
# to check that the shipped losses reproduce. Run through `scripts/nano_device.sh repro PART`, which installs the
# carried wheels, stages the text models and exports their paths. A device call lasts at most 10 minutes, so the
# recipe is cut into three parts that resume each other while the machine stays warm:
#   start     VAE, CogVideoX-nano phase 1 (2,227 steps at batch 128), then phase 2 until the call ends
#   continue  CogVideoX-nano phase 2 until the call ends
#   finish    phase 2 to step 15,459 beside the SmolLM2 feature pass of the pool, then Mimir-nano; export to $OUT
# MIMIR_CALL_END (epoch seconds) is when the device call must be over; every resumable command gets a
# --time-limit-minutes that ends it in time. Only when and where a run stops changes, never the recipe.
set -euo pipefail
R=/tmp/mimir_device/repro
mkdir -p "$R"
END=${MIMIR_CALL_END:?set MIMIR_CALL_END to the epoch second the device call must end by}
SLACK=50  # seconds for loading models and data and for writing the last checkpoint

minutes_left() { python3 -c "print(round(max(0.0, ($END - $SLACK - $(date +%s)) / 60), 2))"; }

vae() {
  python3 -m mimir train vae --output-dir $R/vae --mixed-precision bf16 --max-train-steps 2061 \
    --train-batch-size 32 --learning-rate 3e-4
}
cogvideox() {  # cogvideox STEPS BATCH
  python3 -m mimir train dit --output-dir $R/cogvideox --vae $R/vae/vae --fusion-type t5_only --mixed-precision bf16 \
    --max-train-steps "$1" --train-batch-size "$2" --learning-rate 3e-4 --cache-dir $R/cache \
    --time-limit-minutes "$(minutes_left)"
}
mimir() {  # mimir OUTPUT_DIR STEPS
  python3 -m mimir train dit --output-dir "$1" --vae $R/vae/vae --fusion-type mimir --mixed-precision bf16 \
    --init-transformer $R/cogvideox/transformer --max-train-steps "$2" --train-batch-size 256 \
    --learning-rate 1e-4 --lr-warmup-steps 200 --cache-dir $R/cache --time-limit-minutes "$(minutes_left)"
}
step_of() { python3 -c "import torch; print(torch.load('$1/trainer_state/custom_checkpoint_0.pkl', weights_only=False)['step'])"; }

case ${1:?part: start, continue or finish} in
  start)
    [ -f $R/vae/vae/config.json ] && [ "$(step_of $R/vae)" = 2061 ] || vae
    cogvideox 2227 128
    cogvideox 15459 256
    cp $R/vae/losses.csv "$OUT/vae_losses.csv"
    cp $R/cogvideox/losses.csv "$OUT/cogvideox_losses.csv"
    ;;
  continue)
    cogvideox 15459 256
    cp $R/cogvideox/losses.csv "$OUT/cogvideox_losses.csv"
    ;;
  finish)
    # The LLM features of the 40k captions take minutes and need no trained DiT: a zero-step run fills the cache
    # while phase 2 ends on the same GPU.
    mimir $R/feature_pass 0 > $R/feature_pass.log 2>&1 &
    cogvideox 15459 256
    wait $! || { cat $R/feature_pass.log; exit 1; }
    [ "$(step_of $R/cogvideox)" = 15459 ] || { echo "CogVideoX-nano stopped before 15459: run finish again"; exit 1; }
    mimir $R/mimir 628
    [ "$(step_of $R/mimir)" = 628 ] || { echo "Mimir-nano stopped before step 628: run finish again"; exit 1; }
    for run in vae cogvideox mimir; do
      python3 -m mimir train export --run $R/$run --out "$OUT/$run.tar" --fp16
    done
    ;;
  *) echo "unknown part $1"; exit 2 ;;
esac
