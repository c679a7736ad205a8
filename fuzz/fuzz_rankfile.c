/* libFuzzer harness: a rank file's metadata as libckpt reads it. HDF5's
 * own parser of the file's bytes is not ours to fuzz (HDF5 1.10 does not
 * survive damaged files, which is why libckpt hands HDF5 only files whose
 * digest it checked); what is ours is what rankfile_index and
 * rankfile_check_id make of any well-formed HDF5 file: which attributes
 * exist, with which types and values, which datasets, with which names,
 * shapes, types and attributes. The input's bytes choose all of that, the
 * file is written through the HDF5 API, and the reader must index it
 * consistently or refuse it with CKPT_ECORRUPT and a message. */
#include "fuzz.h"
#include "rankfile.h"
#include "region.h"
#include "ckpt.h"

#include <hdf5.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} input_t;

static unsigned byte(input_t *in)
{
    unsigned b = in->n ? *in->p : 0;
    if (in->n) {
        in->p++;
        in->n--;
    }
    return b;
}

/* A type chosen by the input: the right one, another width, or a string. */
static hid_t pick_type(input_t *in, hid_t right)
{
    hid_t t;
    switch (byte(in) % 8) {
    case 3: return H5Tcopy(H5T_STD_I32LE);
    case 4: return H5Tcopy(H5T_STD_I64LE);
    case 5: return H5Tcopy(H5T_IEEE_F64LE);
    case 6: return H5Tcopy(H5T_STD_U8LE);
    case 7:
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 1 + byte(in) % 300);
        return t;
    default: return H5Tcopy(right);
    }
}

/* An attribute of a type and value the input chooses (maybe none). */
static void put_attr(hid_t obj, const char *name, hid_t right, input_t *in)
{
    unsigned char v[512] = {0};
    hid_t t, sp, a;
    if (byte(in) % 8 == 0)
        return; /* left out */
    t = pick_type(in, right);
    for (size_t i = 0; i < sizeof v && in->n; i++)
        v[i] = (unsigned char)byte(in);
    sp = H5Screate(H5S_SCALAR);
    a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, t, v);
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(t);
}

/* A dataset name from the input: odd characters and lengths included. */
static void pick_name(input_t *in, char *name, size_t n)
{
    size_t len = 1 + byte(in) % (n - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned c = byte(in);
        name[i] = (char)(c < 32 || c == '/' || c == '.' || c > 126 ? 'a' + c % 26 : c);
    }
    name[len] = '\0';
}

static void put_dataset(hid_t f, input_t *in)
{
    char name[300];
    hsize_t dims[2] = {byte(in) % 64, 1 + byte(in) % 3};
    hid_t t = pick_type(in, H5T_STD_U8LE), sp, d;
    int rank = 1 + (byte(in) % 5 == 0);
    pick_name(in, name, sizeof name);
    sp = H5Screate_simple(rank, dims, NULL);
    d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        put_attr(d, "checksum", H5T_STD_U64LE, in);
        put_attr(d, "ckpt_type", H5T_C_S1, in);
        H5Dclose(d);
    }
    H5Sclose(sp);
    H5Tclose(t);
}

static void check_index(const char *path, const rf_index_t *idx)
{
    rf_id_t want = idx->id;
    ckpt_err_t e = {0};
    if (memchr(idx->id.job, '\0', sizeof idx->id.job) == NULL)
        fz_fail("the job attribute is not terminated");
    for (int i = 0; i < idx->n; i++) {
        if (memchr(idx->d[i].name, '\0', sizeof idx->d[i].name) == NULL)
            fz_fail("a dataset name is not terminated");
        if (type_size((ckpt_type_t)idx->d[i].type) == 0)
            fz_fail("a dataset of an unknown type was accepted");
    }
    if (rankfile_check_id(path, idx, &want, &e) != CKPT_OK)
        fz_fail("a file is not the save its own attributes name");
    want.generation++;
    if (rankfile_check_id(path, idx, &want, &e) != CKPT_ECORRUPT || !e.msg[0])
        fz_fail("another save's file is not CKPT_ECORRUPT with a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input_t in = {data, size};
    char path[4200];
    rf_index_t idx;
    ckpt_err_t e = {0};
    hid_t f;
    snprintf(path, sizeof path, "%s/rank.h5", fz_dir());
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if ((f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        fz_fail("cannot create the scratch rank file");
    put_attr(f, "ckpt_job", H5T_C_S1, &in);
    put_attr(f, "ckpt_step", H5T_STD_I64LE, &in);
    put_attr(f, "ckpt_generation", H5T_STD_U64LE, &in);
    put_attr(f, "ckpt_rank", H5T_STD_I32LE, &in);
    for (unsigned k = byte(&in) % 5; k > 0; k--)
        put_dataset(f, &in);
    H5Fclose(f);
    if (rankfile_index(path, &idx, &e) == CKPT_OK) {
        check_index(path, &idx);
        rankfile_index_free(&idx);
    } else if (e.code != CKPT_ECORRUPT || e.msg[0] == '\0') {
        fz_fail("a refused rank file is not CKPT_ECORRUPT with a message");
    }
    return 0;
}
