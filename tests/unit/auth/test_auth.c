/*
 * test_auth.c - server/auth/auth.c and the access decision of server/http/http.c: the Cookie
 * parser, roles, the first admin, login and sessions, API tokens, the rate limit (per address
 * and user, per address, the per-user spacing; exact under concurrency), and
 * sp_http_access_check() on Host, Origin, CSRF and permissions. Against a real SQLite file in
 * a temporary directory; the HTTP side is exercised end to end by tests/integration/auth.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "engine/common.h"
#include "auth/auth.h"
#include "http/http.h"
#include "store/store.h"

static char tmpdir[256];
static char dbpath[512];
static sp_auth *auth;

static void test_cookie_parser(void)
{
    char v[80];
    CHECK_INT_EQ(sp_auth_cookie_get("a=1; sp_session=abc; b=2", "sp_session", v, sizeof v), 0);
    CHECK_STR_EQ(v, "abc");
    CHECK_INT_EQ(sp_auth_cookie_get("sp_session = \"q v\" ;x=1", "sp_session", v, sizeof v), 0);
    CHECK_STR_EQ(v, "q v");
    CHECK_INT_EQ(sp_auth_cookie_get("xsp_session=1; sp_sessionx=2", "sp_session", v, sizeof v),
                 SP_ENOTFOUND);
    CHECK_INT_EQ(sp_auth_cookie_get(NULL, "sp_session", v, sizeof v), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_auth_cookie_get("sp_session", "sp_session", v, sizeof v), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_auth_cookie_get("sp_session=0123456789", "sp_session", v, 4), SP_ELIMIT);
    char *big = malloc(SP_AUTH_MAX_COOKIE + 16);
    memset(big, 'a', SP_AUTH_MAX_COOKIE + 15);
    big[SP_AUTH_MAX_COOKIE + 15] = '\0';
    memcpy(big, "sp_session=1;", 13);
    CHECK_INT_EQ(sp_auth_cookie_get(big, "sp_session", v, sizeof v), SP_ELIMIT);
    free(big);
}

static void test_roles(void)
{
    CHECK_UINT_EQ(sp_auth_role_perms("viewer"), SP_PERM_READ);
    CHECK_UINT_EQ(sp_auth_role_perms("tester"), SP_PERM_READ | SP_PERM_WRITE | SP_PERM_RUN);
    CHECK(sp_auth_role_perms("admin") & SP_PERM_ADMIN);
    CHECK_UINT_EQ(sp_auth_role_perms("root"), 0);
    CHECK(sp_auth_equal("abc", "abc"));
    CHECK(!sp_auth_equal("abc", "abd"));
    CHECK(!sp_auth_equal("abc", "abcd"));
}

static void test_first_admin(void)
{
    char gen[96], err[256] = "";
    sp_auth_config c = {.db_path = dbpath, .enabled = 1, .admin_password = "short"};
    sp_auth *a = NULL;
    CHECK_INT_EQ(sp_auth_new(&a, &c, gen, sizeof gen, err, sizeof err), SP_EINVAL);
    CHECK_STR_CONTAINS(err, "STAMPEDE_ADMIN_PASSWORD");
    c.admin_password = NULL;
    const char *names[] = {"stampede.example"};
    c.server_names = names;
    c.n_server_names = 1;
    CHECK_INT_EQ(sp_auth_new(&auth, &c, gen, sizeof gen, err, sizeof err), 0);
    CHECK(strlen(gen) >= 20);
    CHECK_INT_EQ(sp_auth_password_still_generated(auth), 1);
    CHECK(sp_auth_is_server_name(auth, "STAMPEDE.example"));
    CHECK(!sp_auth_is_server_name(auth, "evil.example"));
    sp_auth_session s;
    unsigned retry = 0;
    char msg[256];
    CHECK_INT_EQ(sp_auth_login(auth, "127.0.0.1", "admin", gen, &s, &retry, msg, sizeof msg), 0);
    CHECK_STR_EQ(s.role, "admin");
    CHECK_INT_EQ(strlen(s.sid), 64);
    CHECK_INT_EQ(
        sp_auth_password_change(auth, "admin", gen, "a-chosen-password", s.sid, msg, sizeof msg),
        0);
    CHECK_INT_EQ(sp_auth_password_still_generated(auth), 0);
}

static void test_sessions_and_tokens(void)
{
    char msg[256];
    CHECK_INT_EQ(sp_auth_user_create(auth, "v", "viewer-pass", "viewer", msg, sizeof msg), 0);
    CHECK_INT_EQ(sp_auth_user_create(auth, "v", "viewer-pass", "viewer", msg, sizeof msg),
                 SP_ESTATE);
    CHECK_INT_EQ(sp_auth_user_create(auth, "bad name", "viewer-pass", "viewer", msg, sizeof msg),
                 SP_EINVAL);
    sp_auth_session s;
    unsigned retry;
    CHECK_INT_EQ(sp_auth_login(auth, "127.0.0.9", "v", "viewer-pass", &s, &retry, msg, sizeof msg),
                 0);
    char cookie[128];
    snprintf(cookie, sizeof cookie, "x=1; sp_session=%s", s.sid);
    sp_auth_who w;
    CHECK_INT_EQ(sp_auth_identify(auth, NULL, cookie, &w, msg, sizeof msg), 0);
    CHECK_STR_EQ(w.user, "v");
    CHECK_UINT_EQ(w.perms, SP_PERM_READ);
    CHECK(w.by_session);
    CHECK_STR_EQ(w.csrf, s.csrf);
    CHECK_INT_EQ(sp_auth_identify(auth, NULL, "x=1", &w, msg, sizeof msg), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_auth_logout(auth, s.sid), 0);
    CHECK_INT_EQ(sp_auth_identify(auth, NULL, cookie, &w, msg, sizeof msg), SP_EUNAUTH);

    json_t *tok = NULL;
    CHECK_INT_EQ(sp_auth_token_create(auth, "v", "ci", 0, &tok, msg, sizeof msg), 0);
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Bearer %s", json_string_value(json_object_get(tok, "token")));
    CHECK_INT_EQ(sp_auth_identify(auth, hdr, NULL, &w, msg, sizeof msg), 0);
    CHECK_STR_EQ(w.user, "v");
    CHECK(!w.by_session);
    CHECK_INT_EQ(sp_auth_identify(auth, "Basic abc", NULL, &w, msg, sizeof msg), SP_EUNAUTH);
    char name[64];
    int64_t id = json_integer_value(json_object_get(tok, "id"));
    CHECK_INT_EQ(sp_auth_token_revoke(auth, id, "admin", name, msg, sizeof msg), SP_ENOTFOUND);
    CHECK_INT_EQ(sp_auth_token_revoke(auth, id, "v", name, msg, sizeof msg), 0);
    CHECK_STR_EQ(name, "ci");
    CHECK_INT_EQ(sp_auth_identify(auth, hdr, NULL, &w, msg, sizeof msg), SP_EUNAUTH);
    CHECK_STR_CONTAINS(msg, "revoked");
    json_decref(tok);
    CHECK_INT_EQ(sp_auth_token_create(auth, "v", "", 0, &tok, msg, sizeof msg), SP_EINVAL);
}

static int login_as(const char *address, const char *user, const char *password, unsigned *retry)
{
    sp_auth_session s;
    char msg[256];
    return sp_auth_login(auth, address, user, password, &s, retry, msg, sizeof msg);
}

static void test_rate_limit(void)
{
    unsigned retry = 0;
    /* One user from one address: 5 failures, then refused even with the right password, for
     * the rest of the window. */
    for (int i = 0; i < SP_AUTH_RL_FAILURES; i++)
        CHECK_INT_EQ(login_as("10.0.0.1", "v", "wrong-pass", &retry), SP_EUNAUTH);
    CHECK_INT_EQ(login_as("10.0.0.1", "v", "viewer-pass", &retry), SP_ELIMIT);
    CHECK(retry >= 1 && retry <= SP_AUTH_RL_WINDOW_S);
    /* The attacker's address does not lock the user out elsewhere, nor the address out for
     * other users. */
    CHECK_INT_EQ(login_as("10.0.0.2", "v", "viewer-pass", &retry), 0);
    CHECK_INT_EQ(login_as("10.0.0.1", "admin", "a-chosen-password", &retry), 0);
    /* One address, any names: SP_AUTH_RL_ADDR_FAILURES failures, then nobody from there. */
    char name[32];
    for (int i = 0; i < SP_AUTH_RL_ADDR_FAILURES; i++) {
        snprintf(name, sizeof name, "nobody%d", i);
        CHECK_INT_EQ(login_as("10.0.1.1", name, "wrong-pass", &retry), SP_EUNAUTH);
    }
    CHECK_INT_EQ(login_as("10.0.1.1", "admin", "a-chosen-password", &retry), SP_ELIMIT);
    CHECK(retry >= 1 && retry <= SP_AUTH_RL_WINDOW_S);
    /* One user from many addresses: past SP_AUTH_RL_USER_FAILURES failures in all (5 above),
     * one check a second: the next login waits a second, then gets in. */
    char addr[32];
    for (int i = SP_AUTH_RL_FAILURES; i < SP_AUTH_RL_USER_FAILURES; i++) {
        snprintf(addr, sizeof addr, "10.0.2.%d", i);
        CHECK_INT_EQ(login_as(addr, "v", "wrong-pass", &retry), SP_EUNAUTH);
    }
    CHECK_INT_EQ(login_as("10.0.3.1", "v", "viewer-pass", &retry), SP_ELIMIT);
    CHECK_UINT_EQ(retry, 1);
    usleep((SP_AUTH_RL_USER_GAP_MS + 100) * 1000);
    CHECK_INT_EQ(login_as("10.0.3.1", "v", "viewer-pass", &retry), 0);
}

