#!/usr/bin/env bash
# The main job end to end: install, build, prepare Fashion-MNIST shards, train
# the Keras tutorial MLP (configs/fashion_mlp.textproto), print test accuracy.
# Then the same model data-parallel on 2 MPI ranks for one epoch.
# Environment: EPOCHS (default 10), RUN_DIR (default runs/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages "${SHARDTRAIN_PACKAGES[@]}"
build_shardtrain

data=data/fashion_mnist
if [ ! -f "$data/test-00003-of-00004.tfrecord" ]; then
  echo "== preparing Fashion-MNIST shards in $data"
  build/bin/shardtrain data prepare --dataset fashion_mnist \
    --source /usr/share/datasets/fashion-mnist --output "$data" --num-shards 4
fi

echo "== training the reference model (Dense 512 relu -> Dropout 0.2 -> Dense 10, Adam, batch 32)"
build/bin/shardtrain train configs/fashion_mlp.textproto --data "$data" \
  --epochs "${EPOCHS:-10}" --run-dir "${RUN_DIR:-runs/demo}" --verbose 2

echo "== the same model data-parallel on 2 MPI ranks (mpirun -np 2, 1 epoch, global batch 32)"
mpi_flags=()
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
mpirun "${mpi_flags[@]}" -np 2 build/bin/shardtrain train configs/fashion_mlp.textproto \
  --data "$data" --epochs 1 --run-dir "${RUN_DIR:-runs/demo}-mpi" --verbose 2
