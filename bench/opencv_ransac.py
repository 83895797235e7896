#!/usr/bin/env python3
"""OpenCV comparison harness for bench/ransac.ts.

Runs cv2.findFundamentalMat(p1, p2, cv2.USAC_MAGSAC, threshold, confidence, max_iters)
on match CSVs (columns x1,y1,x2,y2, pixels) with one thread, and prints JSON:
{"opencv": version, "results": {name: {"F": [9] | null, "inliers": n, "ms": median ms}}}.

Usage: /usr/bin/python3 bench/opencv_ransac.py MANIFEST.json
MANIFEST = {"threshold": px, "confidence": c, "maxIters": n, "repeats": r,
            "files": {name: path.csv}}
Needs Debian's python3-opencv (apt-get install -y python3-opencv), hence /usr/bin/python3.
"""
import json
import sys
import time

import cv2
import numpy as np


def main() -> None:
    manifest = json.load(open(sys.argv[1]))
    cv2.setNumThreads(1)
    out = {}
    for name, path in manifest["files"].items():
        m = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        p1, p2 = np.ascontiguousarray(m[:, :2]), np.ascontiguousarray(m[:, 2:4])
        times = []
        F = mask = None
        for _ in range(manifest.get("repeats", 3)):
            t0 = time.perf_counter()
            F, mask = cv2.findFundamentalMat(
                p1, p2, cv2.USAC_MAGSAC, manifest["threshold"], manifest["confidence"],
                manifest["maxIters"])
            times.append((time.perf_counter() - t0) * 1e3)
        ok = F is not None and F.shape == (3, 3)
        out[name] = {
            "F": F.reshape(-1).tolist() if ok else None,
            "inliers": int(mask.sum()) if ok and mask is not None else 0,
            "ms": float(np.median(times)),
        }
    json.dump({"opencv": cv2.__version__, "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
