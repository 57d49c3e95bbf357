/*
 * test_common.c - engine/common.c: Jansson allocates through sp_malloc, set before main() in
 * every program that links the engine, so that out of memory inside Jansson aborts in the same
 * one place as everywhere else instead of returning NULL.
 */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "engine/common.h"

/* Nothing in this program sets the allocator: the engine did before main(). */
static void test_jansson_allocates_through_sp_malloc(void)
{
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    CHECK(m != NULL && m != malloc);
    CHECK(f == free);

    uint64_t before = sp_json_allocs();
    json_t *j = json_pack("{s:[i,i], s:s}", "a", 1, 2, "b", "text");
    CHECK(j != NULL);
    uint64_t made = sp_json_allocs() - before;
    /* At least the object, the array, two integers and the string. */
    CHECK(made >= 5);
    before = sp_json_allocs();
    char *s = json_dumps(j, JSON_COMPACT);
    CHECK(s != NULL);
    CHECK(sp_json_allocs() > before);
    CHECK_STR_EQ(s, "{\"a\":[1,2],\"b\":\"text\"}");
    free(s); /* Jansson's free function is free() */
    json_decref(j);
}

/* An allocation Jansson cannot get ends the process (in a child here) instead of returning
 * NULL to Jansson. */
static void test_jansson_out_of_memory_aborts(void)
{
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* stderr would only show the expected "out of memory" line. */
        FILE *null = freopen("/dev/null", "w", stderr);
        (void)null;
        void *p = m((size_t)-1 / 2);
        _exit(p == NULL ? 0 : 3);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    /* Not a normal exit: sp_malloc aborted (a sanitizer may end it its own way). */
    CHECK(!(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3)));
    if (WIFSIGNALED(status))
        CHECK_INT_EQ(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    RUN(test_jansson_allocates_through_sp_malloc);
    RUN(test_jansson_out_of_memory_aborts);
    return check_summary();
}
