"""Turning Python, numpy, torch, JAX and TensorFlow values into floats, without importing frameworks.

Frameworks are recognised through ``sys.modules``: if the user never imported torch, no value can be
a torch tensor, so there is nothing to check and nothing to import.

Device values (a CUDA tensor, any JAX array, a TensorFlow tensor) are never converted here: reading
them forces the caller to wait for the device. They are returned as a ``Deferred`` handle that the
writer thread converts in batches (``resolve_deferred``).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

MAX_KEY_LENGTH = 256
_KEY_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f]")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Concrete torch / JAX array types met so far, with their converter (set by _framework_scalar).
_DEVICE_TYPES: dict[type, Callable[[str, Any], float | Deferred]] = {}
# Array types whose every value is read later, with their Deferred kind: ``Run.log`` takes their
# 0-d values on its fast path without a converter call (JAX arrays; a torch tensor may be on CPU).
DEFERRED_TYPES: dict[type, str] = {}
# Tensor types whose one-element CPU values ``Run.log`` reads on its fast path (torch.Tensor).
CPU_READ_TYPES: set[type] = set()


class Deferred:
    """A detached device value read later, once computed: by the writer thread, or for JAX on
    CPU by a later ``log()`` call (``read_if_ready``); the caller never waits for it."""

    __slots__ = ("handle", "kind", "value")

    def __init__(self, handle: Any, kind: str) -> None:
        # detached torch tensor, JAX array or TF tensor with one element; for "jaxvec", a 1-d
        # JAX array holding the values of consecutive points (packed metrics)
        self.handle = handle
        self.kind = kind  # "torch" | "jax" | "jaxvec" | "tf"
        # Once read: the float (a list of floats for "jaxvec"), then ``handle`` becomes None (in
        # that order, so a thread that finds no handle finds the value) and the array can go.
        self.value: float | list[float] | None = None

    def __repr__(self) -> str:
        return f"Deferred({self.kind})"


def check_key(key: object, what: str = "metric") -> str:
    """Validate a metric/histogram/text key and return it; raise a message that names the key."""
    if not isinstance(key, str):
        raise TypeError(f"{what} key {key!r} must be a str, not {type(key).__name__}")
    if not key or key.strip() == "":
        raise ValueError(f"{what} key {key!r} is empty; use a name such as 'train/loss'")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"{what} key {key[:40]!r}... is {len(key)} characters; keep keys under {MAX_KEY_LENGTH}"
        )
    if _KEY_BAD_CHARS.search(key):
        raise ValueError(f"{what} key {key!r} contains control characters")
    if not key.isascii():
        check_utf8(key, f"{what} key {key!r}")
    return key


def check_utf8(text: str, what: str) -> str:
    """Refuse a string the store cannot hold: a lone surrogate, as ``os.fsdecode`` gives for a
    file name that is not UTF-8. (Replacing it would store a key or text the program never
    logged, and two such names could become one.)"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} is not valid UTF-8 text (a lone surrogate {text[exc.start]!r} at "
            f"{exc.start}, e.g. from os.fsdecode of a non-UTF-8 name); "
            "decode it with errors='replace'"
        ) from None
    return text


_LEAF_TYPES = frozenset((float, int, bool))


def flatten_nested(metrics: Mapping[str, Any], sep: str = "/") -> dict[str, Any]:
    """``{'train': {'loss': x}}`` -> ``{'train/loss': x}``: nested mappings become 'a/b' keys.

    Leaves are returned as they are (not converted); an empty mapping adds nothing. A key met
    twice (``'a/b'`` beside ``{'a': {'b': ...}}``) or a non-string key raises, naming it.
    """
    out: dict[str, Any] = {}
    _flatten_into(out, "", metrics, sep, 0)
    return out


MAX_NESTING = 64  # levels of nested metric dicts (deeper ones are a mistake, or a dict in itself)


def _flatten_into(
    out: dict[str, Any], prefix: str, metrics: Mapping[str, Any], sep: str, depth: int
) -> None:
    if depth >= MAX_NESTING:
        raise ValueError(
            f"metrics nested more than {MAX_NESTING} levels deep (at {prefix[:60]!r}...); "
            "is a dict inside itself?"
        )
    for key, value in metrics.items():
        if not isinstance(key, str):
            check_key(key)  # raises the usual message
        full = prefix + key
        kind = type(value)
        # isinstance(x, Mapping) is an ABC check (~1 µs on a JAX array): skip it for known leaves
        if kind is dict or (
            kind not in _LEAF_TYPES and kind not in DEFERRED_TYPES and kind not in CPU_READ_TYPES
            and isinstance(value, Mapping)
        ):
            _flatten_into(out, full + sep, value, sep, depth + 1)  # an empty one adds nothing
        elif full in out:
            raise ValueError(f"metric {full!r} is given twice (as a key and through nesting)")
        else:
            out[full] = value


def check_step(step: object) -> int:
    """Validate a step: an integer (Python or numpy) within int64."""
    if type(step) is int:
        value = step
    elif isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)):
        raise TypeError(f"step must be an integer, not {type(step).__name__} ({step!r})")
    else:
        value = int(step)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"step {value} does not fit in a 64-bit integer")
    return value


