"""libckpt for Python: checkpoints of numpy arrays and torch tensors from MPI
programs, through the C library (a C extension; no second implementation).

    import ckpt
    from mpi4py import MPI

    with ckpt.Checkpoint(MPI.COMM_WORLD, ranks_per_node=2) as ck:
        ck.protect("w", weights)          # the array's own memory, no copy
        step = ck.restore()               # the newest step, or None
        ...
        ck.save(step)

Every call but ``protect``/``unprotect`` is collective over the communicator,
as in C (see the man pages ckpt_save(3), ckpt_restore(3) ...). A failed call
raises :class:`Error`, with ``.code`` (the C code, e.g. ``ckpt.ENOENT``) and
``.message`` (the message every rank agreed on). See docs/PYTHON.md.
"""

import os
import re
import tempfile

from . import _ckpt
from ._ckpt import Error, strerror

__all__ = ["Checkpoint", "Error", "strerror", "LATEST"]

# The C constants without their CKPT_ prefix: ckpt.OK, ckpt.ENOENT,
# ckpt.LEVEL_PARTNER, ckpt.FLOAT16 ...
for _name in dir(_ckpt):
    if _name.isupper():
        globals()[_name] = getattr(_ckpt, _name)
        __all__.append(_name)

LATEST = -1

_PRIVATE, _GLOBAL, _REPLICATED = 0, 1, 2

# numpy dtype (kind, itemsize) -> the C type; anything else is bytes.
_NUMPY_TYPES = {
    ("f", 2): _ckpt.FLOAT16, ("f", 4): _ckpt.FLOAT, ("f", 8): _ckpt.DOUBLE,
    ("i", 4): _ckpt.INT32, ("i", 8): _ckpt.INT64,
    ("u", 4): _ckpt.UINT32, ("u", 8): _ckpt.UINT64,
}
_SIZES = {_ckpt.BYTE: 1, _ckpt.INT32: 4, _ckpt.INT64: 8, _ckpt.UINT32: 4,
          _ckpt.UINT64: 8, _ckpt.FLOAT16: 2, _ckpt.BFLOAT16: 2, _ckpt.FLOAT: 4,
          _ckpt.DOUBLE: 8}


def _torch_region(t):
    """A numpy view of a CPU tensor's memory and its C type."""
    import torch
    if t.device.type != "cpu":
        raise ValueError("only CPU tensors can be protected (this one is on %s)"
                         % t.device)
    if not t.is_contiguous():
        raise ValueError("the tensor is not contiguous (protect t.contiguous() "
                         "and keep that)")
    flat = t.detach().reshape(-1)  # a view: contiguous
    if t.dtype == torch.bfloat16:
        return flat.view(torch.int16).numpy(), _ckpt.BFLOAT16, 1
    if t.dtype == torch.float16:
        return flat.view(torch.int16).numpy(), _ckpt.FLOAT16, 1
    arr = flat.numpy()
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key in _NUMPY_TYPES:
        return arr, _NUMPY_TYPES[key], 1
    return flat.view(torch.uint8).numpy(), _ckpt.BYTE, t.element_size()


def _region(obj):
    """(buffer, C type, bytes-per-element scale) for obj.

    Tensors and numpy arrays keep their element type where C has it
    (float16/bfloat16 as 2-byte types); anything else is stored as bytes,
    and offsets of global regions are scaled to bytes."""
    if type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "dtype"):
        return _torch_region(obj)
    dtype = getattr(obj, "dtype", None)
    if dtype is not None and hasattr(dtype, "kind"):
        if dtype.hasobject:
            raise ValueError("an array of Python objects cannot be checkpointed")
        key = (dtype.kind, dtype.itemsize)
        if key in _NUMPY_TYPES and dtype.isnative:
            return obj, _NUMPY_TYPES[key], 1
        return obj, _ckpt.BYTE, dtype.itemsize
    try:
        itemsize = memoryview(obj).itemsize
    except TypeError:
        itemsize = 1  # not a buffer: the extension says so
    return obj, _ckpt.BYTE, itemsize


