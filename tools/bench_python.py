"""Python against C on the same bytes, in the same run:

    mpirun -np 2 /usr/bin/python3 tools/bench_python.py --lib build/.libs/libckpt.so \\
        --dir /tmp/pybench --gib 1 --rounds 5

A model whose state dict holds --gib GiB per rank (Linear layers of 64 MiB
weights) is saved and restored through ckpt.torch.State (the Python path:
the extension, the meta region, JSON), and the very same tensors through
libckpt's C API called with ctypes (ckpt_init/ckpt_protect/ckpt_save/
ckpt_restore on the tensors' data pointers: no Python between the calls).
Each round runs the C path right before and right after the Python path,
the faster C run as the baseline; restores go into buffers filled with a
poison first and every byte is compared after. Times
are the slowest rank's, from a barrier to the return. Prints per-round
seconds, the ratio of medians and the median of ratios (goal >= 0.9: the
Python path's bandwidth over the C path's)."""

import argparse
import ctypes
import os
import statistics
import sys
import time

import torch
from mpi4py import MPI

import ckpt
import ckpt.torch

comm = MPI.COMM_WORLD


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--lib", required=True, help="libckpt.so of the same build")
    p.add_argument("--dir", required=True, help="cache root (emulated nodes)")
    p.add_argument("--gib", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--ranks-per-node", type=int, default=1)
    return p.parse_args()


def config(args, job):
    path = os.path.join(args.dir, "%s.conf" % job)
    if comm.rank == 0:
        os.makedirs(args.dir, exist_ok=True)
        with open(path, "w") as f:
            f.write("cache_dir = %s/cache\njob = %s\nranks_per_node = %d\n"
                    "keep_local = 1\nverbose = 0\n" % (args.dir, job,
                                                        args.ranks_per_node))
    comm.Barrier()
    return path


class CApi:
    """The C API through ctypes, on the same tensors."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        for name in ("ckpt_init", "ckpt_protect", "ckpt_save", "ckpt_restore",
                     "ckpt_finalize"):
            getattr(lib, name).restype = ctypes.c_int
        lib.ckpt_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        lib.ckpt_protect.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                     ctypes.c_size_t, ctypes.c_int]
        lib.ckpt_save.argtypes = [ctypes.c_void_p, ctypes.c_int64]
        lib.ckpt_restore.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
        lib.ckpt_finalize.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def run(self, cfg, tensors, step, restore):
        handle = ctypes.c_void_p.from_address(MPI._addressof(comm)).value
        ck = ctypes.c_void_p()
        lib = self.lib
        check(lib.ckpt_init(handle, cfg.encode(), ctypes.byref(ck)), "C init")
        for name, t in tensors.items():
            check(lib.ckpt_protect(ck, name.encode(), t.data_ptr(), t.numel(),
                                   ckpt.FLOAT), "C protect")
        t0 = start()
        if restore:
            rc = lib.ckpt_restore(ck, step, None)
        else:
            rc = lib.ckpt_save(ck, step)
        t = stop(t0)
        check(rc, "C save/restore")
        check(lib.ckpt_finalize(ctypes.byref(ck)), "C finalize")
        return t


def check(rc, what):
    if rc != 0:
        raise SystemExit("rank %d: %s failed: %d" % (comm.rank, what, rc))


def start():
    comm.Barrier()
    return time.perf_counter()


def stop(t0):
    return comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)


def py_run(cfg, model, step, restore):
    with ckpt.Checkpoint(comm, cfg) as ck:
        st = ckpt.torch.State(ck, model, rng=False)
        t0 = start()
        if restore:
            got = st.restore(step)
        else:
            st.save(step)
        t = stop(t0)
    if restore and got != step:
        raise SystemExit("python restore returned %s" % got)
    return t


def poison_and_verify(tensors, ref, fn):
    for t in tensors.values():
        t.fill_(float("nan"))
    t = fn()
    good = all(torch.equal(tensors[k], ref[k]) for k in tensors)
    if not comm.allreduce(good, op=MPI.LAND):
        raise SystemExit("a restore returned wrong data")
    return t


def main():
    args = parse()
    torch.set_num_threads(1)
    layers = max(1, int(args.gib * 16))  # 64 MiB of float32 weights each
    model = torch.nn.Sequential(*[torch.nn.Linear(4096, 4096, bias=False)
                                  for _ in range(layers)])
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.arange(p.numel(), dtype=torch.float32).reshape(p.shape)
                    * (i + 1) + comm.rank)
    tensors = dict(model.state_dict())
    ref = {k: v.clone() for k, v in tensors.items()}
    nbytes = sum(t.numel() * 4 for t in tensors.values())
    capi = CApi(args.lib)
    pycfg, ccfg = config(args, "py"), config(args, "c")
    res = {"py_save": [], "c_save": [], "py_restore": [], "c_restore": []}
    for r in range(-1, args.rounds):  # round -1: first writes, not counted
        step = r + 2
        for restore in (False, True):
            # the C path right before and right after: the faster is the
            # baseline (this disk's speed depends on what ran just before)
            times = {}
            for who in ("c", "py", "c2"):
                # the C job saves steps 3s and 3s + 1 and restores its newest
                cstep = -1 if restore else 3 * step + (who == "c2")
                if who == "py":
                    fn = lambda: py_run(pycfg, model, step, restore)  # noqa: E731
                else:
                    fn = lambda: capi.run(ccfg, tensors, cstep, restore)  # noqa: E731
                times[who] = poison_and_verify(tensors, ref, fn) if restore else fn()
            if r >= 0:
                op = "restore" if restore else "save"
                res["py_" + op].append(times["py"])
                res["c_" + op].append(min(times["c"], times["c2"]))
                res.setdefault("all_" + op, []).append(
                    (times["c"], times["py"], times["c2"]))
    if comm.rank == 0:
        report(res, nbytes, args)
    return 0


def report(res, nbytes, args):
    print("tools/bench_python.py: %d ranks, %d per node, %.2f GiB per rank, %d rounds"
          % (comm.size, args.ranks_per_node, nbytes / 2**30, args.rounds))
    for op in ("save", "restore"):
        py, c = res["py_" + op], res["c_" + op]
        ratios = [b / a for a, b in zip(py, c)]  # bandwidth: python / C
        print("%s: python/C bandwidth: ratio of medians %.3f, median of ratios "
              "%.3f (goal >= 0.9); %.2f and %.2f GB/s per rank" % (
                  op, statistics.median(c) / statistics.median(py),
                  statistics.median(ratios), nbytes / statistics.median(py) / 1e9,
                  nbytes / statistics.median(c) / 1e9))
        print("  seconds per round (C before / python / C after): " +
              " ".join("%.3f/%.3f/%.3f" % t for t in res["all_" + op]))
    sys.stdout.flush()


sys.exit(main())
