#!/usr/bin/env bash
# The GPU check (issue 14; docs/benchmarks.md, "GPU check (issue 14)"): one command on a machine with
# an NVIDIA GPU and no internet. It needs no venv: vj runs from this checkout (PYTHONPATH), and the
# packages the machine lacks (diffusers) come as wheels in .whl/, installed to /tmp/site.
#
#   bash benchmarks/gpu_check.sh --out "$OUT/gpu_check.json"     # [--budget-s 450] [--frames 40]
#   bash benchmarks/gpu_check.sh --cpu-smoke --out /tmp/x.json    # the same on the CPU, tiny models (CI)
#
# PYTHON: the interpreter (default python3). VJ_WHEELS: the wheel folder (default .whl). With OUT set,
# the output is also written to $OUT/gpu_check.log and the JSON defaults to $OUT/gpu_check.json.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
WHEELS=${VJ_WHEELS:-.whl}

if compgen -G "$WHEELS/*.whl" >/dev/null; then
    echo "installing the carried wheels into /tmp/site: $(cd "$WHEELS" && echo *.whl)"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$(pwd)${PYTHONPATH:+:$PYTHONPATH}

if command -v nvidia-smi >/dev/null; then nvidia-smi -L; else echo "nvidia-smi: not found"; fi
"$PYTHON" - <<'PY'
import platform
from importlib.metadata import PackageNotFoundError, version

names = ("torch", "diffusers", "transformers", "huggingface_hub", "safetensors", "tokenizers", "accelerate", "numpy")
found = []
for name in names:
    try:
        found.append(f"{name} {version(name)}")
    except PackageNotFoundError:
        found.append(f"{name} MISSING")
print(f"python {platform.python_version()}; " + ", ".join(found), flush=True)
PY

if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    "$PYTHON" benchmarks/gpu_check.py "$@" 2>&1 | tee "$OUT/gpu_check.log"
else
    "$PYTHON" benchmarks/gpu_check.py "$@"
fi
