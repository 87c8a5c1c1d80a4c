#!/usr/bin/env python3
"""Cross-checks Tessera's safetensors checkpoints (ts::save / ts::load) with Python.

1. Write the reference file that tests/io/test_checkpoint.cpp loads and checks:

       python3 tests/golden/gen_safetensors.py

   writes tests/golden/reference.safetensors from REFERENCE below, with the `safetensors`
   package (PyPI; its torch API, torch from Debian's python3-torch) when it can be imported,
   else with the pure-Python writer below that follows the format spec. Run it with the
   Python that has torch (Debian's /usr/bin/python3), e.g.
       pip install --target /tmp/st safetensors && PYTHONPATH=/tmp/st /usr/bin/python3 tests/golden/gen_safetensors.py

2. Verify a file written by Tessera:

       TESSERA_SAFETENSORS_EXPORT=/tmp/tessera.safetensors \\
           build/tests/tessera_tests "save writes files that Python's safetensors reads"
       python3 tests/golden/gen_safetensors.py --verify /tmp/tessera.safetensors

   The C++ test saves the same REFERENCE tensors and metadata with ts::save; --verify loads
   the file with the `safetensors` package when available (else with the pure-Python reader)
   and checks every dtype, shape, byte and metadata entry. Exit status 0 means it matches.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "reference.safetensors")

# name -> (safetensors dtype, shape, row-major values). Values are exact in their dtype, and
# include -0.0, the float16 maximum and integer extremes, so any byte-level slip shows.
REFERENCE = {
    "layer.weight": ("F32", [2, 3], [0.5, -1.25, 3.0, 0.001, -0.0, 65504.0]),
    "layer.bias": ("F64", [3], [3.141592653589793, -2.718281828459045, 1e-300]),
    "half": ("F16", [2, 2], [1.0, -2.5, 0.0999755859375, 65504.0]),
    "brain": ("BF16", [3], [1.0, -3.140625, 256.0]),
    "step": ("I64", [], [123456789012]),
    "counts": ("I32", [2, 2], [-7, 0, 2147483647, -2147483648]),
    "pixels": ("U8", [4], [0, 1, 128, 255]),
    "mask": ("BOOL", [2, 3], [True, False, True, False, False, True]),
    "empty": ("F32", [0, 4], []),
}
METADATA = {"format": "pt", "epoch": "3", "note": "unicode \u2713 \"quoted\"\nline"}


def encode(dtype, values):
    """Little-endian bytes of `values` in safetensors `dtype`."""
    if dtype == "BF16":  # the upper half of a float32 (the values are exact in bfloat16)
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    fmt = {"F32": "f", "F64": "d", "F16": "e", "I32": "i", "I64": "q", "U8": "B", "BOOL": "?"}[dtype]
    return struct.pack("<%d%s" % (len(values), fmt), *values)


def write_pure(path):
    """A writer straight from the spec: u64 header length, JSON header padded with spaces to
    a multiple of 8, then the tensors' bytes back to back."""
    header, blobs, offset = {"__metadata__": METADATA}, [], 0
    for name, (dtype, shape, values) in REFERENCE.items():
        blob = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_pure(path):
    """{name: (dtype, shape, bytes)}, metadata -- a reader straight from the spec."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], list(info["shape"]), data[begin:end])
    return tensors, metadata


def torch_dtypes():
    import torch
    return {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
            "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8, "BOOL": torch.bool}


def torch_bytes(t):
    import torch
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_library(path):
    import torch
    from safetensors.torch import save_file
    dtypes = torch_dtypes()
    tensors = {}
    for name, (dtype, shape, values) in REFERENCE.items():
        tensors[name] = torch.tensor(values, dtype=dtypes[dtype]).reshape(shape)
        assert torch_bytes(tensors[name]) == encode(dtype, values), name
    save_file(tensors, path, metadata=METADATA)


def read_library(path):
    from safetensors import safe_open
    names = {v: k for k, v in torch_dtypes().items()}
    tensors = {}
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
        for name in f.keys():
            t = f.get_tensor(name)
            tensors[name] = (names[t.dtype], list(t.shape), torch_bytes(t))
    return tensors, metadata


def have_library():
    try:
        import safetensors.torch  # noqa: F401
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def verify(path):
    reader = read_library if have_library() else read_pure
    tensors, metadata = reader(path)
    problems = []
    if set(tensors) != set(REFERENCE):
        problems.append("tensor names %s != %s" % (sorted(tensors), sorted(REFERENCE)))
    for name, (dtype, shape, values) in REFERENCE.items():
        if name not in tensors:
            continue
        got = tensors[name]
        expected = (dtype, shape, encode(dtype, values))
        if got != expected:
            problems.append("%s: got %r, expected %r" % (name, got, expected))
    if metadata != METADATA:
        problems.append("metadata %r != %r" % (metadata, METADATA))
    via = "the safetensors package" if reader is read_library else "the pure-Python reader"
    if problems:
        print("%s does NOT match the reference (read with %s):\n  %s" % (path, via, "\n  ".join(problems)))
        return 1
    print("%s matches the reference: %d tensors and the metadata (read with %s)" % (path, len(REFERENCE), via))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--verify":
        return verify(sys.argv[2])
    if len(sys.argv) != 1:
        print(__doc__)
        return 2
    if have_library():
        write_library(OUT)
        via = "the safetensors package"
    else:
        write_pure(OUT)
        via = "the pure-Python writer"
    print("wrote %s (%d bytes) with %s" % (OUT, os.path.getsize(OUT), via))
    return verify(OUT)


if __name__ == "__main__":
    sys.exit(main())
