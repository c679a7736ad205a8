/* ckpt._ckpt: the C library as a Python type, over the buffer protocol.
 *
 * A Handle owns one ckpt_t and the Py_buffer of every region it protects:
 * holding the view keeps the object alive and its memory where it is
 * (numpy refuses to resize an array with an exported buffer), so the
 * library reads and writes the array's own bytes. Everything Pythonic
 * (dtypes, torch tensors, settings, None for "no step") is in
 * ckpt/__init__.py; this file only moves arguments across. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <mpi.h>
#include <stdint.h>
#include <string.h>

#include "ckpt.h"

static PyObject *Error; /* ckpt.Error: .code and .message */

typedef struct held {
    char *name;
    Py_buffer view;
    struct held *next;
} held_t;

typedef struct {
    PyObject_HEAD
    ckpt_t *ck;
    held_t *held; /* the buffers the library may touch */
    int busy;     /* a call is running without the GIL */
} Handle;

/* Raise ckpt.Error for code, with the handle's agreed message if any. */
static PyObject *fail(Handle *h, int code)
{
    const char *msg = h && h->ck ? ckpt_errmsg(h->ck) : "";
    PyObject *e, *c, *m;
    if (msg == NULL || *msg == '\0')
        msg = ckpt_strerror(code);
    m = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
    e = m ? PyObject_CallFunctionObjArgs(Error, m, NULL) : NULL;
    c = PyLong_FromLong(code);
    if (e && c && m && PyObject_SetAttrString(e, "code", c) == 0 &&
        PyObject_SetAttrString(e, "message", m) == 0)
        PyErr_SetObject(Error, e);
    Py_XDECREF(e);
    Py_XDECREF(c);
    Py_XDECREF(m);
    return NULL;
}

static void release(held_t *p)
{
    PyBuffer_Release(&p->view);
    PyMem_Free(p->name);
    PyMem_Free(p);
}

static held_t **find(Handle *h, const char *name)
{
    held_t **p = &h->held;
    while (*p && strcmp((*p)->name, name) != 0)
        p = &(*p)->next;
    return p;
}

static void release_all(Handle *h)
{
    while (h->held) {
        held_t *p = h->held;
        h->held = p->next;
        release(p);
    }
}

static int Handle_init(Handle *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"comm", "config", NULL};
    int fcomm, rc;
    const char *path = NULL;
    ckpt_t *ck = NULL;
    MPI_Comm comm;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i|z", names, &fcomm, &path))
        return -1;
    if (self->ck) {
        PyErr_SetString(PyExc_RuntimeError, "handle already initialized");
        return -1;
    }
    comm = MPI_Comm_f2c(fcomm);
    Py_BEGIN_ALLOW_THREADS
    rc = ckpt_init(comm, path, &ck);
    Py_END_ALLOW_THREADS
    if (rc != CKPT_OK) {
        fail(NULL, rc);
        return -1;
    }
    self->ck = ck;
    return 0;
}

/* Runs call without the GIL, the handle marked busy meanwhile. */
#define UNLOCKED(h, call)         \
    do {                          \
        (h)->busy = 1;            \
        Py_BEGIN_ALLOW_THREADS    \
        call;                     \
        Py_END_ALLOW_THREADS      \
        (h)->busy = 0;            \
    } while (0)

/* A handle is used by one thread at a time: another thread's protect,
 * unprotect or close while a save runs without the GIL would free what the
 * save reads. */
static int idle(Handle *h)
{
    if (h->busy)
        PyErr_SetString(PyExc_RuntimeError, "the checkpoint handle is in use "
                        "by another thread");
    return !h->busy;
}

static int open_ok(Handle *h)
{
    if (!idle(h))
        return 0;
    if (h->ck == NULL) {
        PyErr_SetString(PyExc_ValueError, "the checkpoint handle is closed");
        return 0;
    }
    return 1;
}

/* The writable, C-contiguous view of obj: TypeError for a non-buffer,
 * ValueError for a read-only or non-contiguous one. */
static int get_view(PyObject *obj, Py_buffer *v)
{
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "a buffer is needed (numpy array, "
                     "bytearray, torch CPU tensor), not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS |
                           PyBUF_FORMAT) == 0) {
        /* Python objects ('O') are pointers: restoring them would plant
         * addresses from another process */
        if (v->format && (strchr(v->format, 'O') || strchr(v->format, 'P'))) {
            PyBuffer_Release(v);
            PyErr_SetString(PyExc_ValueError, "a buffer of Python objects or "
                            "pointers cannot be checkpointed");
            return -1;
        }
        return 0;
    }
    PyErr_Clear();
    if (PyObject_GetBuffer(obj, v, PyBUF_SIMPLE) == 0) {
        int readonly = v->readonly;
        PyBuffer_Release(v);
        if (readonly) {
            PyErr_SetString(PyExc_ValueError, "the buffer is read-only: the "
                            "restore could not write into it");
            return -1;
        }
    } else {
        PyErr_Clear();
    }
    PyErr_SetString(PyExc_ValueError, "the buffer is not C-contiguous (use "
                    "numpy.ascontiguousarray or .contiguous() and protect that)");
    return -1;
}

