"""PyTorch state through libckpt: a model's and an optimizer's tensors in
place, everything else as one small region.

    import ckpt, ckpt.torch
    model, opt = build()                    # freshly built, same shapes
    with ckpt.Checkpoint(comm) as ck:
        state = ckpt.torch.State(ck, model, opt)
        start = state.restore()             # None on a fresh start
        for step in range(start or 0, n):
            train_one(step)
            if step % k == 0:
                state.save(step)

What is protected:

* every tensor of ``model.state_dict()`` (parameters and buffers) and of
  the optimizer's per-parameter state (e.g. Adam's ``exp_avg``,
  ``exp_avg_sq``, ``step``), in place: no copy at save or restore. A fresh
  optimizer has no state yet, so :class:`State` makes it first with one
  step at learning rate 0 on zero gradients and zeroes it (the parameters
  do not move, and the next step does what it would have done for Adam,
  AdamW and SGD; an optimizer whose fresh state is not zeros should be
  stepped once before). Optimizers must update their state in place, as
  torch's do;
* one byte region ``<prefix>meta`` with the rest, as JSON (never pickle: a
  checkpoint must not be able to run code): the optimizer's
  ``param_groups`` (learning rates, betas ...), its non-tensor state, the
  RNG states of torch, Python's ``random`` and numpy, and ``extra`` (any
  JSON-able dict of the program's, e.g. the epoch). The region has a fixed
  size (``meta_bytes``, 1 MiB by default) so that it is the same at save
  and restore.

Model tensors can be stored as replicated (``replicated=True``: data-
parallel weights, stored once per step). The optimizer state and the meta
region are private to the rank, so a State is restored by as many ranks as
saved it; a program that restarts at another rank count protects global and
replicated regions itself (Checkpoint.protect_global, protect_replicated).
"""

import json
import random
import re

import torch

from . import Error, _agree  # noqa: F401  (Error re-exported for convenience)

_NAME = re.compile(r"[^A-Za-z0-9._-]")


def _name(prefix, key):
    n = prefix + _NAME.sub("_", str(key))
    if len(n) > 255:
        raise ValueError("region name too long: %r" % n)
    return n


# Optimizers whose fresh per-parameter state is zeros (the tensors State
# makes at learning rate 0 and zeroes are then what their first step makes).
_ZERO_STATE = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)


def _init_optimizer_state(opt):
    """Make the optimizer's per-parameter state exist without changing the
    training: one step at learning rate 0 on zero gradients for the
    parameters that train and have no state yet, then that state zeroed."""
    params = [p for g in opt.param_groups for p in g["params"]]
    fresh = [p for p in params if p.requires_grad and not opt.state.get(p)]
    if not fresh:
        return
    if type(opt) not in _ZERO_STATE or any(
            g.get("dampening", 0) != 0 for g in opt.param_groups):
        raise ValueError("%s has no state yet, and State can make it only "
                         "for Adam, AdamW and SGD (dampening 0): step the "
                         "optimizer once before protecting it" % type(opt).__name__)
    saved = [(g, g["lr"]) for g in opt.param_groups]
    grads = [(p, p.grad) for p in params]
    try:
        for g in opt.param_groups:
            g["lr"] = 0.0
        for p in params:  # others keep their state: no gradient, no step
            p.grad = torch.zeros_like(p) if any(p is q for q in fresh) else None
        with torch.no_grad():
            before = [p.detach().clone() for p in fresh]
            opt.step()
            for p, b in zip(fresh, before):  # weight decay at lr 0 is 0
                p.copy_(b)
            for p in fresh:
                for v in opt.state[p].values():
                    if isinstance(v, torch.Tensor):
                        v.zero_()
    finally:
        for g, lr in saved:
            g["lr"] = lr
        for p, grad in grads:
            p.grad = grad


def _jsonable(v):
    if isinstance(v, tuple):
        return {"__tuple__": [_jsonable(x) for x in v]}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, torch.Tensor):
        return {"__tensor__": v.tolist(), "dtype": str(v.dtype).split(".")[1]}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "tolist"):  # numpy arrays and scalars
        return v.tolist()
    raise TypeError("cannot checkpoint %r (%s) as JSON" % (v, type(v).__name__))


def _unjson(v):
    if isinstance(v, dict):
        if "__tuple__" in v:
            return tuple(_unjson(x) for x in v["__tuple__"])
        if "__tensor__" in v:
            return torch.tensor(v["__tensor__"], dtype=getattr(torch, v["dtype"]))
        return {k: _unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unjson(x) for x in v]
    return v


def _rng_states():
    s = {"torch": torch.get_rng_state().tolist(), "python": random.getstate()}
    try:
        import numpy
        st = numpy.random.get_state()
        s["numpy"] = [st[0], st[1].tolist(), st[2], st[3], st[4]]
    except ImportError:
        pass
    return s


