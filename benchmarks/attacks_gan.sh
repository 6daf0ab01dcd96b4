#!/usr/bin/env bash
# GAN membership attacks, non-private vs DP, on a small digits DCGAN (CPU, a few minutes).
# Usage: bash benchmarks/attacks_gan.sh [OUT_DIR]
set -euo pipefail
out=${1:-runs/bench-attacks-gan}
common=(--dataset digits --image-size 28 --subset 200 --epochs 20 --batch-size 50
        --latent-dim 32 --g-width 16 --d-width 16 --quiet)
dpkit train-gan "${common[@]}" --no-dp --out "$out/nodp"
dpkit train-gan "${common[@]}" --epsilon 8 --delta 1e-3 --out "$out/dp8"
for run in nodp dp8; do
  for method in discriminator gan-leaks gan-leaks-latent; do
    echo "$run $method $(dpkit attack membership "$out/$run" --method $method \
        --num-samples 2000 --latent-steps 100 --json)"
  done
done
