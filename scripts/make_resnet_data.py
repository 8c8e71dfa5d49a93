#!/usr/bin/env python3
"""Re-create the Fashion-MNIST slices committed under scenarios/resnet/data/.

Usage: python3 scripts/make_resnet_data.py [SOURCE_DIR]
SOURCE_DIR holds the four original IDX gzip files (default: the Debian package
dataset-fashion-mnist, /usr/share/datasets/fashion-mnist).

- the evaluation split is the original 10,000-image test set, copied unchanged;
- the calibration split is the first 1,000 images (and labels) of the training set,
  written in the same IDX format (gzip).
"""
import gzip
import shutil
import struct
import sys
from pathlib import Path

CALIB = 1000
src = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
dst = Path(__file__).resolve().parent.parent / "scenarios" / "resnet" / "data"
dst.mkdir(parents=True, exist_ok=True)

for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
    shutil.copyfile(src / name, dst / name)


def head(name: str, out: str, n: int) -> None:
    raw = gzip.decompress((src / name).read_bytes())
    rank = raw[3]
    dims = list(struct.unpack(">" + "I" * rank, raw[4 : 4 + 4 * rank]))
    per_item = 1
    for d in dims[1:]:
        per_item *= d
    body = raw[4 + 4 * rank : 4 + 4 * rank + n * per_item]
    dims[0] = n
    header = raw[:4] + struct.pack(">" + "I" * rank, *dims)
    # mtime=0 keeps the output byte-for-byte reproducible
    (dst / out).write_bytes(gzip.compress(header + body, compresslevel=9, mtime=0))


head("train-images-idx3-ubyte.gz", "calib-images-idx3-ubyte.gz", CALIB)
head("train-labels-idx1-ubyte.gz", "calib-labels-idx1-ubyte.gz", CALIB)
print(f"wrote {dst}")