/* 20 logins at once, one user from one address, a wrong password each. */
typedef struct burst {
    pthread_barrier_t go;
    int rc[20];
} burst;

static burst b20;

static void *burst_login(void *p)
{
    int i = (int)(intptr_t)p;
    unsigned retry;
    pthread_barrier_wait(&b20.go);
    b20.rc[i] = login_as("10.0.4.1", "ghost", "wrong-pass", &retry);
    return NULL;
}

static void test_rate_limit_is_exact_under_concurrency(void)
{
    /* A check under way counts as a failure until it ends: exactly SP_AUTH_RL_FAILURES
     * passwords are checked, however many logins race (the limit was read before the checks
     * and counted after them, so 20 at once checked 7). */
    pthread_t t[20];
    pthread_barrier_init(&b20.go, NULL, 20);
    for (int i = 0; i < 20; i++)
        pthread_create(&t[i], NULL, burst_login, (void *)(intptr_t)i);
    int failed = 0, limited = 0;
    for (int i = 0; i < 20; i++) {
        pthread_join(t[i], NULL);
        failed += b20.rc[i] == SP_EUNAUTH;
        limited += b20.rc[i] == SP_ELIMIT;
    }
    pthread_barrier_destroy(&b20.go);
    CHECK_INT_EQ(failed, SP_AUTH_RL_FAILURES);
    CHECK_INT_EQ(limited, 20 - SP_AUTH_RL_FAILURES);
}

