"""`BENCH_ONLY=cold make bench`: each HTTP function's import from the shared layer as built, with and without
its precompiled bytecode.

The layer is built for x86_64 (`make layer ARCH=x86_64`: the recipe `sam build` runs, for this machine; the
arm64 build cannot import here). Each import runs in a fresh interpreter that sees only what Lambda's would:
the function's own directory (a copy without bytecode, as the function's package ships) and the layer's
python/ folder, no site-packages, nothing written back (-B, as /opt and /var/task are read-only). "Without
bytecode" is the same layer less its __pycache__ folders: what every cold start compiled before.

Budget: every HTTP function imports in <= 0.5 s with bytecode (the median of RUNS, wall clock). The
machine's load is printed beside it: other work on the 2 cores stretches the wall clock, the CPU time less.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
BUDGET_S = 0.5
LAMBDA_PYTHON = (3, 12)

# Run by the fresh interpreter: argv[1] = the function's directory, argv[2] = the layer's python/ folder.
IMPORT_HANDLER = """
import sys, time
sys.path[:0] = sys.argv[1:3]
wall, cpu = time.perf_counter(), time.process_time()
import app
assert callable(app.handler), "app.handler"
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


def build_layer(arch: str) -> Path:
    """`make layer ARCH=<arch>` (a no-op when the build is up to date); the layer's python/ folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    subprocess.run(["make", "--no-print-directory", "layer", f"ARCH={arch}"], cwd=ROOT, env=env, check=True)
    return ROOT / "build" / f"layer-{arch}" / "python"


def function_names(http_only: bool = False) -> list[str]:
    """Every function (a folder with app.py); the HTTP ones build their handler with `make_handler`."""
    apps = sorted((ROOT / "functions").glob("*/app.py"))
    return [p.parent.name for p in apps if not http_only or "make_handler(" in p.read_text()]


def copy_without_bytecode(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def lambda_environment(function: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC",
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "POWERTOOLS_SERVICE_NAME": function,
            "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "OfferHub"}


def import_handler(function_dir: Path, layer: Path, python: str = sys.executable) -> tuple[float, float]:
    """Import `app` from function_dir in a fresh interpreter whose sys.path is function_dir, layer and the
    standard library only (-I: no environment, no user site; -S: no site-packages; -B: write nothing).
    Returns (wall seconds, CPU seconds) of the import; raises with the child's stderr if it fails."""
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", IMPORT_HANDLER, str(function_dir), str(layer)],
        cwd=tempfile.gettempdir(), env=lambda_environment(function_dir.name), capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{function_dir.name}: import failed\n{done.stderr[-4000:]}")
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu)


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_cold_layer() -> None:
    print("\nCold import from the built layer (x86_64 build of the Lambda layer; fresh interpreter per run,")
    print(f"  only the function dir + the layer on sys.path; median of {RUNS}; seconds)")
    if sys.version_info[:2] != LAMBDA_PYTHON:
        print(f"  skipped: needs Python {'.'.join(map(str, LAMBDA_PYTHON))} (the layer's bytecode), "
              f"this is {sys.version.split()[0]}")
        return
    try:
        layer = build_layer("x86_64")
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  skipped: the layer did not build ({exc})")
        return
    functions = function_names(http_only=True)
    with tempfile.TemporaryDirectory(prefix="offerhub-cold-") as scratch:
        bare = copy_without_bytecode(layer, Path(scratch) / "layer-without-bytecode")
        dirs = {f: copy_without_bytecode(ROOT / "functions" / f, Path(scratch) / "functions" / f) for f in functions}
        print(f"  layer: {tree_size(layer.parent) / 2**20:.0f} MiB with bytecode, "
              f"{tree_size(bare) / 2**20:.0f} MiB without; load average {os.getloadavg()[0]:.1f} at the start")
        samples: dict[tuple[str, bool], list[tuple[float, float]]] = {}
        for _ in range(RUNS):  # interleaved, so both variants see the same background load
            for f in functions:
                for bytecode in (True, False):
                    samples.setdefault((f, bytecode), []).append(import_handler(dirs[f], layer if bytecode else bare))
    print(f"  {'function':<18} {'bytecode':>9} {'(cpu)':>7} {'none':>7} {'(cpu)':>7} {'speed-up':>9}  "
          f"budget {BUDGET_S} s")
    for f in functions:
        with_pyc = [statistics.median(x) for x in zip(*samples[(f, True)], strict=True)]
        without = [statistics.median(x) for x in zip(*samples[(f, False)], strict=True)]
        verdict = "PASS" if with_pyc[0] <= BUDGET_S else "OVER"
        print(f"  {f:<18} {with_pyc[0]:>9.3f} {with_pyc[1]:>7.3f} {without[0]:>7.3f} {without[1]:>7.3f} "
              f"{without[0] / with_pyc[0]:>8.1f}x  {verdict}")
    print(f"  load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    bench_cold_layer()
