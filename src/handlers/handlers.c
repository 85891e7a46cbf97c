/* Every route table, in match order. A handler file exports its table and is
 * listed here once. */
#include "handlers/handlers.h"

const route_table_t *const handlers_route_tables[] = {
    &ops_routes,           &auth_routes,
    &logins_routes,        &email_routes,
    &users_routes,         &ws_routes,
    &conversations_routes, &messages_routes,
    &instagram_routes,     &instagram_connect_routes,
    &flows_routes,         &flow_versions_routes,
    &search_routes,        &team_routes,
    &receipts_routes,      &presence_routes,
    &channels_routes,      &settings_routes,
    &uploads_routes,       &devices_routes,
    &calls_routes,         &attachments_routes,
    &bots_routes,          &push_routes,
};

const size_t handlers_route_table_count =
    sizeof(handlers_route_tables) / sizeof(handlers_route_tables[0]);
