#!/usr/bin/env bash
# Puts libtorch 2.13.0 (the version tch 0.26 binds) into the user cache and links it as
# ./.libtorch, which .cargo/config.toml points LIBTORCH at. Idempotent: a no-op once cached.
#
# Every x86_64 Linux torch wheel on PyPI is a CUDA build; the CPU half of it needs only
# libcudart and libcupti besides its own libraries, so the three wheels are downloaded and just
# those files cut out (487 MB instead of 4.7 GB). No venv, no `import torch`.
set -euo pipefail
TORCH=2.13.0
CUDART=13.0.96
CUPTI=13.0.85
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/inas
DEST=$CACHE/libtorch-$TORCH-cpu
if [ ! -f "$DEST/.complete" ]; then
  echo "setup-libtorch: fetching torch $TORCH from PyPI into $DEST (about 540 MB, once)" >&2
  mkdir -p "$CACHE"
  TMP=$(mktemp -d "$CACHE/tmp.XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
  python3 -m pip download --no-deps --only-binary=:all: -q -d "$TMP/w" \
    "torch==$TORCH" "nvidia-cuda-runtime==$CUDART" "nvidia-cuda-cupti==$CUPTI"
  python3 - "$TMP/w" "$TMP/out" "$TORCH" <<'PY'
import glob, os, shutil, sys, zipfile
wheels, out, ver = sys.argv[1:]
os.makedirs(f"{out}/lib")
keep = {"libtorch_cpu.so", "libtorch.so", "libc10.so", "libgomp.so.1"}
with zipfile.ZipFile(glob.glob(f"{wheels}/torch-{ver}-*.whl")[0]) as z:
    for name in z.namelist():
        if name.startswith("torch/include/"):
            z.extract(name, f"{out}/x")
        elif name.startswith("torch/lib/") and os.path.basename(name) in keep:
            with z.open(name) as s, open(f"{out}/lib/{os.path.basename(name)}", "wb") as d:
                shutil.copyfileobj(s, d)
shutil.move(f"{out}/x/torch/include", f"{out}/include")
shutil.rmtree(f"{out}/x")
for pattern, lib in (("nvidia_cuda_runtime-*.whl", "libcudart.so.13"),
                     ("nvidia_cuda_cupti-*.whl", "libcupti.so.13")):
    with zipfile.ZipFile(glob.glob(f"{wheels}/{pattern}")[0]) as z, \
         z.open(f"nvidia/cu13/lib/{lib}") as s, open(f"{out}/lib/{lib}", "wb") as d:
        shutil.copyfileobj(s, d)
with open(f"{out}/build-version", "w") as f:
    f.write(ver + "\n")
PY
  touch "$TMP/out/.complete"
  rm -rf "$DEST"
  mv "$TMP/out" "$DEST"
fi
ln -sfn "$DEST" "$ROOT/.libtorch"