/* protect(name, buffer, type, itemsize, kind, offset, global_count):
 * kind 0 private, 1 global, 2 replicated. */
static PyObject *Handle_protect(Handle *self, PyObject *args)
{
    const char *name;
    PyObject *obj;
    int type, kind, rc;
    Py_ssize_t itemsize;
    unsigned long long off = 0, gcount = 0;
    held_t *p, **old;
    size_t count;
    if (!PyArg_ParseTuple(args, "sOiniKK", &name, &obj, &type, &itemsize, &kind,
                          &off, &gcount) || !open_ok(self))
        return NULL;
    if (itemsize <= 0)
        return PyErr_Format(PyExc_ValueError, "bad item size %zd", itemsize);
    p = PyMem_Calloc(1, sizeof *p);
    if (p == NULL || (p->name = PyMem_Malloc(strlen(name) + 1)) == NULL) {
        PyMem_Free(p);
        return PyErr_NoMemory();
    }
    strcpy(p->name, name);
    if (get_view(obj, &p->view) != 0) {
        PyMem_Free(p->name);
        PyMem_Free(p);
        return NULL;
    }
    if (p->view.len % itemsize != 0) {
        Py_ssize_t len = p->view.len;
        release(p);
        return PyErr_Format(PyExc_ValueError, "region '%s': %zd bytes is not "
                            "a whole number of %zd-byte elements", name, len,
                            itemsize);
    }
    count = (size_t)(p->view.len / itemsize);
    if (kind == 1)
        rc = ckpt_protect_global(self->ck, name, p->view.buf, count,
                                 (ckpt_type_t)type, off, gcount);
    else if (kind == 2)
        rc = ckpt_protect_replicated(self->ck, name, p->view.buf, count,
                                     (ckpt_type_t)type);
    else
        rc = ckpt_protect(self->ck, name, p->view.buf, count, (ckpt_type_t)type);
    if (rc != CKPT_OK) {
        release(p);
        return fail(self, rc);
    }
    old = find(self, name); /* the library replaced it: so do we */
    if (*old) {
        held_t *q = *old;
        *old = q->next;
        release(q);
    }
    p->next = self->held;
    self->held = p;
    Py_RETURN_NONE;
}

static PyObject *Handle_unprotect(Handle *self, PyObject *args)
{
    const char *name;
    held_t **p;
    int rc;
    if (!PyArg_ParseTuple(args, "s", &name) || !open_ok(self))
        return NULL;
    if ((rc = ckpt_unprotect(self->ck, name)) != CKPT_OK)
        return fail(self, rc);
    if (*(p = find(self, name))) {
        held_t *q = *p;
        *p = q->next;
        release(q);
    }
    Py_RETURN_NONE;
}

static PyObject *Handle_save(Handle *self, PyObject *args)
{
    long long step;
    int rc;
    if (!PyArg_ParseTuple(args, "L", &step) || !open_ok(self))
        return NULL;
    UNLOCKED(self, rc = ckpt_save(self->ck, step));
    return rc == CKPT_OK ? (Py_INCREF(Py_None), Py_None) : fail(self, rc);
}

/* restore(step): the step restored; step -1 is the newest. */
static PyObject *Handle_restore(Handle *self, PyObject *args)
{
    long long step;
    int64_t got = -1;
    int rc;
    if (!PyArg_ParseTuple(args, "L", &step) || !open_ok(self))
        return NULL;
    UNLOCKED(self, rc = ckpt_restore(self->ck, step, &got));
    return rc == CKPT_OK ? PyLong_FromLongLong(got) : fail(self, rc);
}

static PyObject *Handle_latest(Handle *self, PyObject *noargs)
{
    int64_t step = -1;
    int rc;
    (void)noargs;
    if (!open_ok(self))
        return NULL;
    UNLOCKED(self, rc = ckpt_latest(self->ck, &step));
    return rc == CKPT_OK ? PyLong_FromLongLong(step) : fail(self, rc);
}

static PyObject *Handle_level(Handle *self, PyObject *args)
{
    long long step;
    int level = 0, rc;
    if (!PyArg_ParseTuple(args, "L", &step) || !open_ok(self))
        return NULL;
    UNLOCKED(self, rc = ckpt_level(self->ck, step, &level));
    return rc == CKPT_OK ? PyLong_FromLong(level) : fail(self, rc);
}

static PyObject *Handle_wait(Handle *self, PyObject *args)
{
    long long step;
    int level, rc;
    if (!PyArg_ParseTuple(args, "Li", &step, &level) || !open_ok(self))
        return NULL;
    UNLOCKED(self, rc = ckpt_wait(self->ck, step, level));
    return rc == CKPT_OK ? (Py_INCREF(Py_None), Py_None) : fail(self, rc);
}

