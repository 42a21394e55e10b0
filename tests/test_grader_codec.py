"""course_grader.worker.codec: values cross the sandbox boundary as data, never as code.

What the worker sends is decoded by the grader; these tests check that every value a test
needs survives the trip exactly, that hostile or malformed data is refused with CodecError
(never executed, never a crash), and that tricks in a returned value do not travel.
"""
from __future__ import annotations

import base64
import math
from collections import namedtuple

import numpy as np
import pytest
import torch

from course_grader.worker.codec import MAX_BYTES, CodecError, Handle, Unreadable, decode, encode
from course_grader.worker.protocol import MAX_FRAME, FrameReader, ProtocolError, read_frame, write_frame


def roundtrip(value):
    import json

    return decode(json.loads(json.dumps(encode(value), allow_nan=False)))


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**80, 1.5, "text", "", b"\x00bytes", [1, [2, (3, 4)]], (1, "a"), {"a": 1, 2: [3]},
    torch.float32, torch.bfloat16, torch.Size([2, 3]), 3 + 4j,
])
def test_plain_values_survive(value):
    assert roundtrip(value) == value and type(roundtrip(value)) is type(value)


def test_floats_keep_nan_and_infinities():
    out = roundtrip([float("nan"), float("inf"), -float("inf"), -0.0, 1e-308])
    assert math.isnan(out[0]) and out[1:3] == [math.inf, -math.inf] and math.copysign(1, out[3]) == -1
    assert out[4] == 1e-308


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int64, torch.int8,
                                   torch.uint8, torch.bool, torch.complex64])
def test_tensors_survive_to_the_bit(dtype):
    x = (torch.randn(3, 4, 5) * 100).to(dtype)
    y = roundtrip(x)
    assert type(y) is torch.Tensor and y.dtype == dtype and y.shape == x.shape
    assert torch.equal(y.view(torch.uint8) if dtype != torch.bool else y, x.view(torch.uint8) if dtype != torch.bool else x)


def test_non_contiguous_empty_and_scalar_tensors():
    x = torch.arange(24.0).reshape(2, 3, 4).transpose(0, 2)
    assert torch.equal(roundtrip(x), x)
    assert roundtrip(torch.zeros(0, 3)).shape == (0, 3)
    assert roundtrip(torch.tensor(2.5)).shape == ()
    assert roundtrip(torch.ones(2, requires_grad=True)).requires_grad


def test_numpy_arrays_and_scalars():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(roundtrip(a), a) and roundtrip(a).dtype == np.float32
    s = roundtrip(np.float64(2.5))
    assert isinstance(s, np.float64) and s == 2.5
    assert isinstance(roundtrip(np.int64(3)), np.int64)


def test_a_tensor_subclass_arrives_as_a_plain_tensor_with_its_data():
    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in (torch.Tensor.__eq__, torch.allclose, torch.equal, torch.isclose):
                return True
            return super().__torch_function__(func, types, args, kwargs or {})

    x = torch.Tensor._make_subclass(Liar, torch.zeros(3))
    y = roundtrip(x)
    assert type(y) is torch.Tensor and not torch.allclose(y, torch.ones(3))


def test_unknown_objects_become_unreadable_and_compare_false():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    out = roundtrip(AlwaysEqual())
    assert isinstance(out, Unreadable) and out.type_name.endswith("AlwaysEqual")
    assert out != torch.zeros(1) and out != 0
    assert isinstance(roundtrip(np.array(["a"], dtype=object)), Unreadable)
    assert isinstance(roundtrip(lambda: 1), Unreadable)


def test_subclasses_of_builtins_travel_as_their_plain_values():
    Pair = namedtuple("Pair", "a b")

    class Weird(int):
        def __eq__(self, other):
            return True

    assert roundtrip(Pair(1, 2)) == (1, 2) and type(roundtrip(Pair(1, 2))) is tuple
    assert roundtrip(Weird(3)) == 3 and type(roundtrip(Weird(3))) is int


def test_handles_resolve_only_on_the_workers_side():
    assert isinstance(decode(encode(Handle(3))), Handle)
    obj = object()
    assert decode(encode([Handle(3)]), handles={3: obj})[0] is obj
    with pytest.raises(CodecError, match="unknown"):
        decode(encode(Handle(4)), handles={3: obj})


@pytest.mark.parametrize("data", [
    {"tensor": {"dtype": "float32", "shape": [2], "data": base64.b64encode(b"\x00" * 7).decode(), "grad": False}},
    {"tensor": {"dtype": "object", "shape": [1], "data": "", "grad": False}},
    {"tensor": {"dtype": "float32", "shape": [-1], "data": "", "grad": False}},
    {"ndarray": {"dtype": "|O", "shape": [1], "data": base64.b64encode(b"\x00" * 8).decode()}},
    {"ndarray": {"dtype": "[('a', '<f8')]", "shape": [1], "data": ""}},
    {"float": "1" * 100}, {"float": "not a number"}, {"pickle": "gASVAAAA"}, {"a": 1, "b": 2},
    {"dict": [[[1, 2], 3]]}, {"tensor": {"dtype": "float32", "shape": [1], "data": "!!!", "grad": False}},
])
def test_malformed_data_is_refused(data):
    with pytest.raises(CodecError):
        decode(data)


def test_limits_on_size_and_depth():
    with pytest.raises(CodecError, match="MiB"):
        encode(torch.zeros(MAX_BYTES // 4 + 1))
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(CodecError, match="nested"):
        encode(deep)


def test_frames_roundtrip_and_refuse_garbage(tmp_path):
    import os

    r, w = os.pipe()
    write_frame(w, {"op": "x", "value": [1, 2]})
    assert read_frame(r) == {"op": "x", "value": [1, 2]}
    os.write(w, (MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(ProtocolError, match="over the limit"):
        FrameReader(r).read(deadline=__import__("time").monotonic() + 1)
    os.close(w)
    r2, w2 = os.pipe()
    os.write(w2, (5).to_bytes(4, "big") + b"nope!")
    with pytest.raises(ProtocolError, match="JSON"):
        read_frame(r2)
    os.close(w2)
    r3, w3 = os.pipe()
    assert FrameReader(r3).read(deadline=__import__("time").monotonic() + 0.2) is None  # silence: a timeout
    os.close(w3)
    with pytest.raises(ProtocolError, match="closed"):
        FrameReader(r3).read(deadline=__import__("time").monotonic() + 1)
