"""The Python package under mpirun (driven by python.sh):

    t_python.py CONFIG save STEP        every dtype saved as STEP
    t_python.py CONFIG check STEP LEVEL restored into poisoned arrays, exact
    t_python.py CONFIG untouched        a failed restore: arrays untouched
    t_python.py CONFIG api              argument and error behaviour
    t_python.py CONFIG gil              save and restore release the GIL
    t_python.py CONFIG torch-save STEP  model + Adam state saved after training
    t_python.py CONFIG torch-check STEP restored into a fresh model, exact
    t_python.py CONFIG torch-same       a protected fresh optimizer trains alike
    t_python.py CONFIG torch-agree      one rank's failure raised on every rank
    t_python.py CONFIG shapes-save STEP global and replicated regions saved
    t_python.py CONFIG shapes-check STEP  ... restored by another rank count
    t_python.py CONFIG mismatch         other shapes: ckpt.EMISMATCH

Each prints "t_python: N passed, M failed" on rank 0 and exits 1 on a
failure (on any rank)."""

import sys
import threading
import time

import numpy as np
import torch
from mpi4py import MPI

import ckpt

comm = MPI.COMM_WORLD
rank = comm.rank
CONF = sys.argv[1]
passed = failed = 0


def check(what, cond):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("rank %d: not ok - %s" % (rank, what), flush=True)


