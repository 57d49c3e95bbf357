/*
 * api_tests.h - the test routes under /api/v1/tests: validate a definition, turn a curl
 * command into a step, list, create, get, update and delete tests, and their revisions
 * (docs/api.md, "Tests"). Registered by api.c; every handler reaches the store through the kit.
 *
 * A body is checked with sp_def_load_confined() (422 with every error and its path when
 * invalid) and stored byte for byte; GET returns it as a JSON value inside the test object, so
 * the content is what the user saved (key order included), not its whitespace. A definition
 * with "secrets" is the exception: its values are stored apart (server/runs/policy.h) and the
 * revision is the document re-written with the mask in their place.
 *
 * Threads: handlers run on the HTTP server's workers, each with its own pooled connection.
 */
#ifndef SP_API_TESTS_H
#define SP_API_TESTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/kit.h"
#include "store/store.h"

/* The routes, in the order api.c serves them (static). */
extern const sp_api_route sp_api_tests_routes[];
extern const size_t sp_api_tests_nroutes;

/*
 * Saves a definition as a new test (id 0) or a new revision of test id, by user by. doc is the
 * definition as sent (borrowed) and text its JSON text. Secrets go to their own table and the
 * revision keeps the mask in their place; a secret sent back as the mask keeps its stored
 * value. Returns and fills *new_id, *revision (either may be NULL) and err as
 * sp_store_test_save() does. For the create and update handlers, and for seeding (api.c).
 */
int sp_api_tests_save(sp_store *s, int64_t id, const char *name, const json_t *doc,
                      const char *text, const char *by, int64_t *new_id, int *revision, char *err,
                      size_t errlen);

#endif
