/*
 * importutil.c - see importutil.h.
 */
#define _GNU_SOURCE /* memmem */
#include "import/importutil.h"

#include <string.h>

#include "base/json.h"
#include "engine/limits.h"

int sp_import_document(json_t *body, const char *key, json_t **doc, const char **path, char *msg,
                       size_t msglen)
{
    *doc = NULL;
    *path = "";
    if (!json_is_object(body)) {
        snprintf(msg, msglen,
                 "the body must be a JSON object: the document, or {\"document\": ...}");
        return SP_EINVAL;
    }
    json_t *d = json_object_get(body, "document"); /* borrowed */
    if (!d) {
        *doc = json_incref(body);
        return 0;
    }
    *path = "document";
    if (json_is_object(d)) {
        *doc = json_incref(d);
        return 0;
    }
    if (!json_is_string(d)) {
        snprintf(msg, msglen, "must be an object or a string holding JSON");
        return SP_EINVAL;
    }
    const char *text = json_string_value(d);
    size_t len = json_string_length(d);
    if (len > SP_IMPORT_MAX_BYTES) {
        snprintf(msg, msglen, "%zu bytes is larger than the limit of %u bytes", len,
                 (unsigned)SP_IMPORT_MAX_BYTES);
        return SP_ELIMIT;
    }
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i < len && text[i] != '{' && text[i] != '[') {
        /* YAML (or anything else): a YAML parser is a large thing to carry for one import, and
         * every tool that writes YAML can write JSON. */
        snprintf(msg, msglen,
                 "the document is not JSON (it looks like %s); send it as JSON, e.g. converted "
                 "with `yq -o=json`",
                 memmem(text, len, "openapi:", 8) || memmem(text, len, "swagger:", 8) ||
                         memmem(text, len, "---", 3)
                     ? "YAML"
                     : "something else");
        return SP_EINVAL;
    }
    json_t *v = NULL;
    char why[256];
    int rc = sp_json_parse(text, len, SP_IMPORT_MAX_DEPTH, &v, why, sizeof why);
    if (rc) {
        snprintf(msg, msglen, "%s", why);
        return rc == SP_ELIMIT ? SP_ELIMIT : SP_EINVAL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(msg, msglen, "must hold a JSON object (with \"%s\")", key);
        return SP_EINVAL;
    }
    *doc = v;
    return 0;
}

json_t *sp_import_tmpl_string(const char *s, size_t n)
{
    if (!memmem(s, n, "{{", 2))
        return json_stringn(s, n);
    sp_buf b;
    sp_buf_init(&b, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '{' && i + 1 < n && s[i + 1] == '{') {
            sp_buf_adds(&b, "{{\"{{\"}}");
            i++;
        } else {
            sp_buf_addc(&b, s[i]);
        }
    }
    json_t *v = json_stringn(b.p ? b.p : "", b.len);
    sp_buf_release(&b);
    return v;
}

void sp_import_escape_json(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *child; /* borrowed */
        json_object_foreach(v, k, child)
        {
            if (json_is_string(child))
                json_object_set_new(
                    v, k,
                    sp_import_tmpl_string(json_string_value(child), json_string_length(child)));
            else
                sp_import_escape_json(child);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child; /* borrowed */
        json_array_foreach(v, i, child)
        {
            if (json_is_string(child))
                json_array_set_new(
                    v, i,
                    sp_import_tmpl_string(json_string_value(child), json_string_length(child)));
            else
                sp_import_escape_json(child);
        }
    }
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Whether a path segment is an identifier rather than a word of the API. */
static int id_like(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t digits = 0, hex = 0, alnum = 0, letters = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        digits += c >= '0' && c <= '9';
        hex += is_hex(c);
        int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        letters += letter;
        alnum += letter || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    if (digits == n)
        return 1;
    if (n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && hex == 32)
        return 1;
    if (n >= 16 && hex == n && digits > 0)
        return 1;
    /* Long opaque tokens (base64url ids, ULIDs) mix letters and digits; long words do not. */
    return n >= 24 && alnum == n && digits > 0 && letters > 0;
}

void sp_import_path_pattern(const char *path, size_t len, sp_buf *out)
{
    size_t i = 0;
    while (i < len) {
        if (path[i] == '/') {
            sp_buf_addc(out, '/');
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (id_like(path + i, j - i))
            sp_buf_adds(out, ":id");
        else
            sp_buf_add(out, path + i, j - i);
        i = j;
    }
    if (len == 0)
        sp_buf_addc(out, '/');
}

#define NAME_MAX_BYTES 256 /* the definition's cap on request and task names */

json_t *sp_import_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return json_string("request");
    if (n > NAME_MAX_BYTES) {
        n = NAME_MAX_BYTES;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
    }
    char buf[NAME_MAX_BYTES + 1];
    memcpy(buf, s, n);
    buf[n] = '\0';
    return sp_json_string(buf);
}

int sp_import_var_name_ok(const char *s)
{
    static const char *const reserved[] = {"vu", "iteration", "status", "row", "secret"};
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    for (size_t i = 0; i < SP_ARRAY_LEN(reserved); i++)
        if (strcmp(s, reserved[i]) == 0)
            return 0;
    return n <= 64;
}

json_t *sp_import_definition(const char *name, const char *description, const char *base_url,
                             const char *user, json_t *tasks)
{
    /* One VU for a short while: an import is a starting point to check with "Try it" and then
     * give a real load profile, never a load that starts by surprise. */
    return json_pack("{s:o, s:o, s:s, s:[{s:s, s:o}], s:{s:s, s:[{s:s, s:i}]}}", "name",
                     sp_json_string(name), "description", sp_json_string(description), "base_url",
                     base_url, "users", "name", user, "tasks", tasks, "load", "model", "closed",
                     "stages", "duration", "30s", "users", 1);
}