def raises(what, exc, fn, *args, code=None, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        check(what, code is None or e.code == code)
        return e
    check(what + " (nothing raised)", False)
    return None


def finish():
    total = comm.allreduce(failed)
    if rank == 0:
        print("t_python: %d passed, %d failed" % (comm.allreduce(passed), total),
              flush=True)
    else:
        comm.allreduce(passed)
    sys.exit(1 if total else 0)


# Every numpy dtype worth a case (odd sizes, empty, 2-D), and torch tensors
# of the 2-byte float types; contents depend on the rank and the step.
NP_CASES = [("f16", np.float16, 7), ("f32", np.float32, 1001),
            ("f64", np.float64, (3, 5)), ("i8", np.int8, 13),
            ("u8", np.uint8, 0), ("i16", np.int16, 9), ("i32", np.int32, 1),
            ("i64", np.int64, 257), ("u32", np.uint32, 31),
            ("u64", np.uint64, 64), ("b", np.bool_, 11),
            ("c64", np.complex64, 5), ("big", np.float32, 300001),
            ("empty2d", np.float64, (0, 4))]
TORCH_CASES = [("t_bf16", torch.bfloat16, 129), ("t_f16", torch.float16, 3),
               ("t_f32", torch.float32, (4, 6)), ("t_i64", torch.int64, 17),
               ("t_u8", torch.uint8, 0), ("t_bool", torch.bool, 5)]


def pattern(nbytes, step):
    rng = np.random.default_rng(1000 * step + rank)
    return rng.integers(0, 256, nbytes, dtype=np.uint8)


def arrays(step, poison=False):
    out = {}
    for name, dt, shape in NP_CASES:
        a = np.zeros(shape, dtype=dt)
        raw = a.view(np.uint8).reshape(-1)
        raw[:] = 0xA5 if poison else pattern(raw.size, step)
        if dt == np.bool_ and not poison:
            raw[:] &= 1
        out[name] = a
    for name, dt, shape in TORCH_CASES:
        t = torch.zeros(shape, dtype=dt)
        raw = t.reshape(-1).view(torch.uint8).numpy()
        raw[:] = 0xA5 if poison else pattern(raw.size, step + 7)
        if dt == torch.bool and not poison:
            raw[:] &= 1
        out[name] = t
    out["ba"] = bytearray(pattern(33, step + 3).tobytes()) if not poison \
        else bytearray(b"\xa5" * 33)
    return out


def as_bytes(x):
    if isinstance(x, torch.Tensor):
        return x.reshape(-1).view(torch.uint8).numpy().tobytes()
    if isinstance(x, bytearray):
        return bytes(x)
    return x.tobytes()


def protect_all(ck, regs):
    for name, a in regs.items():
        ck.protect(name, a)


def do_save(step):
    regs = arrays(step)
    with ckpt.Checkpoint(comm, CONF) as ck:
        protect_all(ck, regs)
        ck.save(step)
        check("level after save", ck.level(step) >= ckpt.LEVEL_LOCAL)
        check("latest is the step", ck.latest() == step)


def do_check(step, level):
    want, regs = arrays(step), arrays(step, poison=True)
    with ckpt.Checkpoint(comm, CONF) as ck:
        protect_all(ck, regs)
        got = ck.restore()
        check("restored the step", got == step)
        for name in want:
            check("%s exact" % name, as_bytes(regs[name]) == as_bytes(want[name]))
        lv = ck.level(step)
        if level >= ckpt.LEVEL_PARTNER and lv < level:
            ck.wait(step, ckpt.LEVEL_PARTNER)  # the refill
            lv = ck.level(step)
        check("level %d (got %d)" % (level, lv), lv >= level)
        if rank == 0:
            print("restored %s (level %d)" % (got, lv), flush=True)


def do_untouched():
    regs = arrays(1, poison=True)
    with ckpt.Checkpoint(comm, CONF) as ck:
        protect_all(ck, regs)
        got = ck.restore()
        check("nothing restorable: None", got is None)
        e = raises("restore(step=1): ENOENT", ckpt.Error, ck.restore, 1,
                   code=ckpt.ENOENT)
        check("message agreed", e is not None and
              len(set(comm.allgather(e.message))) == 1)
    for name, a in regs.items():
        check("%s untouched" % name, set(as_bytes(a)) <= {0xA5})


def do_api():
    with ckpt.Checkpoint(comm, CONF) as ck:
        check("fresh start: restore() is None", ck.restore() is None)
        check("fresh start: latest() is None", ck.latest() is None)
        raises("a list is not a buffer", TypeError, ck.protect, "x", [1, 2])
        raises("an int is not a buffer", TypeError, ck.protect, "x", 3)
        ro = np.zeros(4)
        ro.flags.writeable = False
        raises("read-only array", ValueError, ck.protect, "x", ro)
        raises("bytes are read-only", ValueError, ck.protect, "x", b"abc")
        raises("strided array", ValueError, ck.protect, "x", np.zeros(10)[::2])
        raises("Fortran-ordered array", ValueError, ck.protect, "x",
               np.zeros((3, 4), order="F"))
        raises("transposed tensor", ValueError, ck.protect, "x",
               torch.zeros(3, 4).t())
        e = raises("bad region name: EINVAL", ckpt.Error, ck.protect, "a/b",
                   np.zeros(2), code=ckpt.EINVAL)
        check("EINVAL message names the region", e is not None and "a/b" in e.message)
        raises("unprotect of nothing: EINVAL", ckpt.Error, ck.unprotect, "nope",
               code=ckpt.EINVAL)
        raises("save(-1): EINVAL", ckpt.Error, ck.save, -1, code=ckpt.EINVAL)
        e = raises("restore(step=5) of nothing: ENOENT", ckpt.Error, ck.restore, 5,
                   code=ckpt.ENOENT)
        check("the message is the same on every rank", e is not None and
              len(set(comm.allgather(e.message))) == 1)
        check("str(Error) is the message", e is not None and str(e) == e.message)
        check("constants", ckpt.OK == 0 and ckpt.LEVEL_STORAGE == 3 and
              ckpt.strerror(ckpt.ENOENT) != "")
        raises("an array of Python objects", ValueError, ck.protect, "x",
               np.array([object(), None]))
        raises("a negative offset", ValueError, ck.protect_global, "x",
               np.zeros(2), -1, 4)
        raises("a value with '#'", ValueError, ckpt.Checkpoint, comm, CONF,
               cache_dir="/tmp/x#y")
        a = np.arange(10, dtype=np.int64)
        ck.protect("a", a)
        raises("a protected array cannot be resized", ValueError, a.resize, 20)
        b = np.zeros(10, dtype=np.int64)
        ck.protect("a", b)  # replaces: the old buffer is released
        a.resize(20)
        check("the replaced array is released (resizable)", a.size == 20)
        a = np.arange(10, dtype=np.int64)
        ck.save(1)
        a[:] = 0
        b[:] = -1
        check("restore(step=1) returns 1", ck.restore(1) == 1)
        check("the replacing buffer was saved and restored", (b == 0).all())
        ck.unprotect("a")
    raises("bad setting value: ECONFIG", ckpt.Error, ckpt.Checkpoint, comm, CONF,
           code=ckpt.ECONFIG, ranks_per_node="two")
    raises("unknown setting: ECONFIG", ckpt.Error, ckpt.Checkpoint, comm, CONF,
           code=ckpt.ECONFIG, no_such_key=1)
    raises("a value with a newline", ValueError, ckpt.Checkpoint, comm, CONF,
           job="x\ncache_dir = /")
    ck = ckpt.Checkpoint(comm, CONF)
    ck.close()
    raises("a closed handle", ValueError, ck.save, 1)


def do_gil():
    """A thread counts while save and restore run: with the GIL held for
    them it could not run at all (the switch interval is set to 10 s)."""
    data = np.full(64 << 20, rank % 251, dtype=np.uint8)
    count, stop = [0, 0], threading.Event()
    phase = [None]

    busy = []

    def counter():
        while not stop.is_set():
            if phase[0] is not None:
                count[phase[0]] += 1
                if phase[0] == 0 and not busy:
                    try:
                        ck.protect("z", np.zeros(1))
                        busy.append(None)
                    except RuntimeError as e:
                        busy.append(e)

    sys.setswitchinterval(10.0)
    t = threading.Thread(target=counter)
    t.start()
    time.sleep(0.05)  # let it start before the main thread takes the GIL
    ck = ckpt.Checkpoint(comm, CONF)
    with ck:
        ck.protect("d", data)
        phase[0] = 0
        ck.save(1)
        phase[0] = None
        data[:] = 0
        phase[0] = 1
        ck.restore()
        phase[0] = None
    stop.set()
    t.join()
    sys.setswitchinterval(0.005)
    check("the thread ran during save (%d)" % count[0], count[0] > 1000)
    check("the thread ran during restore (%d)" % count[1], count[1] > 1000)
    check("restored", (data == rank % 251).all())
    check("another thread's call during a save: RuntimeError (%r)" % busy,
          busy and isinstance(busy[0], RuntimeError))


def model_opt(seed):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                            torch.nn.BatchNorm1d(16), torch.nn.Linear(16, 3))
    return m, torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.8, 0.95))


