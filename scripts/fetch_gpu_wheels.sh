#!/usr/bin/env bash
# Download the wheels that scripts/gpu_check.sh installs on a GPU machine without network
# (its image has Python 3.12, jax, numpyro, numpy, pandas, xarray, h5py, matplotlib, pyarrow,
# but not these). Run where pip can reach PyPI:  bash scripts/fetch_gpu_wheels.sh [FOLDER]
set -euo pipefail
dest="${1:-.whl}"
mkdir -p "$dest"
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform any)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${plat[@]}" -d "$dest" \
  arviz-base==1.3.1 arviz-stats==1.3.3 xarray-einstats==0.11.0 h5netcdf==1.8.2 \
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
ls "$dest"
