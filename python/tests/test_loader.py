"""vpipe.Loader: batches equal the Rust loader's, for any worker count and rank split; the
sharding follows torch's DistributedSampler; errors and abandoned loaders."""

import gc
import os
import subprocess

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import DistributedSampler

import vpipe
from conftest import mini_list

TSM = "pipelines/tsm_r18_mini.yaml"
R2P1D = "pipelines/r2plus1d_r18_mini.yaml"
NORM = {"type": "Normalize", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "to_bgr": False}


def tsm_dict(ann_file, batch_size=2):
    """tsm_r18_mini.yaml's train and val splits over `ann_file`, as a dict."""
    source = {"type": "VideoList", "ann_file": str(ann_file), "root": "/"}
    train = [{"type": "SampleFrames", "clip_len": 1, "frame_interval": 1, "num_clips": 4},
             {"type": "DecordDecode"}, {"type": "Resize", "scale": [-1, 40]},
             {"type": "RandomCrop", "size": 32}, {"type": "Flip", "flip_ratio": 0.5}, NORM,
             {"type": "FormatShape", "input_format": "NCHW"}]
    val = [{"type": "SampleFrames", "clip_len": 1, "frame_interval": 1, "num_clips": 4, "test_mode": True},
           {"type": "DecordDecode"}, {"type": "Resize", "scale": [-1, 40]},
           {"type": "CenterCrop", "crop_size": 32}, NORM, {"type": "FormatShape", "input_format": "NCHW"}]
    return {"seed": 3, "data": {"train": {"source": source, "pipeline": train, "batch_size": batch_size},
                                "val": {"source": source, "pipeline": val, "batch_size": batch_size}}}


def per_sample(batches):
    """{list index: that sample's rows of the batch input} over `batches`."""
    out = {}
    for b in batches:
        rows = b.inputs.shape[0] // len(b.indices)
        for j, i in enumerate(b.indices.tolist()):
            out.setdefault(i, b.inputs[j * rows:(j + 1) * rows])
    return out


@pytest.mark.parametrize("pipeline,split", [(TSM, "train"), (R2P1D, "val")])
def test_batches_equal_the_rust_loaders_bit_for_bit(tmp_path, vpipe_bin, pipeline, split):
    subprocess.run([vpipe_bin, "bench", pipeline, "--split", split, "--no-model", "--epochs", "2", "--workers", "2",
                    "--dump", str(tmp_path)], check=True, capture_output=True)
    loader = vpipe.Loader(pipeline, split=split, workers=2)
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        got = list(loader)
        files = sorted((tmp_path / f"epoch_{epoch}").iterdir())
        assert len(got) == len(files) == len(loader), (len(got), len(files), len(loader))
        for b, f in zip(got, files):
            want = load_file(str(f))
            assert b.inputs.dtype == torch.float32 and b.inputs.shape == want["inputs"].shape
            assert torch.equal(b.indices, want["indices"]), f
            assert torch.equal(b.inputs, want["inputs"]), f"{f}: max difference {(b.inputs - want['inputs']).abs().max()}"
            assert b.valid.all()


def test_one_and_two_workers_give_the_same_batches():
    def epoch(workers):
        loader = vpipe.Loader(TSM, split="train", workers=workers)
        loader.set_epoch(1)
        return [(b.inputs.clone(), b.labels, b.indices) for b in loader]

    one, two = epoch(1), epoch(2)
    assert len(one) == len(two) == 2
    for (x1, y1, i1), (x2, y2, i2) in zip(one, two):
        assert torch.equal(i1, i2) and torch.equal(y1, y2) and torch.equal(x1, x2)


def test_uint8_output_normalises_to_the_float_batches():
    f = next(iter(vpipe.Loader(TSM, split="val", workers=2)))
    u = next(iter(vpipe.Loader(TSM, split="val", workers=2, output="uint8")))
    assert u.inputs.dtype == torch.uint8 and u.inputs.shape == f.inputs.shape
    mean = torch.tensor(NORM["mean"]).view(1, 3, 1, 1)
    inv_std = (1.0 / torch.tensor(NORM["std"])).view(1, 3, 1, 1)
    assert torch.equal((u.inputs.float() - mean) * inv_std, f.inputs)


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_together_load_the_single_process_epoch(world_size):
    single = per_sample(vpipe.Loader(TSM, split="train", workers=2))
    lens, seen, valid_count = set(), {}, 0
    for rank in range(world_size):
        loader = vpipe.Loader(TSM, split="train", workers=2, rank=rank, world_size=world_size)
        batches = list(loader)
        lens.add((len(loader), len(batches)))
        for b in batches:
            valid_count += int(b.valid.sum())
        for i, x in per_sample(batches).items():
            assert torch.equal(x, single[i]), f"rank {rank}, sample {i}: not the single-process tensor"
            seen[i] = True
    assert len(lens) == 1, f"ranks yield different batch counts: {lens}"
    assert sorted(seen) == sorted(single), "the ranks' union is the epoch"
    assert valid_count == len(single), "every video is valid exactly once"


