/* The storage layer's parsers of what a service answers, over good and
 * malformed inputs: Retry-After, Content-Length and a List Blobs page. Pure
 * functions, so no MPI and no service: the program runs on its own. */
#include "az_list.h"
#include "http.h"
#include "storage.h"
#include "ckpt.h"

#include <CUnit/Basic.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_retry_after_good(void)
{
    static const struct { const char *in; double want; } good[] = {
        {"20", 20}, {" 20", 20}, {"20 ", 20}, {"\t5\t", 5}, {"0", 0},
        {"86400", 86400}, {"000000001", 1}, {"  7  ", 7}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double s = -1;
        CU_ASSERT_EQUAL(http_parse_retry_after(good[i].in, &s), 0);
        CU_ASSERT_EQUAL(s, good[i].want);
    }
}

static void test_retry_after_bad(void)
{
    static const char *bad[] = {
        "", " ", "inf", "INF", "infinity", "nan", "-1", "+1", "1.5", "1e3",
        "86401", "999999999", "1234567890", "99999999999999999999999", "20x",
        "x20", "2 0", "0x10", "Wed, 21 Oct 2015 07:28:00 GMT", "\xd9\xa1",
        "20\r", "\x01"};
    double s = 42;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(http_parse_retry_after(bad[i], &s), -1);
        CU_ASSERT_EQUAL(s, 42); /* untouched */
    }
    CU_ASSERT_EQUAL(http_parse_retry_after(NULL, &s), -1);
}

static void test_content_length(void)
{
    static const char *bad[] = {"", " ", "12abc", "-1", "+1", "1 2", "0x10",
                                "1.0", "99999999999999999999", "12\n"};
    uint64_t v = 0;
    CU_ASSERT_EQUAL(http_parse_content_length("0", &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(http_parse_content_length(" 67108864 ", &v), 0);
    CU_ASSERT_EQUAL(v, 67108864);
    CU_ASSERT_EQUAL(http_parse_content_length("9223372036854775807", &v), 0);
    CU_ASSERT_EQUAL(v, 9223372036854775807ull);
    /* beyond INT64_MAX: no off_t or curl_off_t holds it */
    CU_ASSERT_EQUAL(http_parse_content_length("9223372036854775808", &v), -1);
    CU_ASSERT_EQUAL(http_parse_content_length("9999999999999999999", &v), -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(http_parse_content_length(bad[i], &v), -1);
    CU_ASSERT_EQUAL(http_parse_content_length(NULL, &v), -1);
}

/* A page as Azurite 3 writes it (names and markers filled in). */
static char *azurite_page(const char *names[], int n, const char *next)
{
    static char buf[1 << 16];
    size_t used = (size_t)snprintf(buf, sizeof buf,
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
        "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/"
        "devstoreaccount1\" ContainerName=\"ckpt\"><Prefix>job/</Prefix>"
        "<Marker/><MaxResults>5000</MaxResults><Blobs>");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used,
            "<Blob><Name>%s</Name><Properties><Etag>0x25E59016A1C4DC0</Etag>"
            "<Content-Length>3</Content-Length><BlobType>BlockBlob</BlobType>"
            "</Properties></Blob>", names[i]);
    if (next)
        used += (size_t)snprintf(buf + used, sizeof buf - used,
                                 "</Blobs><NextMarker>%s</NextMarker>", next);
    else
        used += (size_t)snprintf(buf + used, sizeof buf - used,
                                 "</Blobs><NextMarker/>");
    snprintf(buf + used, sizeof buf - used, "</EnumerationResults>");
    return buf;
}

static void list_init(az_list_t *l, int max, const char *marker)
{
    memset(l, 0, sizeof *l);
    l->max_names = max;
    snprintf(l->marker, sizeof l->marker, "%s", marker);
}

static void list_free(az_list_t *l)
{
    storage_names_free(l->names, l->n);
    l->names = NULL;
    l->n = l->cap = 0;
}

static int parse(const char *xml, const char *prefix, az_list_t *l,
                 ckpt_err_t *e)
{
    err_clear(e);
    return az_list_parse(xml, strlen(xml), prefix, l, e);
}

/* Parses a page that must be good, saying why when it is not. */
static int good(const char *xml, const char *prefix, az_list_t *l)
{
    ckpt_err_t e;
    if (parse(xml, prefix, l, &e) != CKPT_OK)
        printf("\n  refused: %s", e.msg);
    return e.code;
}

static void test_list_pages(void)
{
    const char *p1[] = {"job/a", "job/b"}, *p2[] = {"job/c"};
    az_list_t l;
    list_init(&l, 100, "");
    CU_ASSERT_EQUAL(good(azurite_page(p1, 2, "2!96!bWFya2Vy"), "job/", &l),
                    CKPT_OK);
    CU_ASSERT_EQUAL(l.n, 2);
    CU_ASSERT_STRING_EQUAL(l.marker, "2!96!bWFya2Vy");
    CU_ASSERT_EQUAL(good(azurite_page(p2, 1, NULL), "job/", &l), CKPT_OK);
    CU_ASSERT_EQUAL_FATAL(l.n, 3);
    CU_ASSERT_STRING_EQUAL(l.names[2], "job/c");
    CU_ASSERT_STRING_EQUAL(l.marker, "");
    list_free(&l);
    /* an empty listing, an empty prefix, blanks between elements */
    list_init(&l, 100, "");
    CU_ASSERT_EQUAL(good(azurite_page(NULL, 0, NULL), "job/", &l), CKPT_OK);
    CU_ASSERT_EQUAL(l.n, 0);
    CU_ASSERT_EQUAL(good("<EnumerationResults>\n <Blobs>\n  <Blob><Name>x&amp;y"
                          "</Name></Blob>\n </Blobs>\n</EnumerationResults>\n",
                          "", &l), CKPT_OK);
    CU_ASSERT_EQUAL_FATAL(l.n, 1);
    CU_ASSERT_STRING_EQUAL(l.names[0], "x&y");
    list_free(&l);
}

static void test_list_limits(void)
{
    char name[AZ_NAME_MAX + 2], marker[AZ_MARKER_MAX + 2];
    const char *one[] = {name}, *three[] = {"a", "b", "c"};
    az_list_t l;
    ckpt_err_t e;
    memset(name, 'n', sizeof name);
    name[AZ_NAME_MAX] = '\0'; /* the longest name allowed */
    memset(marker, 'm', sizeof marker);
    marker[AZ_MARKER_MAX] = '\0';
    list_init(&l, 100, "");
    CU_ASSERT_EQUAL(good(azurite_page(one, 1, marker), "", &l), CKPT_OK);
    CU_ASSERT_EQUAL(strlen(l.marker), AZ_MARKER_MAX);
    list_free(&l);
    name[AZ_NAME_MAX] = 'n', name[AZ_NAME_MAX + 1] = '\0';
    list_init(&l, 100, "");
    CU_ASSERT_EQUAL(parse(azurite_page(one, 1, NULL), "", &l, &e), CKPT_ESTORAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "longer than 1024"));
    marker[AZ_MARKER_MAX] = 'm', marker[AZ_MARKER_MAX + 1] = '\0';
    CU_ASSERT_EQUAL(parse(azurite_page(three, 1, marker), "", &l, &e),
                    CKPT_ESTORAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "<NextMarker> longer than"));
    CU_ASSERT_STRING_EQUAL(l.marker, "");
    list_free(&l);
    /* the cap on names counts over pages */
    list_init(&l, 4, "");
    CU_ASSERT_EQUAL(good(azurite_page(three, 3, "m1"), "", &l), CKPT_OK);
    CU_ASSERT_EQUAL(good(azurite_page(three, 1, "m2"), "", &l), CKPT_OK);
    CU_ASSERT_EQUAL(parse(azurite_page(three, 1, NULL), "", &l, &e),
                    CKPT_ESTORAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "more than 4 names"));
    CU_ASSERT_EQUAL(l.n, 4);
    list_free(&l);
}