static int check(sp_http_access *a, sp_perm perm, sp_http_principal *who)
{
    char msg[256];
    return sp_http_access_check(a, perm, who, msg, sizeof msg);
}

static void test_access_check(void)
{
    struct sockaddr_in peer = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    sp_auth_session s;
    unsigned retry;
    char msg[256], cookie[128];
    CHECK_INT_EQ(
        sp_auth_login(auth, "127.0.0.1", "admin", "a-chosen-password", &s, &retry, msg, sizeof msg),
        0);
    snprintf(cookie, sizeof cookie, "sp_session=%s", s.sid);
    sp_http_access a = {.peer = (const struct sockaddr *)&peer,
                        .method = "POST",
                        .host = "127.0.0.1:8484",
                        .listen_host = "127.0.0.1",
                        .port = 8484,
                        .auth = auth,
                        .cookie = cookie,
                        .path = "/api/v1/tests",
                        .address = "127.0.0.1"};
    sp_http_principal who;
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN); /* no CSRF token */
    a.csrf = s.csrf;
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), 0);
    CHECK_STR_EQ(who.name, "admin");
    CHECK_STR_EQ(who.role, "admin");
    a.origin = "http://evil.example";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
    a.origin = "https://stampede.example";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), 0); /* a --server-name behind a proxy */
    /* The scheme counts: this server speaks plain HTTP on 8484, so no https:// page is on
     * that port, and the other way round for a TLS server. */
    a.origin = "http://127.0.0.1:8484";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), 0);
    a.origin = "https://127.0.0.1:8484";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
    a.origin = "https://[::1]:8484";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
    a.origin = "https://localhost:08484";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
    a.tls = 1;
    a.origin = "https://127.0.0.1:8484";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), 0);
    a.origin = "http://127.0.0.1:8484";
    CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
    a.tls = 0;
    a.origin = NULL;
    /* No Host: nothing says which server was meant. */
    a.host = NULL;
    CHECK_INT_EQ(check(&a, SP_PERM_READ, &who), SP_EINVAL);
    a.host = "127.0.0.1:8484";
    a.host = "evil.example:8484";
    CHECK_INT_EQ(check(&a, SP_PERM_READ, &who), SP_EFORBIDDEN);
    a.host = "127.0.0.1:8484";
    a.cookie = NULL;
    CHECK_INT_EQ(check(&a, SP_PERM_READ, &who), SP_EUNAUTH);
    CHECK_INT_EQ(check(&a, SP_PERM_PUBLIC, &who), 0);
    CHECK_STR_EQ(who.name, "anonymous");
    /* A stale cookie is no reason to refuse a public page (the login page). */
    a.cookie = "sp_session=0000000000000000000000000000000000000000000000000000000000000000";
    CHECK_INT_EQ(check(&a, SP_PERM_PUBLIC, &who), 0);
    CHECK_INT_EQ(check(&a, SP_PERM_READ, &who), SP_EUNAUTH);
    /* Without accounts: loopback is "local" with everything, anything else nobody. */
    a.auth = NULL;
    a.cookie = NULL;
    CHECK_INT_EQ(check(&a, SP_PERM_ADMIN, &who), 0);
    CHECK_STR_EQ(who.name, "local");
    inet_pton(AF_INET, "10.1.2.3", &peer.sin_addr);
    CHECK_INT_EQ(check(&a, SP_PERM_READ, &who), SP_EUNAUTH);

    json_t *list = NULL;
    sp_auth_audit_filter f = {.action = "denied"};
    CHECK_INT_EQ(sp_auth_audit_list(auth, &f, &list), 0);
    CHECK(json_array_size(json_object_get(list, "entries")) >= 4);
    json_decref(list);
}

