"""Values across the sandbox boundary: plain JSON plus raw bytes for arrays; never pickle.

:func:`encode` turns a value into JSON-able data; :func:`decode` turns it back, checking
everything (tags, dtypes, shapes, sizes, depth), so a hostile worker can only send
*values*: nothing that runs code when it is read. What travels:

- ``None``, ``bool``, ``int``, ``str`` as themselves; a ``float`` as ``{"float": repr}``
  (NaN and infinities survive); a ``complex`` as ``{"complex": [re, im]}``;
- a list as a JSON array; ``{"tuple": [...]}``; ``{"dict": [[key, value], ...]}``;
  ``{"bytes": base64}``;
- ``{"tensor": {"dtype", "shape", "data", "grad"}}``: a torch tensor's raw bytes (any
  subclass arrives as a plain ``torch.Tensor``; ``grad`` is its ``requires_grad``);
- ``{"ndarray": {"dtype", "shape", "data"}}`` for numeric and bool numpy arrays,
  ``{"npscalar": {"dtype", "data"}}`` for numpy scalars;
- ``{"dtype": "float32"}`` (a torch dtype), ``{"size": [...]}`` (a ``torch.Size``);
- ``{"handle": n}``: an object kept on the worker's side (a model built there);
- anything else as ``{"unreadable": "TypeName"}``, which decodes to :class:`Unreadable`:
  a test then fails with "expected a tensor, got TypeName".

Limits: ``MAX_BYTES`` of array data per value, ``MAX_ITEMS`` containers' items, ``MAX_DEPTH``.
"""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import torch

__all__ = ["encode", "decode", "Unreadable", "Handle", "CodecError", "MAX_BYTES", "MAX_ITEMS", "MAX_DEPTH",
           "describe"]

MAX_BYTES = 64 * 2**20  # bytes of array data in one value
MAX_ITEMS = 1_000_000  # items of lists, tuples and dicts in one value
MAX_DEPTH = 32  # nesting of containers
MAX_STR = 4 * 2**20  # characters of one string

_TORCH_DTYPES = {str(d).replace("torch.", ""): d for d in (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16, torch.bfloat16,
    torch.float32, torch.float64, torch.complex64, torch.complex128)}
_NUMPY_KINDS = "biufc"  # bool, signed, unsigned, float, complex: no objects, strings or records


class CodecError(ValueError):
    """A value cannot be encoded, or received data is not a valid encoded value."""


class Unreadable:
    """Stands for a value the other side could not send (its type name is kept for messages)."""

    def __init__(self, type_name: str):
        self.type_name = str(type_name)[:100]

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Unreadable) and other.type_name == self.type_name

    __hash__ = None


class Handle:
    """An object kept on the worker's side, named by a number (models built there)."""

    def __init__(self, number: int, kind: str = ""):
        self.number, self.kind = int(number), kind

    def __repr__(self) -> str:
        return f"<{self.kind or 'object'} #{self.number}>"


def _type_name(value: Any) -> str:
    try:
        return type(value).__qualname__
    except Exception:  # pragma: no cover - a metaclass that fights back
        return "object"


class _Budget:
    def __init__(self):
        self.bytes, self.items = 0, 0

    def spend(self, n_bytes: int = 0, n_items: int = 0) -> None:
        self.bytes += n_bytes
        self.items += n_items
        if self.bytes > MAX_BYTES:
            raise CodecError(f"the value holds more than {MAX_BYTES // 2**20} MiB of array data")
        if self.items > MAX_ITEMS:
            raise CodecError(f"the value holds more than {MAX_ITEMS:,} items")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _encode_tensor(t: torch.Tensor, budget: _Budget) -> dict:
    plain = torch.Tensor.as_subclass(t, torch.Tensor)  # a subclass's own methods are not used from here on
    grad = bool(plain.requires_grad)
    plain = plain.detach()
    if plain.is_sparse or plain.layout != torch.strided:
        plain = plain.to_dense()
    if plain.device.type != "cpu":
        plain = plain.cpu()
    name = str(plain.dtype).replace("torch.", "")
    if name not in _TORCH_DTYPES:
        return {"unreadable": f"torch.Tensor of dtype {name}"}
    plain = plain.contiguous()
    n_bytes = plain.numel() * plain.element_size()
    budget.spend(n_bytes)
    data = plain.reshape(-1).view(torch.uint8).numpy().tobytes() if plain.numel() else b""
    return {"tensor": {"dtype": name, "shape": list(plain.shape), "data": _b64(data), "grad": grad}}


