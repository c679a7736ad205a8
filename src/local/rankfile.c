#include "rankfile.h"
#include "ckpt.h"
#include "xxh.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rank files store native bytes as little-endian HDF5 types"
#endif

/* HDF5 prints its error stack by default; the library reports errors itself
 * and must not change the program's own HDF5 settings, so it saves and
 * restores them around each call sequence. */
typedef struct {
    H5E_auto2_t fn;
    void *data;
} h5_quiet_t;

static void quiet_begin(h5_quiet_t *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_end(const h5_quiet_t *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

/* A half-precision type: 1 sign bit at 15, `ebits` exponent bits. */
static hid_t half_type(size_t ebits)
{
    size_t mbits = 15 - ebits;
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, mbits, ebits, 0, mbits);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, (1u << (ebits - 1)) - 1);
    return t;
}

static hid_t file_type(ckpt_type_t t)
{
    switch (t) {
    case CKPT_BYTE: return H5Tcopy(H5T_STD_U8LE);
    case CKPT_INT32: return H5Tcopy(H5T_STD_I32LE);
    case CKPT_INT64: return H5Tcopy(H5T_STD_I64LE);
    case CKPT_UINT32: return H5Tcopy(H5T_STD_U32LE);
    case CKPT_UINT64: return H5Tcopy(H5T_STD_U64LE);
    case CKPT_FLOAT16: return half_type(5);
    case CKPT_BFLOAT16: return half_type(8);
    case CKPT_FLOAT: return H5Tcopy(H5T_IEEE_F32LE);
    case CKPT_DOUBLE: return H5Tcopy(H5T_IEEE_F64LE);
    }
    return H5I_INVALID_HID;
}

static int put_attr(hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

static int put_str_attr(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc;
    H5Tset_size(t, strlen(v) + 1);
    rc = put_attr(obj, name, t, v);
    H5Tclose(t);
    return rc;
}

/* Creates one dataset with its attributes; its raw bytes are allocated in
 * the file (so their offset is known) but left unwritten. */
static int create_dataset(hid_t f, const region_t *r, int64_t step,
                          seg_t *data, rf_dataset_t *x)
{
    hsize_t dims = r->count;
    uint64_t sum = XXH3_64bits(r->buf, region_bytes(r));
    hid_t type = file_type(r->type), sp = H5Screate_simple(1, &dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), d = H5I_INVALID_HID;
    int rc = -1;
    if (type < 0 || sp < 0 || dcpl < 0 || H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0 ||
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0)
        goto out;
    d = H5Dcreate2(f, r->name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0 || put_attr(d, "checksum", H5T_STD_U64LE, &sum) ||
        put_attr(d, "step", H5T_STD_I64LE, &step) ||
        put_str_attr(d, "ckpt_type", type_name(r->type)))
        goto out;
    /* A slice says where it lies, so that h5py users can put it together. */
    if (r->kind != REGION_PRIVATE &&
        (put_str_attr(d, "ckpt_shape", region_kind_name(r->kind)) ||
         put_attr(d, "global_offset", H5T_STD_U64LE, &r->goff) ||
         put_attr(d, "global_count", H5T_STD_U64LE, &r->gcount)))
        goto out;
    data->len = region_bytes(r);
    data->off = data->len ? (uint64_t)H5Dget_offset(d) : 0;
    *x = (rf_dataset_t){.type = (int)r->type, .count = r->count,
                        .off = data->off, .checksum = sum, .kind = r->kind,
                        .goff = r->goff, .gcount = r->gcount};
    snprintf(x->name, sizeof x->name, "%s", r->name);
    data->src = r->buf;
    data->kind = SEG_DATA;
    rc = data->len && H5Dget_offset(d) == HADDR_UNDEF ? -1 : 0;
out:
    if (d >= 0)
        H5Dclose(d);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (type >= 0)
        H5Tclose(type);
    return rc;
}

/* The HDF5 part: the identity, every dataset created, offsets of the
 * non-empty ones. */
static int write_skeleton(const char *path, const region_set_t *rs,
                          const rf_id_t *id, seg_t *data, int *ndata,
                          rf_dataset_t *x)
{
    h5_quiet_t q;
    int rc = 0, format = 2;
    hid_t f;
    quiet_begin(&q);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0 || put_attr(f, "ckpt_format", H5T_STD_I32LE, &format) ||
        put_str_attr(f, "ckpt_job", id->job) ||
        put_attr(f, "ckpt_step", H5T_STD_I64LE, &id->step) ||
        put_attr(f, "ckpt_generation", H5T_STD_U64LE, &id->generation) ||
        put_attr(f, "ckpt_rank", H5T_STD_I32LE, &id->rank))
        rc = -1;
    *ndata = 0;
    for (int i = 0; rc == 0 && i < rs->n; i++) {
        rc = create_dataset(f, &rs->v[i], id->step, &data[*ndata], &x[i]);
        if (rc == 0 && data[*ndata].len > 0)
            (*ndata)++;
    }
    if (f >= 0 && H5Fclose(f) < 0)
        rc = -1;
    quiet_end(&q);
    return rc;
}

