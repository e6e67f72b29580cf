"""examples/train_torch.py, alone and under a real 2-process torchrun (gloo DDP): the loss falls,
both ranks take the same number of steps although the list holds a corrupt and a missing video,
and the failures are reported."""

import json
import os
import subprocess

from conftest import REPO, mini_list

EXAMPLE = str(REPO / "examples" / "train_torch.py")


def test_the_example_trains_and_its_loss_falls(tmp_path, python_bin):
    out = tmp_path / "run"
    subprocess.run([python_bin, EXAMPLE, "--epochs", "3", "--json-out", str(out)], check=True, capture_output=True, timeout=600)
    r = json.loads((tmp_path / "run.rank0.json").read_text())
    assert r["steps"] == 3 * r["batches_per_epoch"] == 12
    assert r["epoch_losses"][-1] < r["epoch_losses"][0], r["epoch_losses"]


def test_two_rank_gloo_ddp_keeps_the_ranks_in_step_despite_bad_videos(tmp_path, data, torchrun):
    bad = tmp_path / "corrupt.avi"
    bad.write_bytes(os.urandom(20000))
    missing = tmp_path / "gone.mp4"
    ann = mini_list(data, tmp_path / "list.txt", extra=[f"{bad} 1", f"{missing} 3"])  # 10 samples, 5 per rank
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([torchrun, "--nproc_per_node", "2", EXAMPLE, "--list", str(ann), "--root", "/", "--epochs", "2",
                        "--json-out", str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    ranks = [json.loads((tmp_path / f"ddp.rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 2 * 3, "5 samples per rank, batch 2: 3 steps per epoch each"
    failed = {f["path"] for r in ranks for f in r["failures"]}
    assert failed == {str(bad), str(missing)}, failed
    assert "replaced" in p.stdout, p.stdout
    assert all(all(l == l for l in r["epoch_losses"]) for r in ranks), "finite losses"