def _encode_ndarray(a: np.ndarray, budget: _Budget) -> dict:
    a = np.asarray(a)  # a subclass becomes a plain array
    if a.dtype.kind not in _NUMPY_KINDS or a.dtype.fields is not None:
        return {"unreadable": f"numpy array of dtype {a.dtype}"}
    a = np.ascontiguousarray(a)
    budget.spend(a.nbytes)
    return {"ndarray": {"dtype": a.dtype.str, "shape": list(a.shape), "data": _b64(a.tobytes())}}


def encode(value: Any, _budget: _Budget | None = None, _depth: int = 0) -> Any:
    """JSON-able data for ``value`` (see the module docstring). Raises CodecError past the limits."""
    budget = _budget or _Budget()
    if _depth > MAX_DEPTH:
        raise CodecError(f"the value is nested more than {MAX_DEPTH} levels deep")
    if value is None or type(value) is bool:
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        return {"float": repr(value)}
    if isinstance(value, str):
        value = str.__str__(value)  # a subclass becomes a plain str
        if len(value) > MAX_STR:
            raise CodecError(f"a string of {len(value):,} characters is over the limit")
        budget.spend(len(value))
        return value
    if isinstance(value, Handle):
        return {"handle": value.number}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, budget)
    if isinstance(value, np.ndarray):
        return _encode_ndarray(value, budget)
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in _NUMPY_KINDS:
        a = np.asarray(value)
        return {"npscalar": {"dtype": a.dtype.str, "data": _b64(a.tobytes())}}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).replace("torch.", "")}
    if type(value) is torch.Size:
        return {"size": [int(v) for v in value]}
    if type(value) is complex:
        return {"complex": [repr(value.real), repr(value.imag)]}
    if type(value) is bytes:
        budget.spend(len(value))
        return {"bytes": _b64(value)}
    if isinstance(value, (list, tuple)):  # subclasses (a NamedTuple) travel as their items
        items = list(list.__iter__(value)) if isinstance(value, list) else list(tuple.__iter__(value))
        budget.spend(n_items=len(items))
        encoded = [encode(v, budget, _depth + 1) for v in items]
        return encoded if isinstance(value, list) else {"tuple": encoded}
    if isinstance(value, dict):
        pairs = list(dict.items(value))
        budget.spend(n_items=len(pairs))
        return {"dict": [[encode(k, budget, _depth + 1), encode(v, budget, _depth + 1)] for k, v in pairs]}
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # int/float subclasses: their plain value
        return int.__index__(value) if isinstance(value, int) else {"float": repr(float.__float__(value))}
    return {"unreadable": _type_name(value)}


# ----------------------------------------------------------------------------- decoding


