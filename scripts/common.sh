# Shared steps of scripts/test.sh and scripts/demo.sh: install missing Debian
# packages, then configure and build. Source it; don't run it.

# Debian packages the build, tests and demo need.
SHARDTRAIN_PACKAGES=(
  cmake g++ make pkg-config
  libopenblas-dev            # CPU GEMM (cblas_sgemm)
  libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev
  zlib1g-dev                 # gzip idx files
  libsnappy-dev              # Snappy blocks in TensorFlow table files
  liburing-dev               # io_uring: the checkpoint restore's direct reads
  libboost-dev               # Asio/Beast: the coordinator's TCP and HTTP
  libopenmpi-dev openmpi-bin # MPI data plane, mpirun
  dataset-fashion-mnist      # /usr/share/datasets/fashion-mnist
  libhdf5-dev                # Keras .h5 / .weights.h5 files
  libzip-dev                 # Keras .keras archives
  nlohmann-json3-dev         # Keras JSON configs, TF Serving REST bodies
  libpng-dev                 # PNG image features (BYTES_PNG)
  libjpeg62-turbo-dev        # JPEG image features (BYTES_JPEG)
  python3                    # demo request (scripts/predict_one.py), test helpers (stdlib only)
  chromium                   # headless browser for the status-page test (ctest -L browser)
)

# What the sanitizer builds (scripts/sanitize.sh, test.sh --sanitize) and
# scripts/fuzz.sh need on top: clang++ with the libFuzzer, ASan, UBSan and TSan
# runtimes, clang's OpenMP (libomp) and llvm-symbolizer for readable reports.
SHARDTRAIN_SANITIZER_PACKAGES=(clang libclang-rt-14-dev libomp-14-dev llvm-14)
SHARDTRAIN_FUZZ_PACKAGES=("${SHARDTRAIN_SANITIZER_PACKAGES[@]}")

# Installs whatever in "$@" is not installed yet (non-interactive; root or sudo).
ensure_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== installing Debian packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo -n)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Configures and builds into build/ (Release). Extra arguments go to cmake.
build_shardtrain() {
  echo "== configuring and building (build/)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
  cmake --build build -j "$(nproc)"
}

# Configures DIR as a clang build with SHARDTRAIN_SANITIZE=KIND (address: ASan +
# UBSan, thread: TSan; CUDA off). -O1 and line tables keep the build fast and
# the reports readable; warnings are enforced by the gcc build, not here.
# Extra arguments go to cmake (e.g. -DSHARDTRAIN_FUZZ=ON).
configure_sanitized() {
  local dir="$1" kind="$2"
  shift 2
  echo "== configuring the $kind-sanitizer build ($dir/)"
  cmake -S . -B "$dir" -DSHARDTRAIN_SANITIZE="$kind" -DSHARDTRAIN_WERROR=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" "$@" >/dev/null
}