/* One small reduction, made every training step: the GIL is kept. */
static PyObject *Handle_need_save(Handle *self, PyObject *noargs)
{
    int reason = CKPT_SAVE_NO, rc;
    (void)noargs;
    if (!open_ok(self))
        return NULL;
    rc = ckpt_need_save(self->ck, &reason);
    return rc == CKPT_OK ? PyLong_FromLong(reason) : fail(self, rc);
}

/* Collective; the buffers are released whatever the result. */
static PyObject *Handle_close(Handle *self, PyObject *noargs)
{
    int rc = CKPT_OK;
    ckpt_t *ck = self->ck;
    (void)noargs;
    if (!idle(self))
        return NULL;
    if (ck) {
        UNLOCKED(self, rc = ckpt_finalize(&ck)); /* its message is logged */
        self->ck = NULL;
    }
    release_all(self);
    return rc == CKPT_OK ? (Py_INCREF(Py_None), Py_None) : fail(NULL, rc);
}

/* A handle dropped without close() cannot finalize (that is collective):
 * its buffers are released and the handle leaks, as the C library's would. */
static void Handle_dealloc(Handle *self)
{
    release_all(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Handle_methods[] = {
    {"protect", (PyCFunction)Handle_protect, METH_VARARGS, NULL},
    {"unprotect", (PyCFunction)Handle_unprotect, METH_VARARGS, NULL},
    {"save", (PyCFunction)Handle_save, METH_VARARGS, NULL},
    {"restore", (PyCFunction)Handle_restore, METH_VARARGS, NULL},
    {"latest", (PyCFunction)Handle_latest, METH_NOARGS, NULL},
    {"level", (PyCFunction)Handle_level, METH_VARARGS, NULL},
    {"wait", (PyCFunction)Handle_wait, METH_VARARGS, NULL},
    {"need_save", (PyCFunction)Handle_need_save, METH_NOARGS, NULL},
    {"close", (PyCFunction)Handle_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ckpt._ckpt.Handle",
    .tp_basicsize = sizeof(Handle),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Handle(fortran_comm, config_path): one ckpt_t (internal; use "
              "ckpt.Checkpoint)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Handle_init,
    .tp_dealloc = (destructor)Handle_dealloc,
    .tp_methods = Handle_methods,
};

static PyObject *mod_strerror(PyObject *m, PyObject *args)
{
    int code;
    (void)m;
    if (!PyArg_ParseTuple(args, "i", &code))
        return NULL;
    return PyUnicode_FromString(ckpt_strerror(code));
}

static PyMethodDef mod_methods[] = {
    {"strerror", mod_strerror, METH_VARARGS, "ckpt_strerror(code)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckpt", "libckpt's C API (internal; use ckpt)", -1,
    mod_methods, NULL, NULL, NULL, NULL,
};

#define CONST(m, name) bad |= PyModule_AddIntConstant(m, &#name[5], name) < 0

PyMODINIT_FUNC PyInit__ckpt(void);
PyMODINIT_FUNC PyInit__ckpt(void)
{
    PyObject *m;
    int bad = 0;
    if (PyType_Ready(&HandleType) < 0 || (m = PyModule_Create(&module)) == NULL)
        return NULL;
    Error = PyErr_NewExceptionWithDoc("ckpt.Error", "A libckpt call failed: "
                                      ".code is the C error code, .message the "
                                      "message every rank agreed on.", NULL, NULL);
    Py_INCREF(&HandleType);
    if (Error == NULL || PyModule_AddObject(m, "Error", Error) < 0 ||
        PyModule_AddObject(m, "Handle", (PyObject *)&HandleType) < 0)
        return NULL;
    Py_INCREF(Error);
    CONST(m, CKPT_OK); CONST(m, CKPT_EINVAL); CONST(m, CKPT_ECONFIG);
    CONST(m, CKPT_ESTATE); CONST(m, CKPT_ENOENT); CONST(m, CKPT_EMISMATCH);
    CONST(m, CKPT_ECORRUPT); CONST(m, CKPT_EIO); CONST(m, CKPT_ENOSPC);
    CONST(m, CKPT_ESTORAGE); CONST(m, CKPT_EMPI); CONST(m, CKPT_ENOMEM);
    CONST(m, CKPT_LEVEL_NONE); CONST(m, CKPT_LEVEL_LOCAL);
    CONST(m, CKPT_LEVEL_PARTNER); CONST(m, CKPT_LEVEL_STORAGE);
    CONST(m, CKPT_BYTE); CONST(m, CKPT_INT32); CONST(m, CKPT_INT64);
    CONST(m, CKPT_UINT32); CONST(m, CKPT_UINT64); CONST(m, CKPT_FLOAT16);
    CONST(m, CKPT_BFLOAT16); CONST(m, CKPT_FLOAT); CONST(m, CKPT_DOUBLE);
    CONST(m, CKPT_SAVE_NO); CONST(m, CKPT_SAVE_INTERVAL); CONST(m, CKPT_SAVE_SIGNAL);
    if (bad) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
