#!/usr/bin/env bash
# The GPU check: everything audiokit does only on CUDA, run and measured on the GPU(s) at hand,
# in under 8 minutes (each step has a timeout; see docs/benchmarks.md, "GPU check").
#
#   bash bench/gpu.sh [--cpu-toy] [OUT_DIR]
#
# Steps:
#   1. preflight   the Python that runs audiokit, its packages, torch and CUDA (env.json)
#   2. nvidia-smi  the GPUs, driver and clocks (nvidia-smi.txt)
#   3. tests       tests/test_gpu.py, the tests marked `gpu` (pytest.txt, pytest.xml)
#   4. throughput  python bench/train.py throughput: resnet18 and specresnet on 10,000 items of
#                  1×128×128, audiokit's engine against a plain PyTorch loop (throughput.json)
#   5. summary     summary.md: machine, date, command, samples/s per model and loop, the
#                  engine/plain ratio, the test counts
# Each step's name, duration and stderr also go to gpu.log.
#
# OUT_DIR defaults to bench/out/gpu-YYYYmmdd-HHMMSS (bench/out/ is git-ignored).
# Without a CUDA GPU (or with --cpu-toy) every step runs at toy size on the CPU, in about
# 30 s: the tests with AUDIOKIT_GPU_TESTS_ON_CPU=1 (the ones that mean something on a CPU run,
# the CUDA-only ones skip) and throughput on 64 items for 1 epoch. Its figures are not a
# benchmark; it shows the script works before a GPU is lent.
#
# Environment: PYTHON (default .venv/bin/python, else python3); GPU_SH_TIMEOUT_TESTS,
# GPU_SH_TIMEOUT_THROUGHPUT (seconds); GPU_SH_ITEMS, GPU_SH_EPOCHS (throughput size).
# Exit status: 0 when every step passed, 1 when a step failed (the others still run and the
# summary is written), 2 on bad arguments or a Python that cannot run audiokit.
set -euo pipefail

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }

toy=0
out=""
for arg in "$@"; do
    case "$arg" in
        --cpu-toy) toy=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "gpu.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
        *) if [[ -n "$out" ]]; then echo "gpu.sh: one OUT_DIR only" >&2; exit 2; fi; out=$arg ;;
    esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [[ -n "${PYTHON:-}" ]]; then py=$PYTHON
elif [[ -x "$root/.venv/bin/python" ]]; then py="$root/.venv/bin/python"
else py=$(command -v python3 || true)
fi
if [[ -z "$py" ]]; then echo "gpu.sh: no python3 found; set PYTHON" >&2; exit 2; fi
# audiokit from this checkout whether or not it is installed; tests start `python -m audiokit`.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$(dirname "$py"):$PATH"
export PYTHONUNBUFFERED=1

out=${out:-bench/out/gpu-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/audiokit-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
steps="$work/steps.tsv"
: >"$steps"
: >"$out/gpu.log"
command_line="bash bench/gpu.sh${*:+ $*}"
started=$(date +%s)
failed=0

# step NAME TIMEOUT_S STDOUT_FILE CMD...: run CMD under a timeout, its stdout to STDOUT_FILE (and
# the terminal when it is text), its stderr to the terminal and OUT/gpu.log; print its duration.
say() { echo "$*" >&2; echo "$*" >>"$out/gpu.log"; }
step() {
    local name=$1 limit=$2 stdout=$3 rc=0 t0 t1 secs
    shift 3
    say "== gpu.sh: $name (timeout ${limit} s)"
    t0=$(date +%s.%N)
    if [[ "$stdout" == *.json || "$stdout" == *.xml ]]; then
        timeout -k 10 "$limit" "$@" >"$stdout" 2> >(tee -a "$out/gpu.log" >&2) || rc=$?
    else
        timeout -k 10 "$limit" "$@" 2> >(tee -a "$out/gpu.log" >&2) | tee "$stdout" || rc=$?
    fi
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    if [[ $rc == 124 || $rc == 137 ]]; then say "gpu.sh: $name ran past its ${limit} s"; fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$secs" "$limit" >>"$steps"
    say "== gpu.sh: $name: exit $rc, $secs s"
    return "$rc"
}

# -- 1. preflight ------------------------------------------------------------------------------------------
cat >"$work/preflight.py" <<'EOF'
import importlib, json, os, platform, socket, subprocess, sys, time

toy = sys.argv[1] == "1"
missing = []
versions = {}
for mod in ("numpy", "scipy", "soundfile", "soxr", "librosa", "h5py", "sklearn", "typer", "rich", "matplotlib",
            "torch", "torchvision", "pytest", "audiokit"):
    try:
        versions[mod] = getattr(importlib.import_module(mod), "__version__", "?")
    except Exception as exc:  # noqa: BLE001 - any import failure is "missing" here
        missing.append(f"{mod} ({type(exc).__name__}: {exc})")
if missing:
    print("gpu.sh: this Python cannot run audiokit's tests; missing: " + "; ".join(missing), file=sys.stderr)
    print(f"gpu.sh: python is {sys.executable}; set PYTHON, or install the missing packages "
          "(on a machine without network: pip install --no-index from wheels)", file=sys.stderr)
    sys.exit(2)
import torch

cuda = torch.cuda.is_available()
info = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": socket.gethostname(), "python": sys.version.split()[0],
        "executable": sys.executable, "platform": platform.platform(), "cores": os.cpu_count(),
        "versions": versions, "torch_cuda": torch.version.cuda, "cuda_available": cuda,
        "mode": "cpu-toy" if toy or not cuda else "gpu"}
