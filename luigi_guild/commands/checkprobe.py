"""Helper process of ``guild check --tensorflow/--pytorch``: import the framework and print its lines.

Run as ``python -m luigi_guild.commands.checkprobe tensorflow|pytorch``, so
the framework (slow to import, noisy on stderr) never loads into ``guild``
itself. Prints ``name: value`` lines in ``guild check``'s layout; exits 1
when the framework is present but broken.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any


def _line(name: str, value: Any) -> None:
    print("%-27s%s" % (name + ":", value))


def tensorflow() -> int:
    """TensorFlow's version, CUDA build and GPU, then the CUDA libraries the import loaded."""
    rc = 0
    try:
        import tensorflow as tf  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        if getattr(e, "name", None) == "tensorflow":
            _line("tensorflow_version", "not installed")
        else:
            _line("tensorflow_version", "not installed (%s)" % e)
            rc = 1
    else:
        version = getattr(tf, "__version__", None)
        if version is None:
            version, rc = "ERROR (no __version__)", 1
        _line("tensorflow_version", version)
        cuda = bool(tf.test.is_built_with_cuda())
        _line("tensorflow_cuda_support", "yes" if cuda else "no")
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            _line("tensorflow_gpu_available", "yes")
        else:
            _line("tensorflow_gpu_available", "NO (CUDA support is enabled but GPU is not available)" if cuda else "no")
    _loaded_libs()
    return rc


def _loaded_libs() -> None:
    """``libcuda``/``libcudnn`` versions mapped into this process (``not loaded`` when absent)."""
    try:
        with open("/proc/%d/maps" % os.getpid()) as f:
            maps = f.read()
    except OSError:
        return
    for lib in ("libcuda", "libcudnn"):
        m = re.search(re.escape(lib) + r"\.so\.(\S+)", maps)
        _line(lib + "_version", m.group(1) if m else "not loaded")


def pytorch() -> int:
    """PyTorch's version, its CUDA version, whether CUDA is usable and the devices."""
    try:
        import torch  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        if getattr(e, "name", None) == "torch":
            _line("pytorch_version", "not installed")
            return 0
        _line("pytorch_version", "not installed (%s)" % e)
        return 1
    _line("pytorch_version", torch.version.__version__)
    _line("pytorch_cuda_version", torch.version.cuda)
    available = bool(torch.cuda.is_available())
    _line("pytorch_cuda_available", "yes" if available else "no")
    count = torch.cuda.device_count() if available else 0
    devices = ", ".join("%s (%i)" % (torch.cuda.get_device_name(i), i) for i in range(count))
    _line("pytorch_cuda_devices", devices or "none")
    return 0


def main(argv: list[str]) -> int:
    probes = {"tensorflow": tensorflow, "pytorch": pytorch}
    if len(argv) != 1 or argv[0] not in probes:
        sys.stderr.write("usage: python -m luigi_guild.commands.checkprobe tensorflow|pytorch\n")
        return 2
    return probes[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