int rankfile_create(const char *path, const region_set_t *rs, const rf_id_t *id,
                    plan_t *plan, rf_index_t *idx, ckpt_err_t *e)
{
    struct stat st;
    seg_t *data = calloc((size_t)rs->n + 1, sizeof *data);
    int ndata = 0, fd;
    memset(idx, 0, sizeof *idx);
    idx->id = *id;
    idx->d = calloc((size_t)rs->n + 1, sizeof *idx->d);
    idx->n = rs->n;
    if (data == NULL || idx->d == NULL) {
        free(data);
        return err_set(e, CKPT_ENOMEM, "out of memory creating %s", path);
    }
    /* Created here first so that HDF5's truncating open keeps mode 0600. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_sys(e, errno, "create %s", path);
        goto out;
    }
    close(fd);
    if (write_skeleton(path, rs, id, data, &ndata, idx->d) != 0) {
        /* HDF5 hides errno; statvfs-style guessing would be worse than EIO
         * with the path, except for the common full-disk case. */
        err_set(e, errno == ENOSPC ? CKPT_ENOSPC : CKPT_EIO,
                "HDF5 could not create %s%s", path,
                errno == ENOSPC ? ": no space left on device" : "");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        err_sys(e, errno, "reopen %s", path);
    } else {
        plan_build(plan, fd, (uint64_t)st.st_size, data, ndata, path, e);
    }
    if (fd >= 0)
        close(fd);
out:
    free(data);
    return e->code;
}

static int get_attr(hid_t obj, const char *name, hid_t type, void *v)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Aread(a, type, v);
    if (a >= 0)
        H5Aclose(a);
    return rc < 0 ? -1 : 0;
}

/* A fixed-length string attribute that fits in buf with its NUL. */
static int get_str_attr(hid_t obj, const char *name, char *buf, size_t n)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID, mt = H5Tcopy(H5T_C_S1);
    int rc = -1;
    memset(buf, 0, n);
    H5Tset_size(mt, n);
    /* stored as strlen + 1 bytes: a name of n - 1 characters fits */
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 &&
        H5Tget_size(t) <= n && H5Aread(a, mt, buf) >= 0)
        rc = 0;
    buf[n - 1] = '\0';
    H5Tclose(mt);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

static int get_type_attr(hid_t d)
{
    char buf[32];
    return get_str_attr(d, "ckpt_type", buf, sizeof buf) == 0
               ? type_from_name(buf) : -1;
}