def _bytes(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise CodecError(f"{what}: data must be base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise CodecError(f"{what}: data is not valid base64") from None


def _shape(shape: Any, what: str) -> tuple[int, ...]:
    if not isinstance(shape, list) or len(shape) > 64 or not all(type(s) is int and s >= 0 for s in shape):
        raise CodecError(f"{what}: bad shape")
    return tuple(shape)


def _decode_tensor(spec: Any, budget: _Budget) -> torch.Tensor:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data", "grad"}:
        raise CodecError("tensor: bad fields")
    dtype = _TORCH_DTYPES.get(spec["dtype"]) if isinstance(spec["dtype"], str) else None
    if dtype is None:
        raise CodecError(f"tensor: dtype {spec['dtype']!r} not allowed")
    shape = _shape(spec["shape"], "tensor")
    data = _bytes(spec["data"], "tensor")
    n = math.prod(shape)
    size = torch.empty((), dtype=dtype).element_size()
    if len(data) != n * size:
        raise CodecError("tensor: data length does not match shape and dtype")
    budget.spend(len(data))
    if n == 0:
        return torch.empty(shape, dtype=dtype)
    t = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape)
    return t.requires_grad_(True) if spec["grad"] is True and t.is_floating_point() else t


def _decode_ndarray(spec: Any, budget: _Budget, scalar: bool = False):
    fields = {"dtype", "data"} if scalar else {"dtype", "shape", "data"}
    if not isinstance(spec, dict) or set(spec) != fields or not isinstance(spec["dtype"], str):
        raise CodecError("ndarray: bad fields")
    try:
        dtype = np.dtype(spec["dtype"]) if len(spec["dtype"]) <= 4 else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in _NUMPY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CodecError(f"ndarray: dtype {spec['dtype']!r} not allowed")
    shape = () if scalar else _shape(spec["shape"], "ndarray")
    data = _bytes(spec["data"], "ndarray")
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise CodecError("ndarray: data length does not match shape and dtype")
    budget.spend(len(data))
    a = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    return a[()] if scalar else a


def _float(text: Any, what: str) -> float:
    if not isinstance(text, str) or len(text) > 40:
        raise CodecError(f"{what}: bad number")
    try:
        return float(text)
    except ValueError:
        raise CodecError(f"{what}: bad number") from None


def decode(data: Any, handles: dict | None = None, _budget: _Budget | None = None, _depth: int = 0) -> Any:
    """The value encoded in ``data``; CodecError for anything malformed or over the limits.

    ``handles`` maps handle numbers to objects (the worker's side); without it a handle
    decodes to a :class:`Handle`.
    """
    budget = _budget or _Budget()
    if _depth > MAX_DEPTH:
        raise CodecError(f"nested more than {MAX_DEPTH} levels deep")
    if data is None or type(data) in (bool, int):
        return data
    if type(data) is str:
        if len(data) > MAX_STR:
            raise CodecError("string over the limit")
        budget.spend(len(data))
        return data
    if type(data) is list:
        budget.spend(n_items=len(data))
        return [decode(v, handles, budget, _depth + 1) for v in data]
    if type(data) is not dict or len(data) != 1:
        raise CodecError(f"unexpected {type(data).__name__} in encoded data")
    (tag, spec), = data.items()
    if tag == "float":
        return _float(spec, "float")
    if tag == "tuple":
        if type(spec) is not list:
            raise CodecError("tuple: bad items")
        budget.spend(n_items=len(spec))
        return tuple(decode(v, handles, budget, _depth + 1) for v in spec)
    if tag == "dict":
        if type(spec) is not list or not all(type(kv) is list and len(kv) == 2 for kv in spec):
            raise CodecError("dict: bad items")
        budget.spend(n_items=len(spec))
        out = {}
        for k, v in spec:
            key = decode(k, handles, budget, _depth + 1)
            try:
                hash(key)
            except TypeError:
                raise CodecError("dict: a key is not hashable") from None
            out[key] = decode(v, handles, budget, _depth + 1)
        return out
    if tag == "tensor":
        return _decode_tensor(spec, budget)
    if tag == "ndarray":
        return _decode_ndarray(spec, budget)
    if tag == "npscalar":
        return _decode_ndarray(spec, budget, scalar=True)
    if tag == "dtype":
        if spec not in _TORCH_DTYPES:
            raise CodecError(f"dtype {spec!r} not allowed")
        return _TORCH_DTYPES[spec]
    if tag == "size":
        return torch.Size(_shape(spec, "size"))
    if tag == "complex":
        if type(spec) is not list or len(spec) != 2:
            raise CodecError("complex: bad parts")
        return complex(_float(spec[0], "complex"), _float(spec[1], "complex"))
    if tag == "bytes":
        raw = _bytes(spec, "bytes")
        budget.spend(len(raw))
        return raw
    if tag == "handle":
        if type(spec) is not int:
            raise CodecError("handle: bad number")
        if handles is None:
            return Handle(spec)
        if spec not in handles:
            raise CodecError(f"handle {spec} is unknown")
        return handles[spec]
    if tag == "unreadable":
        return Unreadable(spec if isinstance(spec, str) else "object")
    raise CodecError(f"unknown tag {str(tag)[:40]!r}")


def describe(value: Any) -> str:
    """A short description of a value for messages: ``<(4, 7) float32>``, ``3.5``, ``list of 3``."""
    if isinstance(value, torch.Tensor):
        return f"<{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}>"
    if isinstance(value, np.ndarray):
        return f"<array {value.shape} {value.dtype}>"
    if isinstance(value, Handle):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
