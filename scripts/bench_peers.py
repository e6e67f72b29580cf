#!/usr/bin/env python3
"""The peers' side of scripts/bench_peers.sh: times one decode task on one clip with one library,
in-process and including opening the file, and prints one JSON line (median of --reps runs, ms).

Tasks and indices are those of benches/decode.rs (vpipe's side):
  tsm8       open + mmaction2 0.x SampleFrames(clip_len=1, num_clips=8, test_mode=True) indices
  dense32x2  open + 32 frames at stride 2 from the middle of the video (indices mod n)
  full       open + decode every frame to RGB24
Each library runs with one decoding thread, the way its users fetch clips:
  pyav        mmaction2 PyAVDecode accurate mode: decode from the start up to the last index
  decord      VideoReader(num_threads=1).get_batch(indices)
  opencv      mmaction2 OpenCVDecode: set CAP_PROP_POS_FRAMES + read() per index
  torchcodec  VideoDecoder(seek_mode="exact", num_ffmpeg_threads=1).get_frames_at(indices)
  video_reader_rs  PyVideoReader(threads=1).get_batch(indices)
--dump FILE writes the task's frames as raw RGB24 (HWC) for the frame check against the FFmpeg CLI.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")
import numpy as np  # noqa: E402


def tsm8(n):
    avg = n / 8.0
    return [min(int(avg * k + avg / 2.0), n - 1) for k in range(8)]


def dense32x2(n):
    start = max(n - 64, 0) // 2
    return [(start + 2 * k) % n for k in range(32)]


def indices(task, n):
    return tsm8(n) if task == "tsm8" else dense32x2(n)


def run_pyav(path, task):
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "SLICE"
        s.thread_count = 1
        if task == "full":
            return [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        n = s.frames or sum(1 for _ in av.open(path).demux(s))  # container count, as mmaction2 uses
        idx = indices(task, n)
        last, want, got = max(idx), set(idx), {}
        for i, f in enumerate(c.decode(s)):
            if i in want:
                got[i] = f.to_ndarray(format="rgb24")
            if i >= last:
                break
        return [got[i] for i in idx]


def run_decord(path, task):
    import decord

    vr = decord.VideoReader(path, num_threads=1)
    n = len(vr)
    if task == "full":
        return [vr[i].asnumpy() for i in range(n)]
    return list(vr.get_batch(indices(task, n)).asnumpy())


def run_opencv(path, task):
    import cv2

    cv2.setNumThreads(1)
    cap = cv2.VideoCapture(path)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    out = []
    if task == "full":
        while True:
            ok, f = cap.read()
            if not ok:
                break
            out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        return out
    for i in indices(task, n):
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, f = cap.read()
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB) if ok else None)
    return out


def run_torchcodec(path, task):
    import torch
    from torchcodec.decoders import VideoDecoder

    torch.set_num_threads(1)
    d = VideoDecoder(path, seek_mode="exact", num_ffmpeg_threads=1, dimension_order="NHWC")
    n = d.metadata.num_frames
    if task == "full":
        return [d[i].numpy() for i in range(n)]
    return list(d.get_frames_at(indices(task, n)).data.numpy())


def run_video_reader_rs(path, task):
    from video_reader import PyVideoReader

    vr = PyVideoReader(path, threads=1)
    n = vr.get_shape()[0]
    if task == "full":
        return list(vr.decode())
    return list(vr.get_batch(indices(task, n)))


LIBS = {
    "pyav": run_pyav,
    "decord": run_decord,
    "opencv": run_opencv,
    "torchcodec": run_torchcodec,
    "video_reader_rs": run_video_reader_rs,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, choices=sorted(LIBS))
    ap.add_argument("--task", required=True, choices=["tsm8", "dense32x2", "full"])
    ap.add_argument("--clip", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dump")
    a = ap.parse_args()
    fn = LIBS[a.lib]
    try:
        frames = fn(a.clip, a.task)  # warm-up (imports, file cache)
    except Exception as e:  # a peer that cannot read a clip is reported, not fatal
        print(json.dumps({"lib": a.lib, "task": a.task, "error": f"{type(e).__name__}: {e}"[:200]}))
        return
    if a.dump:
        with open(a.dump, "wb") as f:
            for fr in frames:
                if fr is not None:
                    f.write(np.ascontiguousarray(fr, dtype=np.uint8).tobytes())
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        fn(a.clip, a.task)
        times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"lib": a.lib, "task": a.task, "ms": round(statistics.median(times), 3)}))


if __name__ == "__main__":
    sys.exit(main())