try:
    with open("/proc/cpuinfo") as f:
        info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
except (OSError, StopIteration):
    info["cpu"] = platform.processor() or platform.machine()
if cuda:
    info["gpus"] = [{"name": torch.cuda.get_device_name(i),
                     "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
                     "capability": ".".join(map(str, torch.cuda.get_device_capability(i)))}
                    for i in range(torch.cuda.device_count())]
    info["bf16"] = torch.cuda.is_bf16_supported()
    info["nccl"] = torch.distributed.is_nccl_available()
try:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=10)
    info["commit"] = rev.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
except (OSError, subprocess.SubprocessError):
    info["commit"] = None
print(json.dumps(info, indent=2))
EOF
if ! step preflight 45 "$out/env.json" "$py" "$work/preflight.py" "$toy"; then
    say "gpu.sh: preflight failed; nothing else was run ($out/gpu.log)"
    exit 2
fi
cuda=$("$py" -c 'import json, sys; print(int(json.load(open(sys.argv[1]))["cuda_available"]))' "$out/env.json")
if [[ $toy == 0 && $cuda == 0 ]]; then
    say "gpu.sh: no CUDA GPU here (torch.cuda.is_available() is False): running the CPU toy mode"
    toy=1
fi
if [[ $toy == 1 ]]; then
    mode=cpu-toy device=cpu
    items=${GPU_SH_ITEMS:-64} epochs=${GPU_SH_EPOCHS:-1}
    t_tests=${GPU_SH_TIMEOUT_TESTS:-120} t_tp=${GPU_SH_TIMEOUT_THROUGHPUT:-120}
    # the CPU is someone else's too: one thread per process
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
    export AUDIOKIT_GPU_TESTS_ON_CPU=1
else
    mode=gpu device=cuda
    items=${GPU_SH_ITEMS:-10000} epochs=${GPU_SH_EPOCHS:-2}
    t_tests=${GPU_SH_TIMEOUT_TESTS:-210} t_tp=${GPU_SH_TIMEOUT_THROUGHPUT:-180}
    unset AUDIOKIT_GPU_TESTS_ON_CPU
fi
say "gpu.sh: mode $mode, python $py, output $out"

# -- 2. nvidia-smi -------------------------------------------------------------------------------------------
smi='if ! command -v nvidia-smi >/dev/null; then echo "nvidia-smi: not found on this machine (mode $1)"; exit 0; fi
nvidia-smi && echo && nvidia-smi --format=csv \
    --query-gpu=index,name,memory.total,driver_version,compute_cap,clocks.max.sm,power.limit'
step nvidia-smi 20 "$out/nvidia-smi.txt" bash -c "$smi" gpu.sh "$mode" || failed=1

# -- 3. the gpu-marked tests ---------------------------------------------------------------------------------
step tests "$t_tests" "$out/pytest.txt" \
    "$py" -m pytest tests/test_gpu.py -m gpu -rA -p no:cacheprovider --basetemp "$work/pytest" \
    --junitxml "$out/pytest.xml" -o junit_family=xunit2 || failed=1

# -- 4. throughput -------------------------------------------------------------------------------------------
step throughput "$t_tp" "$out/throughput.json" \
    "$py" bench/train.py throughput --models resnet18,specresnet --items "$items" --epochs "$epochs" \
    --device "$device" --dir "$work" || failed=1

# -- 5. summary ----------------------------------------------------------------------------------------------
cat >"$work/summary.py" <<'EOF'
import json, sys, time
import xml.etree.ElementTree as ET
from pathlib import Path

out, mode, command, started, steps = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
env = json.loads((out / "env.json").read_text())
lines = [f"# GPU check, {env['date']}", ""]
if mode == "cpu-toy":
    lines += ["**CPU toy mode** (no CUDA GPU, or `--cpu-toy`): every step at toy size on the CPU, to show the "
              "script works. These figures are not a benchmark.", ""]