/*
 * Every method that changes something needs the session's CSRF token and, when the browser
 * sends an Origin, our own: PUT, PATCH and DELETE as much as POST. Reading needs neither.
 */
static void test_unsafe_methods_need_csrf_and_origin(void)
{
    struct sockaddr_in peer = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    sp_auth_session s, other;
    unsigned retry;
    char msg[256], cookie[128];
    CHECK_INT_EQ(
        sp_auth_login(auth, "127.0.0.5", "admin", "a-chosen-password", &s, &retry, msg, sizeof msg),
        0);
    CHECK_INT_EQ(sp_auth_login(auth, "127.0.0.6", "admin", "a-chosen-password", &other, &retry, msg,
                               sizeof msg),
                 0);
    snprintf(cookie, sizeof cookie, "sp_session=%s", s.sid);
    static const char *const unsafe[] = {"POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < SP_ARRAY_LEN(unsafe); i++) {
        sp_http_access a = {.peer = (const struct sockaddr *)&peer,
                            .method = unsafe[i],
                            .host = "127.0.0.1:8484",
                            .listen_host = "127.0.0.1",
                            .port = 8484,
                            .auth = auth,
                            .cookie = cookie,
                            .path = "/api/v1/tests/1",
                            .address = "127.0.0.1"};
        sp_http_principal who;
        check_current_name = unsafe[i]; /* a failure names the method */
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN); /* no token */
        a.csrf = "0000000000000000000000000000000000000000000000000000000000000000";
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN); /* a wrong one */
        a.csrf = other.csrf;
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN); /* another session's */
        a.csrf = s.csrf;
        a.origin = "http://evil.example";
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
        a.origin = "null";
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
        /* A foreign Origin is refused before any credential is looked at, a token's too. */
        a.cookie = NULL;
        a.csrf = NULL;
        a.origin = "http://evil.example";
        a.authorization = "Bearer spt_0000";
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), SP_EFORBIDDEN);
        a.authorization = NULL;
        /* Our own page: the token and our Origin (or none, for a non-browser client). */
        a.cookie = cookie;
        a.csrf = s.csrf;
        a.origin = "http://127.0.0.1:8484";
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), 0);
        a.origin = NULL;
        CHECK_INT_EQ(check(&a, SP_PERM_WRITE, &who), 0);
    }
    check_current_name = "test_unsafe_methods_need_csrf_and_origin";
    sp_http_access g = {.peer = (const struct sockaddr *)&peer,
                        .method = "GET",
                        .host = "127.0.0.1:8484",
                        .listen_host = "127.0.0.1",
                        .port = 8484,
                        .auth = auth,
                        .cookie = cookie,
                        .path = "/api/v1/tests/1",
                        .address = "127.0.0.1"};
    sp_http_principal who;
    CHECK_INT_EQ(check(&g, SP_PERM_READ, &who), 0);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sp-test-auth-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    snprintf(dbpath, sizeof dbpath, "%s/stampede.db", tmpdir);
    sp_store *s = NULL;
    char err[256];
    if (sp_store_open(&s, dbpath, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    sp_store_close(s);
    RUN(test_cookie_parser);
    RUN(test_roles);
    RUN(test_first_admin);
    if (auth) {
        RUN(test_sessions_and_tokens);
        RUN(test_rate_limit);
        RUN(test_rate_limit_is_exact_under_concurrency);
        RUN(test_access_check);
        RUN(test_unsafe_methods_need_csrf_and_origin);
    }
    sp_auth_free(auth);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
