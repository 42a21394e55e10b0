"""Data-parallel training under torchrun (2 CPU processes, gloo) against one process with the same global batch."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.distributed import Context, context, shard

SCRIPT = Path(__file__).with_name("ddp_train_script.py")


def torchrun(*args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_give_the_losses_of_one_with_the_same_global_batch(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    import ddp_train_script

    ddp_train_script.run(tmp_path / "single.json", 8)
    done = torchrun(str(tmp_path / "ddp.json"), "8", str(tmp_path / "ckpt"), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    single, ddp = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("single", "ddp"))
    assert single["world_size"] == 1 and ddp["world_size"] == 2
    assert set(single["rows_per_step"]) == {8} and set(ddp["rows_per_step"]) == {4}, "each rank trains on half the batch"
    assert len(ddp["train_loss"]) == len(single["train_loss"]) == 4
    assert ddp["train_loss"] == pytest.approx(single["train_loss"], rel=1e-5)
    assert ddp["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)
    assert (tmp_path / "ckpt" / "model.safetensors").exists() and (tmp_path / "ckpt" / "training_state.pt").exists()


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path):
    done = torchrun(str(tmp_path / "x.json"), "7", tmp_path=tmp_path)
    assert done.returncode != 0
    assert "a batch of 7 rows cannot be split evenly over 2 processes" in done.stderr


def test_shard_and_missing_rendezvous_variables(monkeypatch):
    import torch

    batch = (torch.arange(8).view(4, 2), torch.arange(4))
    assert [t.tolist() for t in shard(batch, Context(1, 2, 1))] == [[[4, 5], [6, 7]], [2, 3]]
    assert shard(batch, Context()) is batch
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="start the script with `torchrun --nproc_per_node 2"):
        context(torch.device("cpu"))
