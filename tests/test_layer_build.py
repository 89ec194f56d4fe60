"""The shared layer as built for Lambda: arm64 native code, handlers that import, bytecode that is used.

CI cannot run arm64, so the arm64 build is checked by reading it, and the very same recipe built for x86_64 is
checked by running it:
- every native file (ELF) in the arm64 layer is for aarch64 (the ELF header's e_machine is 183), and both
  builds hold the same distributions;
- every function's handler imports from the x86_64 layer in a fresh interpreter that sees only the function's
  folder, the layer's python/ and the standard library (as Lambda's sees /var/task and /opt/python; boto3,
  which the runtime adds, is absent here: handlers import it lazily);
- each module has its bytecode beside it, for Python 3.12, hash-based and unchecked, and the same bytes in
  both builds (no build path or timestamp in them).

Skipped unless LAYER_BUILD=1: a build downloads ~70 MiB of wheels per architecture and takes about a minute
each, too slow for every `make test`. `make layer-check` sets it and runs this module; the builds are
`make layer` and `make layer ARCH=x86_64` (build/layer-<arch>/python, reused while up to date).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

if os.environ.get("LAYER_BUILD") != "1":
    pytest.skip("set LAYER_BUILD=1 (or run `make layer-check`) to build the layer and check it",
                allow_module_level=True)
if sys.version_info[:2] != (3, 12):
    pytest.skip("the layer's bytecode and wheels are for Python 3.12; this is not it", allow_module_level=True)

from bench.cold_layer import build_layer, function_names, import_handler

ROOT = Path(__file__).resolve().parent.parent
ELF_MAGIC = b"\x7fELF"
EM_X86_64, EM_AARCH64 = 62, 183
HASH_BASED_UNCHECKED = 0b01  # the .pyc flags word: hash-based, check_source off (PEP 552)


@pytest.fixture(scope="session")
def arm64_layer() -> Path:
    return build_layer("arm64")


@pytest.fixture(scope="session")
def x86_64_layer() -> Path:
    return build_layer("x86_64")


def elf_machine(path: Path) -> int | None:
    """e_machine of an ELF file (None if it is not one): 2 bytes at offset 18, in the file's byte order."""
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != ELF_MAGIC:
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def native_files(layer: Path) -> dict[Path, int]:
    found = {}
    for path in layer.rglob("*"):
        if path.is_file() and not path.is_symlink() and (machine := elf_machine(path)) is not None:
            found[path.relative_to(layer)] = machine
    return found


def distributions(layer: Path) -> set[str]:
    return {p.name for p in layer.glob("*.dist-info")}


def test_every_native_file_of_the_arm64_layer_is_aarch64(arm64_layer):
    native = native_files(arm64_layer)
    for must in ("pydantic_core", "psycopg_binary", "cryptography"):  # the layer's compiled dependencies
        assert any(p.parts[0] == must for p in native), f"no native code from {must}: the check saw too little"
    wrong = {str(p): machine for p, machine in native.items() if machine != EM_AARCH64}
    assert wrong == {}, "not aarch64 (e_machine 183)"
    named_so = {p.relative_to(arm64_layer) for p in arm64_layer.rglob("*.so*") if p.is_file()}
    assert named_so <= native.keys(), f"shared objects that are not ELF: {named_so - native.keys()}"


def test_the_x86_64_build_is_the_same_layer_for_this_machine(arm64_layer, x86_64_layer):
    assert distributions(x86_64_layer) == distributions(arm64_layer)
    machines = set(native_files(x86_64_layer).values())
    assert machines == {EM_X86_64}


def test_every_module_has_unchecked_bytecode_for_python_3_12(arm64_layer):
    tag = sys.implementation.cache_tag  # cpython-312
    sources = [p for p in arm64_layer.rglob("*.py")]
    assert len(sources) > 1000
    missing = [str(p) for p in sources if not Path(importlib.util.cache_from_source(str(p))).is_file()]
    assert missing == []
    for pyc in arm64_layer.rglob("*.pyc"):
        assert pyc.name.endswith(f".{tag}.pyc"), f"bytecode of another Python: {pyc}"
        header = pyc.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
        assert int.from_bytes(header[4:8], "little") == HASH_BASED_UNCHECKED, pyc


def test_what_lambda_never_reads_is_left_out(arm64_layer):
    assert not (arm64_layer / "bin").exists()
    assert [p for p in arm64_layer.rglob("*") if p.is_dir() and p.name in ("tests", "test")] == []
    assert [p for p in arm64_layer.rglob("*.pyi")] == []


def test_bytecode_does_not_depend_on_the_build(arm64_layer, x86_64_layer):
    """Pure-Python modules compile to the same bytes in both builds: no build path, no mtime inside."""
    ours = sorted((arm64_layer / "offerhub").rglob("*.pyc"))
    assert ours
    for pyc in ours:
        assert pyc.read_bytes() == (x86_64_layer / pyc.relative_to(arm64_layer)).read_bytes(), pyc


@pytest.mark.parametrize("function", function_names())
def test_every_handler_imports_from_the_x86_64_layer_alone(function, x86_64_layer, tmp_path):
    wall, _cpu = import_handler(ROOT / "functions" / function, x86_64_layer)
    assert wall > 0