gpus = env.get("gpus") or []
gpu_text = ", ".join(f"{g['name']} ({g['memory_gib']} GiB, sm {g['capability']})" for g in gpus) or "none"
v = env["versions"]
lines += [f"- machine: {env['host']}; GPU: " + (f"{len(gpus)} × {gpu_text}" if gpus else "none"),
          f"- CPU: {env.get('cpu')}, {env['cores']} cores; Python {env['python']}; torch {v.get('torch')} "
          f"(CUDA {env.get('torch_cuda')}); audiokit {v.get('audiokit')}, commit {env.get('commit')}",
          f"- command: `{command}` (mode {mode})", ""]

lines += ["## Steps", "", "| step | exit | seconds | timeout |", "| --- | ---: | ---: | ---: |"]
for row in steps.read_text().splitlines():
    name, rc, secs, limit = row.split("\t")
    lines.append(f"| {name} | {rc} | {secs} | {limit} |")
lines.append("")

lines += ["## Tests (tests/test_gpu.py, marker `gpu`)", ""]
xml = out / "pytest.xml"
counts = None
if xml.exists() and xml.stat().st_size:
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    n["passed"] = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
    counts = n
    lines.append(f"passed {n['passed']}, failed {n['failures']}, errors {n['errors']}, skipped {n['skipped']} "
                 f"(of {n['tests']})")
    lines.append("")
    lines += ["| test | outcome |", "| --- | --- |"]
    for case in suite.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                msg = (el.get("message") or "").splitlines()[0][:160] if el.get("message") else ""
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
                outcome += f": {msg}" if msg else ""
                break
        lines.append(f"| {case.get('name')} | {outcome.replace('|', '/')} |")
else:
    lines.append("no test results (pytest.xml missing: see pytest.txt and gpu.log)")
lines.append("")

lines += ["## Throughput (bench/train.py throughput)", ""]
tp = out / "throughput.json"
try:
    t = json.loads(tp.read_text())
except (OSError, ValueError):
    t = None
if t is None:
    lines.append("no throughput figures (throughput.json missing or not JSON: see gpu.log)")
else:
    r0 = t["rows"][0]
    lines += [f"{r0['items']} items of 1×128×128, batch {r0['batch']}, {t['epochs']} epoch(s) per loop (the last "
              f"is reported), device {t['device']}, plain loop with {t['loader_workers']} DataLoader workers.", "",
              "| model | audiokit samples/s | audiokit, no precise BN | plain loop samples/s | audiokit / plain "
              "| audiokit s/epoch | placement |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for model in dict.fromkeys(r["model"] for r in t["rows"]):
        by = {r["loop"]: r for r in t["rows"] if r["model"] == model}
        a, nb, p = by["audiokit"], by["audiokit, no precise BN"], by["plain"]
        lines.append(f"| {model} | {a['samples_per_s']:,.0f} | {nb['samples_per_s']:,.0f} | {p['samples_per_s']:,.0f} "
                     f"| {a['samples_per_s'] / p['samples_per_s']:.2f}× | {a['seconds']:.2f} | {a.get('placement')} |")
    lines.append("")
    r18 = [r for r in t["rows"] if r["model"] == "resnet18"]
    if mode == "gpu" and r18:
        a = next(r for r in r18 if r["loop"] == "audiokit")
        p = next(r for r in r18 if r["loop"] == "plain")
        ok1, ok2 = a["samples_per_s"] >= 10000, a["samples_per_s"] >= 3 * p["samples_per_s"]
        lines += [f"Targets on one H100/H200 (resnet18): ≥ 10,000 samples/s: {'met' if ok1 else 'NOT met'} "
                  f"({a['samples_per_s']:,.0f}); ≥ 3× the plain loop: {'met' if ok2 else 'NOT met'} "
                  f"({a['samples_per_s'] / p['samples_per_s']:.2f}×).", ""]
    elif mode != "gpu":
        lines += ["Targets (resnet18 ≥ 10,000 samples/s and ≥ 3× the plain loop on one H100/H200) apply to a GPU "
                  "run only.", ""]

files = sorted(p.name for p in out.iterdir() if p.name not in ("summary.txt",)) + ["summary.md"]
lines += [f"Total {time.time() - started:.0f} s. Files: {', '.join(sorted(set(files)))} (gpu.log: every "
          "step's stderr).", ""]
(out / "summary.md").write_text("\n".join(lines))
print("\n".join(lines))
EOF
step summary 20 "$out/summary.txt" \
    "$py" "$work/summary.py" "$out" "$mode" "$command_line" "$started" "$steps" || failed=1
rm -f "$out/summary.txt"  # the same text as summary.md
verdict=$([[ $failed == 0 ]] && echo "every step passed" || echo "a step FAILED")
say "gpu.sh: done in $(( $(date +%s) - started )) s, mode $mode, $verdict: $out/summary.md"
exit "$failed"