def to_scalar(key: str, value: Any) -> float | Deferred:
    """Convert one logged value to a float, or to a Deferred handle for device values.

    Raises:
        TypeError: the value is not a number (a string, a dict, None...).
        ValueError: an array or tensor with more than one element.
    """
    t = type(value)
    if t is float:
        return value
    if t is int or t is bool:
        return _int_to_float(key, value)
    convert = _DEVICE_TYPES.get(t)  # seen before: skip the isinstance chain (logged every step)
    if convert is not None:
        return convert(key, value)
    if isinstance(value, (float, int, np.integer, np.floating, np.bool_)):
        return float(value)
    if isinstance(value, np.ndarray):
        _check_size(key, value.size, value.shape)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"metric {key!r}: array of dtype {value.dtype} is not numeric")
        return float(value.reshape(()))
    handled = _framework_scalar(key, value)
    if handled is not None:
        return handled
    if isinstance(value, (str, bytes)):
        raise TypeError(f"metric {key!r}: got a string ({value!r:.40}); log text with log_text()")
    if isinstance(value, (list, tuple, set)):
        raise TypeError(
            f"metric {key!r}: got a {type(value).__name__}; log one number per key "
            "(nested dicts of numbers are fine; for a list, use keys such as 'name/0')"
        )
    if isinstance(value, Mapping):
        raise TypeError(f"metric {key!r}: got a dict where a number belongs")
    if value is None:
        raise TypeError(f"metric {key!r}: got None; log a number")
    if hasattr(value, "__float__"):
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"metric {key!r}: cannot convert {type(value).__name__} to float: {exc}"
            ) from None
    raise TypeError(f"metric {key!r}: cannot log a {type(value).__name__}; log a number")


def _int_to_float(key: str, value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"metric {key!r}: integer {value} is too large for a float64") from None


def _check_size(key: str, size: int, shape: Any) -> None:
    if size != 1:
        raise ValueError(
            f"metric {key!r}: expected a single number, got an array of shape {tuple(shape)}; "
            "reduce it (mean, sum) or log it with log_histogram()"
        )


def _torch_scalar(key: str, value: Any) -> float | Deferred:
    if value.numel() != 1:
        _check_size(key, value.numel(), value.shape)
    if value.is_complex():
        raise TypeError(f"metric {key!r}: got a complex tensor; log its real part or abs()")
    if value.is_cpu:  # no device to wait for: reading now is cheapest (~1 µs)
        return float(value.item())
    return Deferred(value.detach(), "torch")


def read_cpu_scalar(value: Any) -> float | None:
    """The float of a one-element real CPU torch tensor; None for anything else (the slow path
    then converts it or says what is wrong). Two tensor calls: each costs microseconds when a
    training step has just pushed torch's code out of the caches."""
    if not value.is_cpu:
        return None
    try:
        number = value.item()  # raises for several elements, an empty or a meta tensor
    except Exception:
        return None
    kind = type(number)
    if kind is float:
        return number
    return float(number) if kind is int or kind is bool else None  # complex: the slow path


def _jax_scalar(key: str, value: Any) -> Deferred:
    if value.ndim:
        _check_size(key, value.size, value.shape)
    return Deferred(value, "jax")  # dispatch is async even on CPU: never block here


def _framework_scalar(key: str, value: Any) -> float | Deferred | None:
    """Handle torch / JAX / TensorFlow values; None when the value is none of them."""
    modules = sys.modules
    torch = modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if type(value) is torch.Tensor or type(value) is torch.nn.Parameter:
            _DEVICE_TYPES[type(value)] = _torch_scalar  # not subclasses: they may override item()
            CPU_READ_TYPES.add(type(value))
        return _torch_scalar(key, value)
    jax = modules.get("jax")
    if jax is not None and isinstance(value, jax.Array):
        _DEVICE_TYPES[type(value)] = _jax_scalar
        if type(value).__name__ == "ArrayImpl":  # not tracers or user subclasses
            DEFERRED_TYPES[type(value)] = "jax"
        return _jax_scalar(key, value)
    keras = modules.get("keras")
    if keras is not None and isinstance(value, getattr(keras, "Variable", ())):
        # A Keras 3 variable wraps its backend's tensor: hand that on rather than reading it here.
        return _framework_scalar(key, value.value)
    tf = modules.get("tensorflow")
    if tf is not None and isinstance(value, (tf.Tensor, tf.Variable)):
        size = value.shape.num_elements()
        _check_size(key, size if size is not None else -1, value.shape)
        if isinstance(value, tf.Variable):
            value = value.read_value()  # a snapshot: later assign() must not change what we log
        return Deferred(value, "tf")
    return None


JAX_KINDS = frozenset(("jax", "jaxvec"))


def is_ready(item: Deferred) -> bool:
    """Whether reading the handle now would not wait for the device (JAX can tell; for torch and
    TensorFlow handles this says True: the reader waits off the training thread). A value
    already read is ready."""
    handle = item.handle
    if handle is not None and item.kind in JAX_KINDS:
        try:
            # is_ready() of a deleted (donated) array crashes jaxlib 0.10 (a segfault); reading
            # one raises at once, which gives NaN
            return bool(handle.is_deleted() or handle.is_ready())
        except Exception:
            return True
    return True


