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

echo "== exporting the trained model as a SavedModel and serving it (TF Serving REST API)"
run_dir="${RUN_DIR:-runs/demo}"
build/bin/shardtrain export --config configs/fashion_mlp.textproto --run-dir "$run_dir" \
  --format saved_model --output "$run_dir/export/fashion"
build/bin/shardtrain serve --model_name fashion --model_base_path "$run_dir/export/fashion" \
  --port 0 >"$run_dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "^serving model" "$run_dir/serve.log" && break; sleep 0.1; done
url=$(sed -n 's|^serving model fashion .* at \(http://[^ ]*\).*|\1|p' "$run_dir/serve.log")
echo "server: $url"
python3 scripts/predict_one.py "$url:predict" 0
kill $server
