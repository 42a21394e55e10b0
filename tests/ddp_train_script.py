"""Run by tests/test_distributed.py under torchrun: train a small GPT data-parallel, write the losses."""
import json
import sys

import torch

from course_lib.model import GPT, GPTConfig
from course_lib.train import train


ROWS = []


def run(out, batch_size=8, checkpoint_dir=None):
    torch.set_num_threads(1)
    data = torch.randint(0, 32, (4_000,), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=32, context_length=16, n_layer=1, n_head=2, d_model=16))
    model.register_forward_pre_hook(lambda m, args: ROWS.append(args[0].shape[0]) if m.training else None)
    history = train(model, data, data[:1000], steps=12, batch_size=batch_size, lr=3e-3, eval_every=3, eval_batches=2,
                    device="cpu", progress=False, checkpoint_dir=checkpoint_dir)
    if out is not None:
        with open(out, "w") as f:
            json.dump({"train_loss": history.train_loss, "val_loss": history.val_loss,
                       "world_size": torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
                       "rows_per_step": ROWS}, f)


if __name__ == "__main__":
    import os

    rank = int(os.environ.get("RANK", "0"))
    run(sys.argv[1] if rank == 0 else None, int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
