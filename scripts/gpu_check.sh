#!/usr/bin/env bash
# GPU check of the screen back-end, in one call on one GPU machine (H100/H200), < 9 minutes:
#   1. install drugbayes without dependencies, plus its missing pure-Python dependencies from
#      wheels in a local folder (scripts/fetch_gpu_wheels.sh downloads them);
#   2. run the screen back-end's tests on the GPU;
#   3. benchmark: the 300,000-curve screen (1,000 cell lines x 300 drugs);
#   4. benchmark: 10,000 curves, drugbayes screen vs plain NumPyro NUTS (same run, same GPU);
#   5. optionally (MAP=1), map on the 300,000-curve screen through drugbayes.fit.
# Measured on an H200 with the defaults below (16 chains x (600 warmup + 2,000 sweeps thinned
# by 4)): 520 s in all (tests 92 s, the 300,000-curve step 210 s, the 10,000-curve comparison
# 208 s; benchmarks/results/scale/screen_scale_gpu_h200_gpu_check.log). MAP=1 adds the map run
# (about a minute), which can take the whole script past 9 minutes.
# Every result goes to one folder.
#
#   bash scripts/gpu_check.sh [OUT_DIR] [WHEEL_DIR]
# Environment: SIZES_PEER (default 10000), SIZES_BIG (default 300000), CHAINS (16),
# WARMUP (600), SAMPLES (500 kept draws per chain), THIN (4), TESTS (1: run the tests),
# MAP (0: skip the map run), PYTHON (python3).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_results}}"
wheels="${2:-.whl}"
py="${PYTHON:-python3}"
mkdir -p "$out"
site=/tmp/drugbayes_site
t0=$(date +%s)
stamp() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - t0 ))s] $*"; }

stamp "install"
rm -rf "$site" && mkdir -p "$site"
if ls "$wheels"/*.whl >/dev/null 2>&1; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
    "$wheels"/*.whl || exit 1
fi
if $py -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
    --target "$site" .; then
  export PYTHONPATH="$site"
else
  stamp "could not build the package here (no setuptools?); using the source tree"
  export PYTHONPATH="$site:$PWD/src"
fi
export JAX_PLATFORMS="${JAX_PLATFORMS_GPU:-}"   # tests/conftest.py would pick cpu otherwise
export DRUGBAYES_COMPILATION_CACHE="${DRUGBAYES_COMPILATION_CACHE:-/tmp/drugbayes_jax_cache}"
export PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true) | tee "$out/device.txt"
$py - <<'PY' | tee -a "$out/device.txt"
import jax, numpyro, xarray, pandas, drugbayes
print("jax", jax.__version__, "numpyro", numpyro.__version__, "xarray", xarray.__version__,
      "pandas", pandas.__version__, "drugbayes", drugbayes.__version__, drugbayes.__file__)
print("devices", jax.devices())
PY

if [ "${TESTS:-1}" = "1" ]; then
  stamp "tests (screen back-end, on the GPU)"
  $py -m pytest -q -p no:cacheprovider tests/test_screen.py -k "not agrees_with_nuts" \
    2>&1 | tee "$out/tests.log" | tail -5
fi

budget=(--num-chains "${CHAINS:-16}" --num-warmup "${WARMUP:-600}"
        --num-samples "${SAMPLES:-500}" --thinning "${THIN:-4}")
# the big screen first: if the command runs out of time in the peer comparison, the
# 300,000-curve result is already written
stamp "benchmark: ${SIZES_BIG:-300000} curves, screen"
$py -m benchmarks.scale.screen_scale --sizes "${SIZES_BIG:-300000}" --methods screen \
  "${budget[@]}" --out "$out/screen_scale_gpu_big" 2>&1 | grep -v "^INFO" \
  | tee "$out/bench_big.log" | tail -4

stamp "benchmark: ${SIZES_PEER:-10000} curves, screen vs plain NumPyro NUTS"
$py -m benchmarks.scale.screen_scale --sizes "${SIZES_PEER:-10000}" --methods screen,plain_nuts \
  "${budget[@]}" --out "$out/screen_scale_gpu_peer" 2>&1 | grep -v "^INFO" \
  | tee "$out/bench_peer.log" | tail -4
if [ "${MAP:-0}" = "1" ]; then
  # last, so that a run out of time loses only this: map through drugbayes.fit from the long
  # table (table validation timed apart)
  stamp "benchmark: ${SIZES_BIG:-300000} curves, map"
  $py -m benchmarks.scale.screen_scale --sizes "${SIZES_BIG:-300000}" --methods map \
    --out "$out/screen_scale_gpu_map" 2>&1 | grep -v "^INFO" | tee "$out/bench_map.log" | tail -3
fi
stamp "done"
cat "$out"/*.md 2>/dev/null | grep -E "^\| (screen|plain)" || true
