"""device="cuda": the batch on the GPU equals the CPU batch moved there (skipped, saying so, where
torch sees no GPU — CI and this project's CPU machines; run on a GPU machine to prove it)."""

import pytest
import torch

import vpipe

TSM = "pipelines/tsm_r18_mini.yaml"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")


@needs_cuda
@pytest.mark.parametrize("split", ["train", "val"])
def test_cuda_batches_equal_the_cpu_batches_moved_to_the_gpu(split, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", str(torch.cuda.device_count() - 1))  # not device 0 when there are several
    gpu = vpipe.Loader(TSM, split=split, workers=2, device="cuda")
    assert gpu.device == torch.device("cuda", torch.cuda.device_count() - 1)
    cpu = vpipe.Loader(TSM, split=split, workers=2)
    for epoch in (0, 1):
        gpu.set_epoch(epoch)
        cpu.set_epoch(epoch)
        for g, c in zip(gpu, cpu):
            assert g.inputs.device == gpu.device and g.inputs.dtype == torch.float32
            assert torch.equal(g.inputs, c.inputs.to(gpu.device)), f"max difference {(g.inputs.cpu() - c.inputs).abs().max()}"
            assert torch.equal(g.labels.cpu(), c.labels) and torch.equal(g.indices, c.indices)


@needs_cuda
def test_cuda_uint8_output_stays_uint8_on_the_device():
    b = next(iter(vpipe.Loader(TSM, split="val", workers=2, device="cuda", output="uint8")))
    c = next(iter(vpipe.Loader(TSM, split="val", workers=2, output="uint8")))
    assert b.inputs.is_cuda and b.inputs.dtype == torch.uint8 and torch.equal(b.inputs.cpu(), c.inputs)