@pytest.mark.parametrize("n", [1, 5, 8, 13])
def test_sharding_follows_distributed_sampler(tmp_path, data, n):
    lines = [l for l in (data / "mini" / "mini_videos.txt").read_text().splitlines() if l.strip()]
    ann = tmp_path / "list.txt"
    ann.write_text("\n".join(f"{data / 'mini' / 'videos' / lines[i % len(lines)].split()[0]} 0" for i in range(n)) + "\n")
    cfg = tsm_dict(ann)
    for split, shuffle in (("train", True), ("val", False)):
        for epoch in (0, 1):
            order = vpipe.Loader(cfg, split=split).plan(epoch)[0]  # vpipe's permutation of the epoch
            assert sorted(order) == list(range(n))
            if not shuffle:
                assert order == list(range(n))
            for w in (1, 2, 3, 4, 8):
                for drop_last in (False, True):
                    counts = set()
                    for r in range(w):
                        loader = vpipe.Loader(cfg, split=split, rank=r, world_size=w, drop_last=drop_last)
                        got, valid = loader.plan(epoch)
                        sampler = DistributedSampler(range(n), num_replicas=w, rank=r, shuffle=False, drop_last=drop_last)
                        want = [order[i] for i in sampler]
                        assert got == want, (split, epoch, n, w, r, drop_last)
                        assert valid == [r + k * w < n for k in range(len(want))]
                        assert loader.num_samples == len(sampler)
                        counts.add(len(loader))
                    assert len(counts) == 1, f"n {n} w {w}: ranks disagree on len(loader): {counts}"
    shuffled = [vpipe.Loader(cfg, split="train").plan(e)[0] for e in (0, 1)]
    if n >= 5:
        assert shuffled[0] != shuffled[1], "train order changes with the epoch"


def test_failed_samples_are_replaced_and_reported(tmp_path, data):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(os.urandom(4096))
    ann = mini_list(data, tmp_path / "list.txt", extra=[f"{bad} 1", f"{tmp_path / 'missing.mp4'} 2"])
    loader = vpipe.Loader(tsm_dict(ann, batch_size=4), split="val", workers=2)
    batches = list(loader)
    assert [len(b.indices) for b in batches] == [4, 4, 2], "no batch is short because of a failure"
    valid = torch.cat([b.valid for b in batches])
    idx = torch.cat([b.indices for b in batches])
    assert not valid[8] and not valid[9], "replacements are not valid (an evaluation must not count them)"
    assert int(valid.sum()) == 8 and set(idx[valid].tolist()) == set(range(8))
    paths = sorted(f["path"] for f in loader.failures)
    assert paths == sorted([str(bad), str(tmp_path / "missing.mp4")]), loader.failures
    assert all("replaced by" in f["message"] for f in loader.failures)
    s = loader.summary()
    assert s["replaced"] == 2 and len(s["failures"]) == 2 and s["stages"], s


