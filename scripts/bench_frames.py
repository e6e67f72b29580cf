#!/usr/bin/env python3
"""The frame check of scripts/bench_peers.sh: did a library return the frames asked for?

  bench_frames.py select CLIP VPIPE
      the FFmpeg `select` expression for CLIP's tsm8 indices (mmaction2 0.x SampleFrames, clip_len
      1, num_clips 8, test mode, as benches/decode.rs, over ffprobe's frame count) and their
      neighbours (±2); then the wanted indices and the selected (window) indices, comma-separated,
      and the frame size after auto-rotation (`VPIPE probe --json`), WxH
  bench_frames.py compare LIB.rgb CLI.rgb WANTED WINDOW WxH
      LIB.rgb: the library's frames at the WANTED indices, raw RGB24 (HWC), in that order;
      CLI.rgb: the FFmpeg CLI's frames at the WINDOW indices, W×H pixels after auto-rotation.
      Prints one verdict, the largest level difference from the CLI's wanted frames first:
        0                          the CLI's frames, to the level
        N (colours, mean M)        the wanted frames, converted otherwise (mean difference M levels)
        N (other frames: K of 8)   K frames nearer a neighbour than the wanted frame, or further
                                   from it than any colour conversion puts them
        N (not rotated)            the wanted frames without the display matrix's rotation
        size                       another number of bytes

A wrong frame and another YUV->RGB conversion both give large maximum differences (a chroma edge
alone reaches 20-40 levels), so the maximum cannot tell them apart; the nearest frame can.
"""
import json
import subprocess
import sys

import numpy as np

from bench_peers import tsm8  # the peers' own indices (scripts/bench_peers.py), = benches/decode.rs

# Mean level difference beyond which a frame is another picture whatever its neighbours (one from
# further away than they are). Colour conventions stay below it: BT.709 for the CLI's BT.601 on
# the saturated synthetic 720p clip is 8.6 (video-reader-rs), other clips 0.6-1.9.
OTHER_PICTURE_MEAN = 20.0
# A neighbour must be nearer than the wanted frame by this many levels (mean) to count: static
# scenes hold near-identical consecutive frames.
NEARER_BY = 0.5


def select(clip, vpipe):
    run = lambda *cmd: json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    probe = run("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                "stream=nb_read_frames", "-of", "json", clip)
    n = int(probe["streams"][0]["nb_read_frames"])
    info = run(vpipe, "probe", "--json", clip)
    wanted = tsm8(n)
    window = sorted({j for i in wanted for j in range(max(i - 2, 0), min(i + 3, n))})
    expr = "+".join(f"eq(n\\,{j})" for j in window)
    print(expr, ",".join(map(str, wanted)), ",".join(map(str, window)), f"{info['width']}x{info['height']}")


def mean_diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def compare(lib_path, cli_path, wanted, window, size):
    wanted = [int(i) for i in wanted.split(",")]
    window = [int(i) for i in window.split(",")]
    w, h = (int(v) for v in size.split("x"))
    lib = np.fromfile(lib_path, np.uint8)
    cli = np.fromfile(cli_path, np.uint8)
    if cli.size != len(window) * h * w * 3 or lib.size != len(wanted) * h * w * 3:
        return "size"
    cli = cli.reshape(len(window), h, w, 3)
    lib = lib.reshape(len(wanted), h, w, 3)
    worst = max(int(np.abs(f.astype(np.int16) - cli[window.index(i)]).max()) for f, i in zip(lib, wanted))
    if worst == 0:
        return "0"
    means, other, unrotated = [], 0, 0
    for frame, i in zip(lib, wanted):
        near = [mean_diff(frame, c) for c in cli]
        at = near[window.index(i)]
        means.append(at)
        if at > OTHER_PICTURE_MEAN or min(near) < at - NEARER_BY:
            other += 1
            # The picture as stored, before the display matrix's 90/180/270° turn (a 90° one
            # leaves the same bytes read as W×H).
            turned = [np.rot90(frame, 2)] + ([np.rot90(frame.reshape(w, h, 3), k) for k in (1, 3)] if w != h else [])
            if min(mean_diff(t, cli[window.index(i)]) for t in turned) <= OTHER_PICTURE_MEAN:
                unrotated += 1
    if other and unrotated == other:
        return f"{worst} (not rotated)"
    if other:
        return f"{worst} (other frames: {other} of {len(wanted)})"
    return f"{worst} (colours, mean {np.mean(means):.1f})"


def main():
    if sys.argv[1:2] == ["select"] and len(sys.argv) == 4:
        select(*sys.argv[2:4])
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 7:
        print(compare(*sys.argv[2:7]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
