/* netmask: a list of addresses and CIDR blocks ("127.0.0.1 ::1
 * 10.0.0.0/8, fd00::/8"), parsed once and matched against a peer's address
 * text. Used for [server] trusted_proxies: whose X-Real-IP /
 * X-Forwarded-For the request log believes. */
#ifndef WXS_NETMASK_H
#define WXS_NETMASK_H
#include <stdbool.h>
#include <stddef.h>
#include "util.h"

struct netmask_list;

/* Parse s (entries separated by blanks or commas; "" = an empty list).
 * On failure returns -1 and names the entry in why. Caller frees *out with
 * netmask_list_free(). */
int netmask_list_parse(const char *s, struct netmask_list **out, char *why,
                       size_t whylen) WXS_MUSTCHECK;
void netmask_list_free(struct netmask_list *l);

/* Whether the address text (IPv4 or IPv6, no port) is in the list; false
 * for anything that is not an address. */
bool netmask_list_match(const struct netmask_list *l, const char *addr);

/* Whether s is an IPv4 or IPv6 address text. */
bool netmask_is_addr(const char *s);
#endif
