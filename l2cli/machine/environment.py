"""The numerical environment of a run: what decides its last bits, recorded, compared and re-created.

Two machines with the same library versions give different last bits when their BLAS (OpenBLAS) picks other
kernels for the CPU, or numpy dispatches its loops to other vector extensions. Both choices are made once, when
the library loads, from the CPU and two environment variables: ``OPENBLAS_CORETYPE`` (the kernel) and
``NPY_DISABLE_CPU_FEATURES`` (numpy's dispatch targets to leave out). So:

- :func:`record` (manifest.json's ``environment``): every BLAS with its version, kernel and threads
  (threadpoolctl); numpy's version, baseline and the dispatch targets in use; the CPU model and its vector
  extensions; the OS, the architecture; Python's and every numeric library's version.
- :func:`pins`: the environment variables that re-create a recorded kernel and dispatch on this machine.
- :func:`differences`: what differs between a recorded environment and this one, one line each, and
  whether re-creating it can make the numbers exact (:func:`recreatable`).
- :data:`PORTABLE`: the kernels every x86-64 CPU with AVX2 has (OpenBLAS Haswell, numpy's X86_V3 loops), or
  the generic arm64 ones: a run made with them verifies exactly on any such machine, with nothing pinned.

This module imports numpy only in :func:`record`: deciding what to pin happens before numpy loads.
"""

from __future__ import annotations

import os
import platform
import re
import sys

#: the variables that fix the kernels when a process loads numpy and OpenBLAS
VARIABLES = ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")

#: numpy's dispatch targets above the x86-64-v3 level (AVX2, FMA), and the arm64 ones above plain NEON
_ABOVE_AVX2 = ("X86_V4", "AVX512F", "AVX512CD", "AVX512_KNL", "AVX512_KNM", "AVX512_SKX", "AVX512_CLX",
               "AVX512_CNL", "AVX512_ICL", "AVX512_SPR", "AVX512FP16")
_ABOVE_NEON = ("ASIMDHP", "ASIMDDP", "ASIMDFHM", "SVE")

#: architecture -> the variables of the portable mode (sweep.portable)
PORTABLE = {
    "x86_64": {"OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": " ".join(_ABOVE_AVX2)},
    "aarch64": {"OPENBLAS_CORETYPE": "ARMV8", "NPY_DISABLE_CPU_FEATURES": " ".join(_ABOVE_NEON)},
}
PORTABLE["AMD64"] = PORTABLE["x86_64"]
PORTABLE["arm64"] = PORTABLE["aarch64"]

#: OpenBLAS x86-64 kernels -> the CPU flags (/proc/cpuinfo) they need
KERNEL_NEEDS = {
    "SapphireRapids": ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16", "amx_tile"),
    "Cooperlake": ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"),
    "SkylakeX": ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"),
    "Zen": ("avx2", "fma"),
    "Haswell": ("avx2", "fma"),
    "Sandybridge": ("avx",),
    "Nehalem": ("sse4_2",),
    "Prescott": ("sse3",),
}

#: the packages whose versions can change a number
PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "threadpoolctl")

#: the CPU flags worth recording: the vector extensions
_VECTOR_FLAGS = ("sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512cd",
                 "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512ifma", "avx512vbmi",
                 "avx512_fp16", "amx_tile", "asimd", "asimdhp", "asimddp", "sve", "sve2")


#: /proc/cpuinfo's names for flags that have another name everywhere else (SSE3 is "pni": Prescott New Instructions)
FLAG_ALIASES = {"pni": "sse3"}


def cpu(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The CPU's model and vector extensions (Linux: /proc/cpuinfo; elsewhere what platform says)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                name, _, value = line.partition(":")
                name = name.strip()
                if name in ("model name", "Model", "CPU part") and model in ("unknown", "", platform.processor()):
                    model = value.strip()
                elif name in ("flags", "Features"):
                    flags.update(FLAG_ALIASES.get(f, f) for f in value.split())
    except OSError:
        pass
    return {"model": model, "vector_extensions": sorted(f for f in flags if f in _VECTOR_FLAGS)}


def record(portable: bool = False) -> dict:
    """manifest.json's ``environment``: this process's numerical environment (see the module docstring)."""
    from importlib import metadata

    import numpy as np

    from .blas import _controller

    blas = [{"library": i.get("internal_api"), "version": i.get("version"), "kernel": i.get("architecture"),
             "threads": i.get("num_threads"), "threading_layer": i.get("threading_layer"),
             "file": os.path.basename(i.get("filepath", ""))}
            for i in _controller().info() if i.get("user_api") == "blas"]
    blas.sort(key=lambda b: (str(b["library"]), str(b["file"])))
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "blas": blas,
        "numpy": {"version": np.__version__, **numpy_dispatch()},
        "cpu": cpu(),
        "os": f"{platform.system()} {platform.release()}",
        "architecture": platform.machine(),
        "versions": versions,
        "variables": {name: os.environ.get(name) for name in VARIABLES},
        "portable": portable,
    }