static void test_list_repeated_marker(void)
{
    const char *p[] = {"job/a"};
    az_list_t l;
    ckpt_err_t e;
    list_init(&l, 100, "");
    CU_ASSERT_EQUAL(good(azurite_page(p, 1, "again"), "job/", &l), CKPT_OK);
    CU_ASSERT_EQUAL(parse(azurite_page(p, 1, "again"), "job/", &l, &e),
                    CKPT_ESTORAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "repeats its listing marker"));
    CU_ASSERT_STRING_EQUAL(l.marker, "");
    list_free(&l);
}

/* Each must be CKPT_ESTORAGE with a message holding `says`, and no crash. */
static const struct { const char *xml, *says; } malformed[] = {
    {"", "empty"},
    {"not XML at all", "not well-formed"},
    {"<EnumerationResults><Blobs>", "not well-formed"},
    {"<EnumerationResults><Blobs/></EnumerationResults><x/>", "not well-formed"},
    {"<Other><Blobs/></Other>", "root is not"},
    {"<e:EnumerationResults xmlns:e=\"urn:x\"><Blobs/></e:EnumerationResults>",
     "root is not"},
    {"<EnumerationResults/>", "exactly one <Blobs>"},
    {"<EnumerationResults><Blobs/><Blobs/></EnumerationResults>",
     "exactly one <Blobs>"},
    {"<EnumerationResults><Blobs><Blob/></Blobs></EnumerationResults>",
     "exactly one <Name>"},
    {"<EnumerationResults><Blobs><Blob><Name>job/a</Name><Name>job/b</Name>"
     "</Blob></Blobs></EnumerationResults>", "exactly one <Name>"},
    {"<EnumerationResults><Blobs>text</Blobs></EnumerationResults>",
     "other than <Blob>"},
    {"<EnumerationResults><Blobs><BlobPrefix><Name>job/</Name></BlobPrefix>"
     "</Blobs></EnumerationResults>", "other than <Blob>"},
    {"<EnumerationResults><Blobs><!-- c --></Blobs></EnumerationResults>",
     "other than <Blob>"},
    {"<EnumerationResults><Blobs><Blob><Name></Name></Blob></Blobs>"
     "</EnumerationResults>", "empty"},
    {"<EnumerationResults><Blobs><Blob><Name>job/a&#9;b</Name></Blob></Blobs>"
     "</EnumerationResults>", "control characters"},
    {"<EnumerationResults><Blobs><Blob><Name>job/a&#10;</Name></Blob></Blobs>"
     "</EnumerationResults>", "control characters"},
    {"<EnumerationResults><Blobs><Blob><Name>job/a\x7f</Name></Blob></Blobs>"
     "</EnumerationResults>", "control characters"},
    {"<EnumerationResults><Blobs><Blob><Name>job/a&#1;</Name></Blob></Blobs>"
     "</EnumerationResults>", "not well-formed"},
    {"<EnumerationResults><Blobs><Blob><Name>other/a</Name></Blob></Blobs>"
     "</EnumerationResults>", "outside the prefix"},
    {"<EnumerationResults><Blobs><Blob><Name Encoded=\"true\">job%2Fa</Name>"
     "</Blob></Blobs></EnumerationResults>", "encoded"},
    {"<EnumerationResults><Blobs/><NextMarker>a</NextMarker><NextMarker>b"
     "</NextMarker></EnumerationResults>", "more than one <NextMarker>"},
    {"<EnumerationResults><Blobs/><NextMarker>a&#13;b</NextMarker>"
     "</EnumerationResults>", "control characters"},
    {"<?xml version=\"1.0\"?><!DOCTYPE EnumerationResults [<!ENTITY a \"aaaa\">"
     "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;\">]>"
     "<EnumerationResults><Blobs><Blob><Name>job/&c;</Name></Blob></Blobs>"
     "</EnumerationResults>", "malformed blob list"}, /* refused, somehow */
    {"<!DOCTYPE EnumerationResults [<!ENTITY e \"entity\">]>"
     "<EnumerationResults><Blobs><Blob><Name>job/&e;</Name></Blob></Blobs>"
     "</EnumerationResults>", "DTD"},
    {"<!DOCTYPE EnumerationResults [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
     "<EnumerationResults><Blobs><Blob><Name>job/&x;</Name></Blob></Blobs>"
     "</EnumerationResults>", "DTD"},
    {"<?xml version=\"1.0\" encoding=\"nonsense\"?><EnumerationResults>"
     "<Blobs/></EnumerationResults>", "not well-formed"},
};

