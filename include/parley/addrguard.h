/* The address guard of outbound HTTP (server-side request forgery): which
 * resolved addresses a request may connect to. Every httpc_request can use it
 * as its check; flows' api_call does. Pure; any thread. */
#ifndef PARLEY_ADDRGUARD_H
#define PARLEY_ADDRGUARD_H

#include <sys/socket.h>

/* 1 for loopback, private (RFC 1918, CGNAT), link-local (incl. 169.254.169.254),
 * unique-local IPv6, unspecified, multicast and IPv4-mapped forms of them. */
int addrguard_is_private(const struct sockaddr *addr);

/* 1 when addr may be reached for host:port: a public address, or any address
 * when host or host:port is listed in allow_list (comma-separated, as the
 * api_call_allow setting; NULL for none). */
int addrguard_allowed(const char *allow_list, const char *host, int port,
                      const struct sockaddr *addr);

/* addrguard_allowed in the shape of httpc_addr_check: ctx is the allow list
 * (a const char *, may be NULL), borrowed for as long as the request runs. */
int addrguard_check(void *ctx, const char *host, int port, const struct sockaddr *addr);

#endif
