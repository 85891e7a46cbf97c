/* The API surface: one route table per handler file (each defined in its file
 * as `const route_table_t <name>_routes = ROUTE_TABLE(<static route_t array>);`)
 * and the list of them all in match order (handlers.c). Loop thread only. */
#ifndef PARLEY_HANDLERS_H
#define PARLEY_HANDLERS_H

#include <stddef.h>

#include "parley/router.h"

extern const route_table_t ops_routes;
extern const route_table_t conversations_routes;
extern const route_table_t messages_routes;
extern const route_table_t auth_routes;
extern const route_table_t logins_routes;
extern const route_table_t email_routes;
extern const route_table_t users_routes;
extern const route_table_t ws_routes;
extern const route_table_t instagram_routes;
extern const route_table_t instagram_connect_routes;
extern const route_table_t flows_routes;
extern const route_table_t flow_versions_routes;
extern const route_table_t search_routes;
extern const route_table_t team_routes;
extern const route_table_t receipts_routes;
extern const route_table_t presence_routes;
extern const route_table_t channels_routes;
extern const route_table_t settings_routes;
extern const route_table_t uploads_routes;
extern const route_table_t devices_routes;
extern const route_table_t push_routes;
extern const route_table_t calls_routes;
extern const route_table_t attachments_routes;
extern const route_table_t bots_routes;

/* Every table, in match order. */
extern const route_table_t *const handlers_route_tables[];
extern const size_t handlers_route_table_count;

#endif