def _set_rng_states(s):
    torch.set_rng_state(torch.tensor(s["torch"], dtype=torch.uint8))
    random.setstate(s["python"])
    if "numpy" in s:
        import numpy
        n = s["numpy"]
        numpy.random.set_state((n[0], numpy.array(n[1], dtype=numpy.uint32),
                                n[2], n[3], n[4]))


class State:
    """A model's and an optimizer's state protected on handle ``ck``."""

    def __init__(self, ck, model=None, optimizer=None, prefix="", rng=True,
                 replicated=False, meta_bytes=1 << 20):
        self.ck, self.model, self.opt, self.rng = ck, model, optimizer, rng
        self.prefix = prefix
        self.extra = {}
        self.meta = bytearray(meta_bytes)
        self.names, self.where = [], {}
        for name, t in self._tensors():
            self._protect(name, t, replicated and name.startswith(prefix + "model."))
        self._protect(prefix + "meta", self.meta, False)

    def _tensors(self):
        """(region name, tensor) of the model and the optimizer now."""
        out = []
        if self.model is not None:
            for key, t in self.model.state_dict().items():
                out.append((_name(self.prefix + "model.", key), t))
        if self.opt is not None:
            if not self.names:
                _init_optimizer_state(self.opt)
            for pid, st in self.opt.state_dict()["state"].items():
                for key, t in st.items():
                    if isinstance(t, torch.Tensor):
                        out.append((_name(self.prefix + "optim.%s." % pid, key), t))
        return out

    def _protect(self, name, t, replicated):
        if name in self.names:
            raise ValueError("two tensors would be region %r" % name)
        if replicated:
            self.ck.protect_replicated(name, t)
        else:
            self.ck.protect(name, t)
        self.names.append(name)
        if isinstance(t, torch.Tensor):
            self.where[name] = (t.data_ptr(), t.numel() * t.element_size())

    def _check_places(self):
        """Raise (agreed) if a protected tensor's memory moved (param.data
        reassigned, model.half(), load_state_dict): its region would be
        memory nothing else uses."""
        now = dict(self._tensors())
        moved = [n for n, (ptr, size) in self.where.items()
                 if n not in now or now[n].data_ptr() != ptr or
                 now[n].numel() * now[n].element_size() != size]
        _agree(self.ck.comm, ValueError(
            "protected tensors moved since State was made (%s): make a new "
            "State on a new handle" % ", ".join(moved[:3])) if moved else None)

    def _pack(self):
        meta = {"extra": self.extra}
        if self.opt is not None:
            sd = self.opt.state_dict()
            meta["param_groups"] = _jsonable(sd["param_groups"])
            meta["state"] = {str(pid): {k: _jsonable(v) for k, v in st.items()
                                        if not isinstance(v, torch.Tensor)}
                             for pid, st in sd["state"].items()}
        if self.rng:
            meta["rng"] = _jsonable(_rng_states())
        text = json.dumps(meta, separators=(",", ":")).encode()
        if len(text) + 8 > len(self.meta):
            raise ValueError("the non-tensor state takes %d bytes, more than "
                             "meta_bytes = %d" % (len(text) + 8, len(self.meta)))
        self.meta[:8] = len(text).to_bytes(8, "little")
        self.meta[8:8 + len(text)] = text
        self.meta[8 + len(text):] = bytes(len(self.meta) - 8 - len(text))

    def _unpack(self):
        n = int.from_bytes(self.meta[:8], "little")
        if n + 8 > len(self.meta):
            raise ValueError("the meta region is damaged (length %d)" % n)
        meta = json.loads(bytes(self.meta[8:8 + n]).decode())
        self.extra = meta.get("extra", {})
        if self.opt is not None:
            for g, saved in zip(self.opt.param_groups, _unjson(meta["param_groups"])):
                for k, v in saved.items():
                    if k != "params":
                        g[k] = v
            params = [p for g in self.opt.param_groups for p in g["params"]]
            for pid, st in meta["state"].items():
                for k, v in st.items():
                    self.opt.state[params[int(pid)]][k] = _unjson(v)
        if self.rng and "rng" in meta:
            _set_rng_states(_unjson(meta["rng"]))

    def save(self, step):
        """The non-tensor state packed, then ckpt_save (collective). A rank
        whose state cannot be packed makes every rank raise."""
        self._check_places()
        error = None
        try:
            self._pack()
        except (TypeError, ValueError) as e:
            error = e
        _agree(self.ck.comm, error)
        self.ck.save(step)

    def restore(self, step=None):
        """ckpt_restore into the tensors, then the rest unpacked: the step
        restored, or None (as Checkpoint.restore)."""
        self._check_places()
        got = self.ck.restore(step)
        error = None
        if got is not None:
            try:
                self._unpack()
            except (TypeError, ValueError, KeyError, IndexError) as e:
                error = e
        _agree(self.ck.comm, error)
        return got