def test_errors_are_vpipe_errors_with_the_message(tmp_path, data):
    with pytest.raises(vpipe.FileNotFound) as e:
        vpipe.Loader(tmp_path / "nope.yaml")
    assert isinstance(e.value, FileNotFoundError) and "nope.yaml" in str(e.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text((open(TSM).read()).replace("batch_size: 4", "batch_sise: 4", 1))
    with pytest.raises(vpipe.ConfigError) as e:
        vpipe.Loader(bad)
    assert "batch_sise" in str(e.value) and "bad.yaml" in str(e.value) and isinstance(e.value, ValueError)
    with pytest.raises(vpipe.ConfigError, match="batch_size"):
        vpipe.Loader(TSM, batch_size=0)
    with pytest.raises(vpipe.ConfigError, match="rank 2 is not below world_size 2"):
        vpipe.Loader(TSM, rank=2, world_size=2)
    if not torch.cuda.is_available():
        with pytest.raises(vpipe.ConfigError, match="CUDA device"):
            vpipe.Loader(TSM, device="cuda")
    with pytest.raises(vpipe.ConfigError, match="data.test"):
        vpipe.Loader(TSM, split="test")
    video = data / "mini" / "videos" / "wave" / "TrumanShow_wave_f_nm_np1_fr_med_26.avi"
    with pytest.raises(vpipe.IndexOutOfRange, match="48 frames") as e:
        vpipe.VideoReader(video).get_frames([0, 48])
    assert isinstance(e.value, IndexError)
    with pytest.raises(vpipe.FileNotFound):
        vpipe.VideoReader(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 100)
    with pytest.raises(vpipe.DecodeError, match="junk.mp4"):
        vpipe.VideoReader(tmp_path / "junk.mp4")
    with pytest.raises(vpipe.ConfigError, match="clip_len"):
        vpipe.sample_frames(100, 0)


def test_inside_a_dataloader_worker_it_says_so():
    class OneItem(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            try:
                vpipe.Loader(TSM)
            except vpipe.Error as e:
                return str(e)
            return "no error"

    msg = next(iter(torch.utils.data.DataLoader(OneItem(), num_workers=1, batch_size=None)))
    assert "DataLoader worker" in msg, msg


def _rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def _threads():
    return len(os.listdir("/proc/self/task"))


def test_abandoned_loaders_stop_their_threads_and_free_their_memory():
    def abandon(how):
        loader = vpipe.Loader(R2P1D, split="train", workers=2)
        it = iter(loader)
        next(it)
        if how == "break":
            for _ in it:
                break
            del it
        elif how == "del":
            del it
        else:
            try:
                for _ in it:
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                pass
            del it
        del loader

    for how in ("break", "del", "interrupt"):  # warm-up: allocator pools, index cache, libtorch
        abandon(how)
    gc.collect()
    base_rss, base_threads = _rss_kib(), _threads()
    for k in range(20):
        abandon(("break", "del", "interrupt")[k % 3])
    gc.collect()
    assert _threads() == base_threads, "every loader thread was joined"
    assert _rss_kib() <= base_rss * 1.10, f"RSS {base_rss} KiB → {_rss_kib()} KiB after 20 abandoned loaders"


def test_ctrl_c_while_a_batch_is_being_prepared_interrupts_at_once(data):
    import signal
    import threading
    import time
    cfg = tsm_dict(data / "mini" / "mini_videos.txt", batch_size=8)
    cfg["data"]["val"]["source"]["root"] = str(data / "mini" / "videos")
    cfg["data"]["val"]["pipeline"][0].update(clip_len=16, num_clips=10)  # 160 frames a video: a slow batch
    loader = vpipe.Loader(cfg, split="val", workers=1)
    t = time.monotonic()
    next(iter(loader))
    batch_s = time.monotonic() - t
    threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        next(iter(loader))
    waited = time.monotonic() - t
    # The wait ends at the signal plus one sample's work (threads joined), not at the batch.
    assert waited < 0.2 + batch_s / 2, f"KeyboardInterrupt after {waited:.2f} s; a batch takes {batch_s:.2f} s"
    assert loader.summary() is not None, "the abandoned epoch's summary is kept"


def test_multi_label_lists_give_multi_hot_labels(data):
    mm = data / "mmaction2"
    cfg = tsm_dict(mm / "annotations" / "video_test_list_multi_label.txt")
    cfg["data"]["val"]["source"] = {"type": "VideoList", "ann_file": str(mm / "annotations" / "video_test_list_multi_label.txt"),
                                   "root": str(mm), "multi_class": True, "num_classes": 5}
    b = next(iter(vpipe.Loader(cfg, split="val")))
    assert b.labels.dtype == torch.float32
    assert b.labels.tolist() == [[1, 0, 0, 1, 0], [1, 0, 1, 0, 1]]  # "test.mp4 0 3", "test.mp4 0 2 4"


def test_cfg_options_override_the_pipeline_file():
    base = vpipe.Loader(TSM, split="train")
    assert len(base) == 2  # 8 videos, batch 4
    smaller = vpipe.Loader(TSM, split="train", cfg_options={"data.train.batch_size": 2, "data.train.pipeline.0.num_clips": 4})
    batch = next(iter(smaller))
    assert len(smaller) == 4 and batch.inputs.shape[0] == 2 * 4
    assert len(vpipe.Loader(TSM, split="train", cfg_options=["data.train.batch_size=8"])) == 1
    with pytest.raises(vpipe.ConfigError, match="batch_siz"):
        vpipe.Loader(TSM, split="train", cfg_options={"data.train.batch_siz": 2})


def test_the_target_domain_of_a_two_domain_pipeline_loads_as_its_own_split():
    cdar = "pipelines/cdar_mini.yaml"
    source, target = vpipe.Loader(cdar, split="train"), vpipe.Loader(cdar, split="train.target")
    s = next(iter(source))
    assert tuple(s.inputs.shape) == (2, 3, 8, 64, 64)  # the source's 8-frame NCTHW clips, batch 2
    batches = list(target)
    assert len(target) == 2 and tuple(batches[0].inputs.shape) == (3, 3, 8, 64, 64)  # TCNHW segments, batch 3
    # One pass visits each of the 4 target videos once, with the target list's labels.
    assert sorted(i for b in batches for i in b.indices.tolist()) == [0, 1, 2, 3]
    labels = {i: l for b in batches for i, l in zip(b.indices.tolist(), b.labels.tolist())}
    assert labels == {0: 0, 1: 1, 2: 1, 3: 1}
    # Another pass (set_epoch) reshuffles.
    orders = set()
    for e in range(4):
        target.set_epoch(e)
        orders.add(tuple(i for b in target for i in b.indices.tolist()))
    assert len(orders) > 1
    with pytest.raises(vpipe.ConfigError, match="data.train.target"):
        vpipe.Loader(TSM, split="train.target")
