#!/usr/bin/env bash
# Stages what the lent GPU machine needs into gpu-stage/ (git-ignored):
#   gpu-stage/stage.tar.xz  bin/: the CUDA tests (the parity table, the
#       CUDA-only tests, Philox, CreateBackend), the strict-device tests (CPU
#       tests, run there too) and shardtrain; bench/: the GPU step benchmark
#       with its PyTorch peer; lib/: the shared libraries ldd finds that that
#       machine lacks: all but glibc's, the CUDA driver's, cuBLAS's and NCCL's
#       (gpu-check.sh finds those in PyTorch's CUDA 13 wheels there, else
#       /usr/local/cuda). Binaries are stripped; xz-compressed because
#       shardtrain's libraries (HDF5 with curl and Kerberos, Open MPI,
#       protobuf, OpenSSL, ...) are all loaded at start, so none can be left
#       out, and uncompressed they exceed the limit. gpu-check.sh unpacks it
#       into gpu-stage/ there.
#   gpu-stage/data/  Fashion-MNIST for the 3-epoch training check, written by
#       `shardtrain data prepare` from the idx files: the first 55000 training
#       examples (55 shards of 1000) and the 10000 test examples (60 shards),
#       each file gzip-compressed as TFRecordOptions GZIP writes them, and
#       fashion_mlp.textproto: configs/fashion_mlp.textproto with
#       `compression: GZIP` in its data block. 55000 is the smallest training
#       set measured (in steps of 5000) whose 3 epochs at seed 1 stay at test
#       accuracy >= 0.85 with margin on the CPU when the arithmetic is nudged
#       as a GPU's rounding would (docs/GPU.md).
# Fails when gpu-stage/ exceeds 58 MiB (the device tool carries 64 MiB with the
# source tree). The device tool then carries gpu-stage/ and runs
# scripts/gpu-check.sh there (docs/GPU.md).
# Usage: scripts/gpu-stage.sh [BUILD_DIR]   (after the targets below are built)
# FASHION_MNIST_DIR overrides the idx files' directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
stage=gpu-stage
limit_mib=58
tests=(gpu_test parity_cuda_test cuda_backend_test backend_factory_test strict_device_test
       parity_strict_test)
bench="$build/bin/gpu_step_bench"
shardtrain="$build/bin/shardtrain"
config=configs/fashion_mlp.textproto
fashion_source=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
prepared_shards=60  # shards per split `data prepare` writes: 1000 training examples each
train_shards=55     # of them staged: the first 55000 training examples

binaries=()
for name in "${tests[@]}"; do
  [ -x "$build/tests/$name" ] || {
    echo "gpu-stage: $build/tests/$name is not built (cmake --build $build --target $name;" \
         "the CUDA tests need nvcc)" >&2
    exit 1
  }
  binaries+=("$build/tests/$name")
done
[ -x "$bench" ] || { echo "gpu-stage: $bench is not built (needs nvcc)" >&2; exit 1; }
[ -x "$shardtrain" ] || {
  echo "gpu-stage: $shardtrain is not built (cmake --build $build --target shardtrain)" >&2
  exit 1
}
binaries+=("$shardtrain")

tree=$(mktemp -d "${TMPDIR:-/tmp}/gpu-stage.XXXXXX")
trap 'rm -rf "$tree"' EXIT
rm -rf "$stage" && mkdir -p "$stage/data" "$tree/bin" "$tree/bench" "$tree/lib"

# Binaries and libraries, packed into stage.tar.xz.
cp "${binaries[@]}" "$tree/bin/"
cp "$bench" bench/torch_gpu_step.py "$tree/bench/"
strip --strip-unneeded "$tree"/bin/* "$tree/bench/gpu_step_bench"

libraries=$(ldd "${binaries[@]}" "$bench")
if grep -q 'not found' <<<"$libraries"; then
  echo "gpu-stage: unresolved libraries here:" >&2
  grep 'not found' <<<"$libraries" | sort -u >&2
  exit 1
fi
awk '$3 ~ /^\// {print $3}' <<<"$libraries" | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    # glibc's (libresolv and the like use its GLIBC_PRIVATE symbols: theirs must match its libc)
    libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libresolv.so* | \
      libanl.so* | libutil.so* | libnsl.so* | libmvec.so* | libnss_*) ;;
    libcuda.so* | libcublas.so* | libcublasLt.so* | libnccl.so*) ;;  # found there
    *) cp -L "$lib" "$tree/lib/" ;;
  esac
done
unpacked_mib=$(du -sm "$tree" | cut -f1)
tar -C "$tree" -cf - bin bench lib | xz -9 -T2 >"$stage/stage.tar.xz"

# Data: the first $train_shards training shards (renamed into a complete set
# of their own) and every test shard, each file gzip-compressed.
"$shardtrain" data prepare --dataset fashion_mnist --source "$fashion_source" \
  --output "$tree/prepared" --num-shards "$prepared_shards" >/dev/null
for ((i = 0; i < prepared_shards; i++)); do
  if ((i < train_shards)); then
    gzip -9 -n -c "$tree/prepared/$(printf 'train-%05d-of-%05d' "$i" "$prepared_shards").tfrecord" \
      >"$stage/data/$(printf 'train-%05d-of-%05d' "$i" "$train_shards").tfrecord"
  fi
  gzip -9 -n -c "$tree/prepared/$(printf 'test-%05d-of-%05d' "$i" "$prepared_shards").tfrecord" \
    >"$stage/data/$(printf 'test-%05d-of-%05d' "$i" "$prepared_shards").tfrecord"
done
{
  echo "# Staged by scripts/gpu-stage.sh: $config with compression: GZIP in its data block."
  awk '{print} /^data \{/ {print "  compression: GZIP"; n++} END {exit n == 1 ? 0 : 1}' "$config"
} >"$stage/data/fashion_mlp.textproto" || {
  echo "gpu-stage: $config has no single top-level 'data {' line to add compression: GZIP to" >&2
  exit 1
}

mib=$(du -sm "$stage" | cut -f1)
echo "gpu-stage: $stage/ is $mib MiB (binaries and libraries: $unpacked_mib MiB unpacked):"
du -sh "$stage/stage.tar.xz" "$stage/data"
if [ "$mib" -gt "$limit_mib" ]; then
  echo "gpu-stage: $stage/ exceeds $limit_mib MiB: the device tool cannot carry it" >&2
  exit 1
fi
