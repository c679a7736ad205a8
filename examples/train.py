"""A small PyTorch model trained data-parallel under mpirun, checkpointed with
libckpt every --every steps.

    mpirun -np 4 /usr/bin/python3 examples/train.py --config ckpt.conf --steps 40

Ranks come from MPI (mpi4py); gradients are averaged over a torch process
group on gloo, one all-reduce per parameter. (Not DistributedDataParallel:
its buckets are laid out again after the first step of a process, so the
first step after a restart would sum gradients in another order than the
uninterrupted run did, and the weights would differ in their last bits.) Each step's batch depends only on the
step and the rank, and dropout draws from torch's RNG, whose state is
checkpointed with the model and the Adam state (ckpt.torch.State), so a run
killed and restarted from its last checkpoint ends bit-identical to one
that was not interrupted. --out writes the final weights and optimizer
state as raw bytes (rank 0); --die-after N kills every rank after step N
(as a lost job would end: no finalize, no flush)."""

import argparse
import os
import signal
import sys

import torch
import torch.distributed as dist
from mpi4py import MPI

import ckpt
import ckpt.torch


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="ckpt.conf(5) file")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--every", type=int, default=5, help="checkpoint every k steps")
    p.add_argument("--out", help="final state, raw bytes (rank 0)")
    p.add_argument("--die-after", type=int, default=-1)
    return p.parse_args()


def process_group(comm):
    """torch.distributed over gloo, its rendezvous address sent over MPI."""
    port = 0
    if comm.rank == 0:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    port = comm.bcast(port, root=0)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port,
                            rank=comm.rank, world_size=comm.size)


def build():
    torch.manual_seed(0)  # the same initial weights on every rank
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(),
                                torch.nn.Dropout(0.1), torch.nn.Linear(64, 8))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return model, opt


def average_gradients(model, size):
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= size


def batch(step, rank):
    g = torch.Generator().manual_seed(1000003 * step + rank)
    x = torch.randn(64, 32, generator=g)
    return x, x[:, :8].sin()


def dump(path, model, opt):
    with open(path + ".tmp", "wb") as f:
        for _, t in sorted(model.state_dict().items()):
            f.write(t.numpy().tobytes())
        for _, st in sorted(opt.state_dict()["state"].items()):
            for _, t in sorted(st.items()):
                f.write(t.numpy().tobytes())
    os.replace(path + ".tmp", path)


def main():
    args = parse()
    comm = MPI.COMM_WORLD
    torch.set_num_threads(1)
    process_group(comm)
    model, opt = build()
    torch.manual_seed(100 + comm.rank)  # dropout: another stream per rank
    with ckpt.Checkpoint(comm, args.config) as ck:
        state = ckpt.torch.State(ck, model, opt)
        start = state.restore() or 0
        loss = torch.zeros(())
        if comm.rank == 0 and start:
            print("resumed from step %d" % start, flush=True)
        for step in range(start, args.steps):
            x, y = batch(step, comm.rank)
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            average_gradients(model, comm.size)
            opt.step()
            if os.environ.get("TRAIN_DEBUG") and comm.rank == 0:
                print("step", step + 1, repr(loss.item()), flush=True)
            if (step + 1) % args.every == 0:
                state.save(step + 1)
            if step + 1 == args.die_after:
                print("rank %d dying after step %d" % (comm.rank, step + 1),
                      flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        if comm.rank == 0:
            print("step %d loss %.6f" % (args.steps, loss.item()), flush=True)
            if args.out:
                dump(args.out, model, opt)
    dist.destroy_process_group()
    return 0


sys.exit(main())