def train(m, opt, steps):
    for _ in range(steps):
        x = torch.randn(32, 8)
        loss = m(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def snapshot(m, opt):
    import copy
    import random
    return (copy.deepcopy(m.state_dict()), copy.deepcopy(opt.state_dict()),
            torch.rand(4), random.random(), np.random.random())


def same_state(a, b):
    def eq(x, y):
        if isinstance(x, torch.Tensor):
            return torch.equal(x, y)
        if isinstance(x, dict):
            return x.keys() == y.keys() and all(eq(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return len(x) == len(y) and all(eq(p, q) for p, q in zip(x, y))
        return x == y
    return eq(a, b)


def do_torch_save(step):
    import random
    random.seed(rank)
    np.random.seed(rank)
    m, opt = model_opt(rank)
    train(m, opt, 5)
    opt.param_groups[0]["lr"] = 3e-3  # a schedule moved it
    with ckpt.Checkpoint(comm, CONF) as ck:
        st = ckpt.torch.State(ck, m, opt)
        st.extra = {"epoch": 4, "note": "t"}
        st.save(step)
    train(m, opt, 2)  # goes on, as the run that is not interrupted would


def do_torch_same():
    """Protecting a fresh optimizer does not change what it does."""
    for make in (lambda ps: torch.optim.Adam(ps, lr=1e-2),
                 lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
                 lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9)):
        runs = []
        for protect in (False, True):
            m, _ = model_opt(rank)
            opt = make(m.parameters())
            with ckpt.Checkpoint(comm, CONF) as ck:
                if protect:
                    ckpt.torch.State(ck, m, opt)
                torch.manual_seed(7)
                train(m, opt, 3)
            runs.append(snapshot(m, opt))
        check("torch: %s trains alike protected or not" % type(opt).__name__,
              same_state(runs[0][:2], runs[1][:2]))


def do_torch_check(step):
    import random
    random.seed(rank)
    np.random.seed(rank)
    ref_m, ref_opt = model_opt(rank)
    train(ref_m, ref_opt, 5)
    ref_opt.param_groups[0]["lr"] = 3e-3
    want = snapshot(ref_m, ref_opt)  # includes the next random numbers
    m, opt = model_opt(rank + 100)  # freshly built, other weights
    torch.manual_seed(12345)
    random.seed(99)
    np.random.seed(99)
    with ckpt.Checkpoint(comm, CONF) as ck:
        st = ckpt.torch.State(ck, m, opt)
        check("torch: restored the step", st.restore() == step)
        check("torch: extra", st.extra == {"epoch": 4, "note": "t"})
    got = snapshot(m, opt)
    check("torch: model state", same_state(got[0], want[0]))
    check("torch: optimizer state and hyper-parameters", same_state(got[1], want[1]))
    check("torch: RNG state", torch.equal(got[2], want[2]))
    check("python and numpy RNG states", got[3:] == want[3:])
    rng = torch.get_rng_state()
    train(ref_m, ref_opt, 2)
    torch.set_rng_state(rng)
    train(m, opt, 2)
    check("torch: training goes on alike", same_state(m.state_dict(),
                                                      ref_m.state_dict()))


def do_torch_agree():
    """One rank's state cannot be packed (too big for its meta region):
    every rank raises, nothing hangs, nothing is saved; a tensor moved:
    every rank raises."""
    m, opt = model_opt(rank)
    with ckpt.Checkpoint(comm, CONF) as ck:
        st = ckpt.torch.State(ck, m, opt, meta_bytes=65536)
        if rank == 1:
            st.extra = {"big": "x" * 100000}
        e = raises("meta too big on rank 1: every rank raises", (ValueError,
                   RuntimeError), st.save, 1)
        check("the error names rank 1 or the size", e is not None and
              ("rank 1" in str(e) or "meta_bytes" in str(e)))
        check("nothing saved", ck.latest() is None)
        st.extra = {}
        st.save(2)
        if rank == 0:
            m[0].weight.data = m[0].weight.data.clone()
        raises("a moved tensor on rank 0: every rank raises", (ValueError,
               RuntimeError), st.save, 3)
        check("step 2 is still the newest", ck.latest() == 2)


def do_shapes(step, save):
    """Global and replicated regions through Python: saved by some ranks,
    restored by another number of ranks."""
    G = 1000
    n, r = comm.size, rank
    lo, hi = G * r // n, G * (r + 1) // n
    g = np.zeros(hi - lo, dtype=np.float64)
    w = torch.zeros(77, dtype=torch.bfloat16)
    with ckpt.Checkpoint(comm, CONF) as ck:
        ck.protect_global("g", g, lo, G)
        ck.protect_replicated("w", w)
        if save:
            g[:] = np.arange(lo, hi) * 1.5 + step
            w[:] = torch.arange(77, dtype=torch.float32).to(torch.bfloat16)
            ck.save(step)
            return
        check("restored at another rank count", ck.restore() == step)
    check("global slice exact", (g == np.arange(lo, hi) * 1.5 + step).all())
    check("replicated region exact", torch.equal(
        w, torch.arange(77, dtype=torch.float32).to(torch.bfloat16)))


def do_mismatch():
    with ckpt.Checkpoint(comm, CONF) as ck:
        ck.protect("a", np.zeros(10))
        ck.save(1)
    for what, arr in (("other length", np.zeros(11)),
                      ("other type", np.zeros(10, dtype=np.float32)),
                      ("bytes for doubles", bytearray(80))):
        with ckpt.Checkpoint(comm, CONF) as ck:
            ck.protect("a", arr)
            raises("%s: EMISMATCH" % what, ckpt.Error, ck.restore, code=ckpt.EMISMATCH)
    with ckpt.Checkpoint(comm, CONF) as ck:
        ck.protect("zz", np.zeros(10))
        raises("other name: EMISMATCH", ckpt.Error, ck.restore, code=ckpt.EMISMATCH)


def main():
    import ckpt.torch  # noqa: F401
    mode = sys.argv[2]
    arg = [int(x) for x in sys.argv[3:]]
    {"save": lambda: do_save(arg[0]),
     "check": lambda: do_check(arg[0], arg[1]),
     "untouched": do_untouched, "api": do_api, "gil": do_gil,
     "torch-save": lambda: do_torch_save(arg[0]),
     "torch-check": lambda: do_torch_check(arg[0]),
     "torch-same": do_torch_same, "torch-agree": do_torch_agree,
     "shapes-save": lambda: do_shapes(arg[0], True),
     "shapes-check": lambda: do_shapes(arg[0], False),
     "mismatch": do_mismatch}[mode]()
    finish()


main()