def read_if_ready(item: Deferred) -> bool:
    """Read a JAX value on the caller's thread if the device has computed it (False if not).

    For JAX on CPU, where reading a computed array is a memory read (~1 µs) and the training
    loop's own thread reading it slowed the loop less than handing it to the writer thread.
    A handle that cannot be read (deleted, donated) is left for the writer, which stores NaN
    and says why.
    """
    handle = item.handle
    if handle is None:
        return True
    if not is_ready(item):
        return False
    try:
        item.value = _jax_host_value(item.kind, handle)
    except Exception:  # deleted or donated: left for the writer
        return True
    item.handle = None  # after the value: see Deferred
    return True


def resolve_deferred(items: Sequence[Deferred]) -> list[Any]:
    """Read the float value of device handles, batching per framework: one wait per batch.

    Each item keeps its value and lets go of its handle. A value that cannot be read (a
    deleted/donated buffer) becomes NaN rather than losing the batch. Another thread may read
    an item meanwhile (``read_if_ready``): either reads the same value.
    """
    out: list[Any] = [math.nan] * len(items)  # a list of floats for a "jaxvec" item
    by_kind: dict[str, tuple[list[int], list[Any]]] = {}
    for i, item in enumerate(items):
        handle = item.handle  # read once: the other thread may set it to None now
        if handle is None:
            out[i] = item.value  # type: ignore[assignment]  # set before the handle went
        else:
            idx, handles = by_kind.setdefault(item.kind, ([], []))
            idx.append(i)
            handles.append(handle)
    for kind, (idx, handles) in by_kind.items():
        try:
            values = _resolve_batch(kind, handles)
        except Exception:  # one bad handle: fall back to one at a time
            values = [_resolve_one(kind, h) for h in handles]
        for i, v in zip(idx, values):
            out[i] = v
            items[i].value = v
            items[i].handle = None
    return out


def _resolve_batch(kind: str, handles: list[Any]) -> list[Any]:
    if kind == "torch":
        torch = sys.modules["torch"]
        by_device: dict[Any, list[int]] = {}
        for i, h in enumerate(handles):
            by_device.setdefault(h.device, []).append(i)
        result = [math.nan] * len(handles)
        for idx in by_device.values():
            stacked = torch.stack([handles[i].reshape(()).to(torch.float64) for i in idx])
            for i, v in zip(idx, stacked.cpu().tolist()):
                result[i] = float(v)
        return result
    if kind in JAX_KINDS:
        # On an accelerator, start every device-to-host copy first, then read: one wait overall.
        # On CPU there is nothing to copy (and copy_to_host_async costs ~5 µs a value): read
        # directly, ~1.2 µs a value where jax.device_get(list) took ~15 µs.
        if _jax_platform(handles[0]) != "cpu":
            for h in handles:
                h.copy_to_host_async()
        return [_jax_host_value(kind, h) for h in handles]
    return [float(np.asarray(h).item()) for h in handles]


def _jax_host_value(kind: str, handle: Any) -> float | list[float]:
    """A computed JAX array's value: a float, or a list of them for packed metrics ("jaxvec")."""
    host = np.asarray(handle)
    # .item() of the host array: 1.15 µs a value on CPU against 1.56 for float(a.reshape(()))
    return host.tolist() if kind == "jaxvec" else float(host.item())


def is_jax_on_cpu(array: Any) -> bool:
    """Whether a JAX array lives on the host CPU (reading it once computed is a memory read)."""
    return _jax_platform(array) == "cpu"


def _jax_platform(array: Any) -> str:
    try:
        return next(iter(array.devices())).platform
    except Exception:  # an unusual array type: assume a device, the safe choice
        return "device"


_unreadable_said = False


def _resolve_one(kind: str, handle: Any) -> Any:
    try:
        return _resolve_batch(kind, [handle])[0]
    except Exception as exc:
        _say_unreadable(kind, exc)
        return math.nan


def _say_unreadable(kind: str, exc: Exception) -> None:
    """Once per process: a logged value could not be read (stored as NaN), and the likely why."""
    global _unreadable_said
    if _unreadable_said:
        return
    _unreadable_said = True
    why = ""
    if kind in JAX_KINDS and "delete" in str(exc).lower():
        why = (" The array was deleted before the writer read it: most likely donated to a later "
               "jitted call (donate_argnums). Log the values a step returns, not donated state.")
    print(f"tracker: a logged {kind} value could not be read and is stored as NaN "
          f"({type(exc).__name__}: {str(exc)[:120]}).{why}", file=sys.stderr)


def to_numpy(value: Any, what: str = "histogram") -> np.ndarray:
    """Return any array-like (list, numpy, torch, JAX, TF) as a flat float64 numpy array."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float64).numpy()
    elif hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.ndarray):
        value = value.numpy()  # TensorFlow tensors and variables
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: cannot convert {type(value).__name__} to numbers: {exc}") from None
    return arr.reshape(-1)
