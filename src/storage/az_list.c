#include "az_list.h"
#include "storage_impl.h"
#include "ckpt.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <string.h>

#define BAD "storage sent a malformed blob list: "

/* The element children of n called name: how many, and the first. */
static int children(xmlNode *n, const char *name, xmlNode **first)
{
    int count = 0;
    *first = NULL;
    for (xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            if (count++ == 0)
                *first = c;
    return count;
}

/* 1 if s (len bytes) has a byte below 0x20, or DEL. */
static int has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

static int add_name(xmlNode *blob, const char *prefix, az_list_t *l,
                    ckpt_err_t *e)
{
    xmlNode *name;
    xmlChar *enc, *s;
    size_t len;
    if (children(blob, "Name", &name) != 1)
        return err_set(e, CKPT_ESTORAGE, BAD "a <Blob> without exactly one "
                       "<Name>");
    if ((enc = xmlGetProp(name, (const xmlChar *)"Encoded")) != NULL) {
        int encoded = !strcmp((const char *)enc, "true");
        xmlFree(enc);
        if (encoded)
            return err_set(e, CKPT_ESTORAGE, BAD "an encoded blob name (one "
                           "with characters XML cannot hold)");
    }
    if ((s = xmlNodeGetContent(name)) == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory listing storage");
    len = strlen((const char *)s);
    if (len == 0 || len > AZ_NAME_MAX || has_control((const char *)s, len))
        err_set(e, CKPT_ESTORAGE, BAD "a blob name that is empty, longer than "
                "%d bytes or holds control characters", AZ_NAME_MAX);
    else if (strncmp((const char *)s, prefix, strlen(prefix)))
        err_set(e, CKPT_ESTORAGE, BAD "a blob name outside the prefix '%s' "
                "asked for", prefix);
    else if (l->n >= l->max_names)
        err_set(e, CKPT_ESTORAGE, "storage lists more than %d names under "
                "'%s'", l->max_names, prefix);
    else if (st_names_add(&l->names, &l->n, &l->cap, (const char *)s) != 0)
        err_set(e, CKPT_ENOMEM, "out of memory listing storage");
    xmlFree(s);
    return e->code;
}

static int parse_blobs(xmlNode *root, const char *prefix, az_list_t *l,
                       ckpt_err_t *e)
{
    xmlNode *blobs;
    if (children(root, "Blobs", &blobs) != 1)
        return err_set(e, CKPT_ESTORAGE, BAD "not exactly one <Blobs>");
    for (xmlNode *b = blobs->children; b && e->code == CKPT_OK; b = b->next) {
        if (b->type == XML_TEXT_NODE && xmlIsBlankNode(b))
            continue;
        if (b->type != XML_ELEMENT_NODE || strcmp((const char *)b->name, "Blob"))
            return err_set(e, CKPT_ESTORAGE, BAD "<Blobs> holds something "
                           "other than <Blob> elements");
        add_name(b, prefix, l, e);
    }
    return e->code;
}

static int parse_marker(xmlNode *root, az_list_t *l, ckpt_err_t *e)
{
    xmlNode *next;
    xmlChar *s;
    size_t len;
    int count = children(root, "NextMarker", &next);
    if (count == 0) {
        l->marker[0] = '\0';
        return CKPT_OK;
    }
    if (count > 1)
        return err_set(e, CKPT_ESTORAGE, BAD "more than one <NextMarker>");
    if ((s = xmlNodeGetContent(next)) == NULL)
        return err_set(e, CKPT_ENOMEM, "out of memory listing storage");
    len = strlen((const char *)s);
    if (len > AZ_MARKER_MAX || has_control((const char *)s, len))
        err_set(e, CKPT_ESTORAGE, BAD "a <NextMarker> longer than %d bytes or "
                "with control characters", AZ_MARKER_MAX);
    else if (len > 0 && !strcmp((const char *)s, l->marker))
        err_set(e, CKPT_ESTORAGE, "storage repeats its listing marker: the "
                "listing would never end");
    else
        memcpy(l->marker, s, len + 1);
    xmlFree(s);
    return e->code;
}

int az_list_parse(const char *xml, size_t len, const char *prefix,
                  az_list_t *l, ckpt_err_t *e)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    if (len == 0 || len > INT_MAX) {
        err_set(e, CKPT_ESTORAGE, BAD "%s answer", len ? "an oversized" : "an empty");
        goto out;
    }
    /* No network, no entity substitution, no DTD loading: the answer is
     * data, not instructions. */
    doc = xmlReadMemory(xml, (int)len, "list.xml", NULL, XML_PARSE_NONET |
                        XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        err_set(e, CKPT_ESTORAGE, BAD "not well-formed XML");
        goto out;
    }
    root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset)
        err_set(e, CKPT_ESTORAGE, BAD "it has a DTD");
    else if (root == NULL || root->ns ||
             strcmp((const char *)root->name, "EnumerationResults"))
        err_set(e, CKPT_ESTORAGE, BAD "its root is not <EnumerationResults>");
    else if (parse_blobs(root, prefix, l, e) == CKPT_OK)
        parse_marker(root, l, e);
out:
    if (e->code != CKPT_OK)
        l->marker[0] = '\0';
    xmlFreeDoc(doc);
    return e->code;
}