/* The shape attributes of a slice; none on a private region. */
static int get_shape(hid_t d, rf_dataset_t *x)
{
    char kind[16];
    x->kind = REGION_PRIVATE;
    x->goff = 0;
    x->gcount = x->count;
    if (H5Aexists(d, "ckpt_shape") <= 0)
        return 0;
    if (get_str_attr(d, "ckpt_shape", kind, sizeof kind) != 0 ||
        (x->kind = region_kind_from_name(kind)) <= REGION_PRIVATE ||
        get_attr(d, "global_offset", H5T_NATIVE_UINT64, &x->goff) ||
        get_attr(d, "global_count", H5T_NATIVE_UINT64, &x->gcount))
        return -1;
    return x->goff <= x->gcount && x->count <= x->gcount - x->goff ? 0 : -1;
}

static int read_dataset(hid_t f, const char *name, rf_dataset_t *x)
{
    hsize_t dims[2];
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp;
    int rc = -1;
    if (d < 0)
        return -1;
    sp = H5Dget_space(d);
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
        H5Sget_simple_extent_dims(sp, dims, NULL) == 1 &&
        get_attr(d, "checksum", H5T_NATIVE_UINT64, &x->checksum) == 0 &&
        (x->type = get_type_attr(d)) >= 0) {
        haddr_t off = H5Dget_offset(d);
        x->count = dims[0];
        x->off = off == HADDR_UNDEF ? 0 : (uint64_t)off;
        rc = (x->count > 0 && off == HADDR_UNDEF) || get_shape(d, x) ? -1 : 0;
        snprintf(x->name, sizeof x->name, "%s", name);
    }
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t link_info_t;
#define link_iterate H5Literate2
#else
typedef H5L_info_t link_info_t;
#define link_iterate H5Literate
#endif

static herr_t visit_link(hid_t g, const char *name, const link_info_t *info,
                         void *arg)
{
    rf_index_t *idx = arg;
    rf_dataset_t *d;
    (void)info;
    if (strlen(name) > CKPT_NAME_MAX)
        return -1;
    d = realloc(idx->d, (size_t)(idx->n + 1) * sizeof *d);
    if (d == NULL)
        return -1;
    idx->d = d;
    return read_dataset(g, name, &idx->d[idx->n++]) == 0 ? 0 : -1;
}

int rankfile_index(const char *path, rf_index_t *idx, ckpt_err_t *e)
{
    h5_quiet_t q;
    hid_t f;
    int bad = 0;
    memset(idx, 0, sizeof *idx);
    quiet_begin(&q);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0 || get_str_attr(f, "ckpt_job", idx->id.job, sizeof idx->id.job) ||
        get_attr(f, "ckpt_step", H5T_NATIVE_INT64, &idx->id.step) ||
        get_attr(f, "ckpt_generation", H5T_NATIVE_UINT64, &idx->id.generation) ||
        get_attr(f, "ckpt_rank", H5T_NATIVE_INT, &idx->id.rank) ||
        link_iterate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, visit_link, idx) < 0)
        bad = 1;
    if (f >= 0)
        H5Fclose(f);
    quiet_end(&q);
    if (bad) {
        rankfile_index_free(idx);
        return err_set(e, CKPT_ECORRUPT, "%s is not a readable rank file", path);
    }
    return CKPT_OK;
}

int rankfile_check_id(const char *path, const rf_index_t *idx,
                      const rf_id_t *want, ckpt_err_t *e)
{
    const rf_id_t *id = &idx->id;
    if (!strcmp(id->job, want->job) && id->step == want->step &&
        id->generation == want->generation && id->rank == want->rank)
        return CKPT_OK;
    return err_set(e, CKPT_ECORRUPT, "%s holds job '%.64s' step %" PRId64
                   " rank %d (save %016" PRIx64 "), not step %" PRId64
                   " rank %d (save %016" PRIx64 ")", path, id->job, id->step,
                   id->rank, id->generation, want->step, want->rank,
                   want->generation);
}

const rf_dataset_t *rankfile_find(const rf_index_t *idx, const char *name)
{
    for (int i = 0; i < idx->n; i++)
        if (!strcmp(idx->d[i].name, name))
            return &idx->d[i];
    return NULL;
}

void rankfile_index_free(rf_index_t *idx)
{
    free(idx->d);
    memset(idx, 0, sizeof *idx);
}
