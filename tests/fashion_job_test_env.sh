# Sourced by the job test scripts (tests/cli checkpoint_*, tests/mpi dead_rank)
# with their arguments (BUILD_BIN_DIR SOURCE_DIR): sets bin and src, exits 77
# (skip) without Fashion-MNIST (Debian package dataset-fashion-mnist), lets
# mpirun run as root, makes $work (removed at exit, after killing anything
# still running from it), defines fail() (it counts $failures) and prepares
# two data shards in $work/data.
bin="$1/shardtrain"
src="$2"
fmnist=/usr/share/datasets/fashion-mnist
[ -f "$fmnist/train-labels-idx1-ubyte.gz" ] || { echo "SKIP: needs Fashion-MNIST in $fmnist"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'pkill -KILL -f "$work" 2>/dev/null; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
"$bin" data prepare --dataset fashion_mnist --source "$fmnist" --output "$work/data" --num-shards 2 >/dev/null || exit 1
