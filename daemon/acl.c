/*
 * acl.c: CIDR matching.
 */
#include "acl.h"
#include "conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
	0xff };

static int
parse_one(const char *item, struct acl_entry *e, char **cause)
{
	char host[INET6_ADDRSTRLEN + 1], *slash, *end;
	const char *p;
	unsigned long bits;
	unsigned maxbits, i;

	slash = strchr(item, '/');
	if ((slash ? (size_t)(slash - item) : strlen(item)) >= sizeof(host)) {
		*cause = xasprintf("'%s' is not an address or network", item);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s",
	    (int)(slash ? (size_t)(slash - item) : strlen(item)), item);
	memset(e, 0, sizeof(*e));
	if (inet_pton(AF_INET, host, e->addr) == 1) {
		e->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, host, e->addr) == 1) {
		e->family = AF_INET6;
		maxbits = 128;
		/* ::ffff:a.b.c.d/n is the IPv4 network a.b.c.d/(n-96). */
		if (memcmp(e->addr, v4mapped, 12) == 0) {
			memmove(e->addr, e->addr + 12, 4);
			memset(e->addr + 4, 0, 12);
			e->family = AF_INET;
			maxbits = 32;
		}
	} else {
		*cause = xasprintf("'%s' is not an IPv4 or IPv6 address", item);
		return -1;
	}
	bits = maxbits;
	if (slash != NULL) {
		p = slash + 1;
		if (*p < '0' || *p > '9') {
			*cause =
			    xasprintf("'%s': prefix length must be a number",
				item);
			return -1;
		}
		bits = strtoul(p, &end, 10);
		if (*end != '\0') {
			*cause =
			    xasprintf("'%s': prefix length must be a number",
				item);
			return -1;
		}
		if (e->family == AF_INET && strchr(host, ':') != NULL)
			bits = bits >= 96 ? bits - 96 : 1000;
		if (bits > maxbits) {
			*cause = xasprintf("'%s': prefix length too long",
			    item);
			return -1;
		}
	}
	e->prefix = (unsigned)bits;
	/* Clear host bits, so 192.0.2.7/24 means 192.0.2.0/24. */
	for (i = 0; i < 16; i++) {
		if (i * 8 >= e->prefix)
			e->addr[i] = 0;
		else if (i * 8 + 8 > e->prefix)
			e->addr[i] &= (unsigned char)(0xff
			    << (8 - (e->prefix - i * 8)));
	}
	return 0;
}

int
acl_parse(struct acl *out, const char *list, char **cause)
{
	struct acl a = { NULL, 0 };
	const char *p = list;
	char *item;
	int rc;

	while ((item = conf_list_next(&p)) != NULL) {
		a.v = xreallocarray(a.v, a.n + 1, sizeof(*a.v));
		rc = parse_one(item, &a.v[a.n], cause);
		free(item);
		if (rc == -1) {
			acl_free(&a);
			return -1;
		}
		a.n++;
	}
	acl_free(out);
	*out = a;
	return 0;
}

void
acl_free(struct acl *a)
{
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* The family and address bytes of sa, IPv4-mapped IPv6 folded to IPv4. */
static int
sa_bytes(const struct sockaddr *sa, unsigned char out[16])
{
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;

	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		in4 = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out, &in4->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		in6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (memcmp(in6->sin6_addr.s6_addr, v4mapped, 12) == 0) {
			memcpy(out, in6->sin6_addr.s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, in6->sin6_addr.s6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

static bool
entry_matches(const struct acl_entry *e, int family, const unsigned char *b)
{
	unsigned full = e->prefix / 8, rest = e->prefix % 8;
	unsigned char mask;

	if (e->family != family)
		return false;
	if (memcmp(e->addr, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (b[full] & mask) == e->addr[full];
}

bool
acl_allows(const struct acl *a, const struct sockaddr *sa)
{
	unsigned char b[16];
	size_t i;
	int family;

	if (a->n == 0)
		return true;
	family = sa_bytes(sa, b);
	for (i = 0; i < a->n; i++)
		if (entry_matches(&a->v[i], family, b))
			return true;
	return false;
}

void
acl_addr_str(const struct sockaddr *sa, char *out, size_t len)
{
	unsigned char b[16];
	int family = sa_bytes(sa, b);

	if (family == -1 || inet_ntop(family, b, out, (socklen_t)len) == NULL)
		snprintf(out, len, "?");
}