_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def _settings_file(config, settings):
    """A private temporary config file: the file config, then settings."""
    lines = []
    if config is not None:
        with open(config, "r", encoding="utf-8") as f:
            lines.append(f.read())
    for key, value in settings.items():
        if isinstance(value, bool):
            value = int(value)
        value = str(value)
        if not _KEY.match(key):
            raise ValueError("bad setting name %r" % key)
        if any(c in value for c in "\n\r\0#"):
            raise ValueError("setting %s: a value cannot hold a line break, "
                             "a NUL or '#' (a comment in ckpt.conf)" % key)
        lines.append("%s = %s" % (key, value))
    fd, path = tempfile.mkstemp(prefix="ckpt-settings-", suffix=".conf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    except BaseException:
        os.unlink(path)
        raise
    return path


def _agree(comm, error):
    """Collective: raise the same exception on every rank if some rank had
    one (a rank-local failure before a collective call would otherwise
    leave the other ranks waiting in it)."""
    bad = comm.allgather(None if error is None else
                         "%s: %s" % (type(error).__name__, error))
    ranks = [r for r, b in enumerate(bad) if b is not None]
    if not ranks:
        return
    if error is not None:
        raise error
    raise RuntimeError("rank %d failed: %s" % (ranks[0], bad[ranks[0]]))


class Checkpoint:
    """One libckpt handle (``ckpt_init``) over an mpi4py communicator.

    ``config`` is the path of a ckpt.conf(5) file or None; ``settings`` are
    keys of that file (``ranks_per_node=2``, ``cache_dir="/tmp/c"``), which
    override the file's. ``CKPT_<KEY>`` environment variables override both,
    as in C. Use it as a context manager, or call :meth:`close` (collective)."""

    def __init__(self, comm=None, config=None, **settings):
        if comm is None:
            from mpi4py import MPI
            comm = MPI.COMM_WORLD
        self.comm = comm
        path, error = config, None
        if settings:
            try:
                path = _settings_file(config, settings)
            except (OSError, ValueError, UnicodeError) as e:
                error = e
        _agree(comm, error)
        try:
            self._h = _ckpt.Handle(comm.py2f(), path)
        finally:
            if settings:
                os.unlink(path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # A ckpt.Error happened on every rank alike: closing is collective
        # and safe. Another exception may be this rank's alone: the others
        # are not in close(), so this rank leaves the handle open (run
        # under "python -m mpi4py" so that it ends the job).
        if exc_type is None or issubclass(exc_type, Error):
            self.close()
        return False

    def close(self):
        """ckpt_finalize: waits for pending uploads (collective)."""
        self._h.close()

    def _protect(self, name, array, kind, offset=0, global_count=0):
        if offset < 0 or global_count < 0:
            raise ValueError("offset and global_count cannot be negative")
        buf, ctype, scale = _region(array)
        if scale != 1 and kind == _GLOBAL:
            offset, global_count = offset * scale, global_count * scale
        self._h.protect(name, buf, ctype, _SIZES[ctype], kind, offset,
                        global_count)

    def protect(self, name, array):
        """Protect a writable contiguous buffer (numpy array, CPU tensor,
        bytearray ...) private to this rank, in place (ckpt_protect(3))."""
        self._protect(name, array, _PRIVATE)

    def protect_global(self, name, array, offset, global_count):
        """This rank's slice [offset, offset + len) of a 1-D array of
        global_count elements (ckpt_protect_global(3)); restorable by any
        number of ranks."""
        self._protect(name, array, _GLOBAL, offset, global_count)

    def protect_replicated(self, name, array):
        """A buffer every rank holds alike, stored once per step
        (ckpt_protect_replicated(3))."""
        self._protect(name, array, _REPLICATED)

    def unprotect(self, name):
        self._h.unprotect(name)

    def save(self, step):
        """ckpt_save(3): the protected buffers as step (collective)."""
        self._h.save(step)

    def restore(self, step=None):
        """ckpt_restore(3) into the protected buffers: the newest step when
        step is None (then None if none can be restored, as CKPT_ENOENT in
        C: there was none, or every one failed its checks, in which case
        the buffers may hold data of a failed step unless restore_check =
        first), else that step (ckpt.Error ENOENT if it cannot be)."""
        try:
            return self._h.restore(LATEST if step is None else step)
        except Error as e:
            if step is None and e.code == _ckpt.ENOENT:
                return None
            raise

    def latest(self):
        """ckpt_latest(3): the newest restorable step, or None."""
        try:
            return self._h.latest()
        except Error as e:
            if e.code == _ckpt.ENOENT:
                return None
            raise

    def level(self, step):
        """ckpt_level(3): ckpt.LEVEL_NONE ... ckpt.LEVEL_STORAGE."""
        return self._h.level(step)

    def wait(self, step, level):
        """ckpt_wait(3): until step is at level (e.g. ckpt.LEVEL_STORAGE)."""
        self._h.wait(step, level)

    def need_save(self):
        """ckpt_need_save(3): ckpt.SAVE_NO, SAVE_INTERVAL or SAVE_SIGNAL,
        the same on every rank (one small reduction; call it every step)."""
        return self._h.need_save()
