/*
 * acl.h: the CIDR allow-list ("allow" key), IPv4 and IPv6.
 *
 * An IPv4 peer reaching an IPv6 socket as ::ffff:a.b.c.d is matched as
 * a.b.c.d, so one list serves dual-stack listeners.
 */
#ifndef LABWATCH_ACL_H
#define LABWATCH_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "lib/attr.h"

struct acl_entry {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network, host bits cleared */
	unsigned prefix;	/* bits that must match */
};

/* A list of networks; empty allows everyone. Owner: its config; acl_free(). */
struct acl {
	struct acl_entry *v;
	size_t n;
};

/*
 * Parse "10.0.0.0/8, 192.0.2.7, 2001:db8::/32" into *out (replacing what
 * it held). Returns 0, or -1 and *cause (malloc'ed) naming the bad item.
 */
LW_MUSTCHECK int acl_parse(struct acl *out, const char *list, char **cause);
/* Free the entries; the struct may be reused. */
void acl_free(struct acl *a);
/* True when the list is empty or a network contains sa. */
bool acl_allows(const struct acl *a, const struct sockaddr *sa);
/* The numeric address of sa without the port, IPv4-mapped shown as IPv4. */
void acl_addr_str(const struct sockaddr *sa, char *out, size_t len);

#endif