def numpy_dispatch() -> dict:
    """numpy's baseline, the dispatch targets of its build, and those this process uses."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]
    features = umath.__cpu_features__
    return {"baseline": list(umath.__cpu_baseline__), "targets": list(umath.__cpu_dispatch__),
            "dispatch": [t for t in umath.__cpu_dispatch__ if features.get(t)]}


#: A kernel, flag, dispatch target or library name: what becomes an environment variable of a child process.
TOKEN = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
#: The longest free text of an environment record (a CPU model, an OS release, a file name).
MAX_TEXT = 256


def check_record(env) -> str | None:
    """The first thing wrong with a recorded environment (manifest.json's ``environment``) as record() writes
    it, or None: every part of the kind and size record() gives it (a part may be absent: older runs), every
    name that can reach a child process's environment a short token. A run directory is data: a 3 MB or
    NUL-containing kernel name must not reach a command line."""
    if not isinstance(env, dict):
        return "it is not an object"
    for part, kind in RECORD_PARTS.items():
        if part in env and not isinstance(env[part], kind):
            return f"{part} is not {'an object' if kind is dict else kind.__name__}"
    checks = (_blas_problems(env.get("blas", [])), _numpy_problems(env.get("numpy", {})),
              _cpu_problems(env.get("cpu", {})), (_text(env.get(p), p) for p in ("os", "architecture")),
              _table_problems(env, "versions"), _table_problems(env, "variables"))
    return next((p for found in checks for p in found if p), None)


#: the parts of an environment record, and their kinds
RECORD_PARTS = {"blas": list, "numpy": dict, "cpu": dict, "versions": dict, "variables": dict, "os": str,
                "architecture": str, "portable": bool}


def _text(value, where: str, token: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{where} is not text"
    if token and not TOKEN.fullmatch(value):
        return f"{where} is not a name of at most 64 letters, digits or _.+-"
    if len(value) > MAX_TEXT or "\x00" in value:
        return f"{where} is longer than {MAX_TEXT} characters or holds a NUL byte"
    return None


def _listed(value, where: str, kind=dict, most: int = 64) -> str | None:
    if not isinstance(value, list) or len(value) > most or not all(isinstance(v, kind) for v in value):
        return f"{where} is not a list of at most {most} {'objects' if kind is dict else 'names'}"
    return None


def _blas_problems(blas):
    yield _listed(blas, "blas")
    for k, lib in enumerate(blas if isinstance(blas, list) else []):
        if not isinstance(lib, dict):
            return
        for key in ("library", "version", "kernel", "threading_layer", "file"):
            yield _text(lib.get(key), f"blas[{k}].{key}", token=key in ("library", "kernel"))
        threads = lib.get("threads")
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)):
            yield f"blas[{k}].threads is not a count"


def _numpy_problems(numpy):
    yield _text(numpy.get("version"), "numpy.version")
    for key in ("baseline", "targets", "dispatch"):
        names = numpy.get(key, [])
        yield _listed(names, f"numpy.{key}", str)
        yield from (_text(v, f"numpy.{key}", token=True) for v in names if isinstance(names, list))


def _cpu_problems(cpu_):
    yield _text(cpu_.get("model"), "cpu.model")
    flags = cpu_.get("vector_extensions", [])
    yield _listed(flags, "cpu.vector_extensions", str)
    yield from (_text(v, "cpu.vector_extensions", token=True) for v in flags if isinstance(flags, list))


def _table_problems(env, part):
    table = env.get(part, {})
    if len(table) > 64:
        yield f"{part} has more than 64 entries"
    for name, value in table.items():
        yield _text(name, f"{part} name", token=True) or _text(value, f"{part}.{name}")


def kernels(env: dict) -> list[str]:
    """The OpenBLAS kernels of a recorded environment."""
    return [b["kernel"] for b in env.get("blas", []) if b.get("library") == "openblas" and b.get("kernel")]


def pins(recorded: dict) -> dict[str, str]:
    """The variables that make this machine load the recorded kernel and numpy dispatch: OPENBLAS_CORETYPE
    the recorded kernel; NPY_DISABLE_CPU_FEATURES the dispatch targets the recorded run did not use."""
    if recorded.get("portable"):
        return dict(PORTABLE.get(recorded.get("architecture", ""), {}))
    out = {}
    found = kernels(recorded)
    if found:
        out["OPENBLAS_CORETYPE"] = found[0]
    numpy = recorded.get("numpy", {})
    left_out = [t for t in numpy.get("targets", []) if t not in numpy.get("dispatch", [])]
    if left_out:  # the targets this numpy build has that the run did not use (its CPU lacked or disabled them)
        out["NPY_DISABLE_CPU_FEATURES"] = " ".join(left_out)
    return out


def lacking(kernel: str, flags: list[str]) -> list[str]:
    """The CPU flags a kernel needs that this CPU lacks (none for a kernel not in the table)."""
    return [f for f in KERNEL_NEEDS.get(kernel, ()) if f not in flags]


def differences(recorded: dict, here: dict) -> list[str]:
    """One line per part of the environment that differs, naming both values."""
    lines = []
    if recorded.get("architecture") != here.get("architecture"):
        lines.append(f"architecture: recorded {recorded.get('architecture')}, here {here.get('architecture')}")
    for name, version in recorded.get("versions", {}).items():
        if here.get("versions", {}).get(name) != version:
            lines.append(f"{name}: recorded {version}, here {here.get('versions', {}).get(name)}")
    rec_blas = [(b.get("library"), b.get("version")) for b in recorded.get("blas", [])]
    here_blas = [(b.get("library"), b.get("version")) for b in here.get("blas", [])]
    if rec_blas != here_blas:
        lines.append(f"BLAS: recorded {_libs(rec_blas)}, here {_libs(here_blas)}")
    if kernels(recorded) != kernels(here):
        lines.append(f"OpenBLAS kernel: recorded {', '.join(kernels(recorded)) or 'none'}, here "
                     f"{', '.join(kernels(here)) or 'none'}")
    rec_np, here_np = recorded.get("numpy", {}), here.get("numpy", {})
    if rec_np.get("dispatch") != here_np.get("dispatch"):
        lines.append(f"numpy dispatch: recorded {' '.join(rec_np.get('dispatch') or []) or 'baseline only'}, "
                     f"here {' '.join(here_np.get('dispatch') or []) or 'baseline only'}")
    return lines


def recreatable(recorded: dict, here: dict) -> list[str]:
    """Why this machine cannot re-create the recorded environment (empty when it can): another architecture,
    other library versions, or a CPU without the recorded kernel's instructions."""
    reasons = []
    if recorded.get("architecture") != here.get("architecture"):
        reasons.append(f"another architecture ({here.get('architecture')}, the run's is "
                       f"{recorded.get('architecture')})")
    changed = [f"{n} {v} (here {here.get('versions', {}).get(n)})" for n, v in recorded.get("versions", {}).items()
               if here.get("versions", {}).get(n) != v]
    if changed:
        reasons.append("other library versions: the run used " + ", ".join(changed))
    flags = here.get("cpu", {}).get("vector_extensions", [])
    for kernel in kernels(recorded):
        missing = lacking(kernel, flags)
        if missing:
            reasons.append(f"this CPU lacks what the {kernel} kernel needs ({', '.join(missing)})")
    return reasons


def _libs(pairs) -> str:
    return ", ".join(f"{lib} {version}" for lib, version in pairs) or "none"


def numpy_loaded() -> bool:
    """Whether this process has loaded numpy (then its kernels are fixed, and a child process is needed)."""
    return "numpy" in sys.modules


def portable_variables() -> dict[str, str]:
    """The variables of the portable mode on this machine's architecture (an InputError where there is none)."""
    from ..errors import InputError

    wanted = PORTABLE.get(platform.machine())
    if wanted is None:
        raise InputError(f"sweep.portable: no portable kernels are known for {platform.machine()} "
                         f"(only for {', '.join(sorted(PORTABLE))})")
    return dict(wanted)


def in_force(wanted: dict[str, str]) -> bool:
    """Whether this process runs with the kernels ``wanted`` names: before numpy loads, whether the variables
    are set; after, whether threadpoolctl and numpy say the kernel and the dispatch are those."""
    if not numpy_loaded():  # the variables decide when numpy and OpenBLAS load
        return all(os.environ.get(k) == v for k, v in wanted.items())
    here = record()  # loaded already: what they chose then is what counts
    kernel = wanted.get("OPENBLAS_CORETYPE")
    if kernel and any(k.lower() != kernel.lower() for k in kernels(here)):
        return False
    disabled = set(wanted.get("NPY_DISABLE_CPU_FEATURES", "").split())
    return not disabled & set(here["numpy"]["dispatch"])


def check_portable() -> None:
    """Before a portable sweep trains: its kernels must be in force in this process (an InputError if not)."""
    from ..errors import InputError

    wanted = portable_variables()
    if not in_force(wanted):
        settings = " ".join(f"{k}='{v}'" for k, v in wanted.items())
        raise InputError("sweep.portable needs its kernels chosen before numpy loads: run `l2cli sweep --portable` "
                         f"(a process of its own), or start Python with {settings}")


def flat(env: dict, prefix: str = "") -> dict[str, str]:
    """A recorded environment as 'part' -> text rows: blas[0].kernel, numpy.dispatch, cpu.model, versions.numpy…"""
    out = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for k, item in enumerate(value):
                out.update(flat(item, f"{name}[{k}]."))
        elif isinstance(value, list):
            out[name] = " ".join(map(str, value))
        else:
            out[name] = "" if value is None else str(value)
    return out
