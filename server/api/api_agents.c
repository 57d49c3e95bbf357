/*
 * api_agents.c - see api_agents.h.
 */
#include "api/api_agents.h"

#include "agents/agents.h"
#include "engine/common.h"

static int h_list(sp_http_req *req, sp_store *unused)
{
    SP_UNUSED(unused);
    sp_agents *a = sp_kit_agents(req);
    if (!a)
        return sp_http_reply_json(req, 200, json_pack("{s:[]}", "agents"));
    return sp_http_reply_json(req, 200, sp_agents_list(a));
}

const sp_api_route sp_api_agents_routes[] = {
    {"GET", SP_API_PREFIX "/agents", h_list, SP_PERM_READ, 0,
     "The agents connected to this server: location, state, version, capacity, last heartbeat, "
     "clock offset, and while running their CPU, timer lag and dropped arrivals",
     200, NULL},
};
const size_t sp_api_agents_nroutes = SP_ARRAY_LEN(sp_api_agents_routes);