static void test_list_malformed(void)
{
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        az_list_t l;
        ckpt_err_t e;
        list_init(&l, 100, "");
        CU_ASSERT_EQUAL(parse(malformed[i].xml, "job/", &l, &e), CKPT_ESTORAGE);
        if (strstr(e.msg, malformed[i].says) == NULL)
            printf("\n  case %zu: '%s' does not say '%s'", i, e.msg,
                   malformed[i].says);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, malformed[i].says));
        CU_ASSERT_EQUAL(l.n, 0);
        CU_ASSERT_STRING_EQUAL(l.marker, "");
        list_free(&l);
    }
}

/* A NUL inside the bytes, every prefix of a good page, each in a buffer of
 * exactly its length (so that AddressSanitizer sees a read past it): errors,
 * never a crash or a page. */
static void test_list_bytes(void)
{
    const char *p[] = {"job/a", "job/b"};
    const char *page = azurite_page(p, 2, "next");
    size_t len = strlen(page);
    char *copy;
    az_list_t l;
    ckpt_err_t e;
    int oks = 0;
    for (size_t cut = 0; cut < len; cut++) {
        copy = malloc(cut ? cut : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
        memcpy(copy, page, cut);
        list_init(&l, 100, "");
        err_clear(&e);
        oks += az_list_parse(copy, cut, "job/", &l, &e) == CKPT_OK;
        CU_ASSERT_TRUE(e.code == CKPT_OK || e.code == CKPT_ESTORAGE);
        list_free(&l);
        free(copy);
    }
    CU_ASSERT_EQUAL(oks, 0); /* a page cut anywhere is not a page */
    copy = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, page, len);
    copy[len / 2] = '\0';
    list_init(&l, 100, "");
    err_clear(&e);
    CU_ASSERT_EQUAL(az_list_parse(copy, len, "job/", &l, &e), CKPT_ESTORAGE);
    list_free(&l);
    free(copy);
}

int main(void)
{
    static const struct { const char *name; CU_TestFunc fn; } tests[] = {
        {"Retry-After: delta-seconds", test_retry_after_good},
        {"Retry-After: anything else is ignored", test_retry_after_bad},
        {"Content-Length", test_content_length},
        {"List Blobs: pages as Azurite writes them", test_list_pages},
        {"List Blobs: name, marker and count limits", test_list_limits},
        {"List Blobs: a repeated marker", test_list_repeated_marker},
        {"List Blobs: malformed pages", test_list_malformed},
        {"List Blobs: cut and NUL-holed pages", test_list_bytes}};
    CU_pSuite s;
    unsigned fails;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("storage parsers", NULL, NULL);
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    xmlCleanupParser();
    return fails ? 1 : 0;
}
