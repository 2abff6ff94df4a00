/* Replay protection for signed events (control-plane-api.md §6.4 step 9): a bounded set of
 * recently seen nonces, each kept until its issued_at is more than 300 s in the past. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "shared/time-util.h"

#define NONCE_STORE_CAPACITY_DEFAULT   65536
#define NONCE_STORE_TTL_SEC	       300
#define NONCE_STORE_PURGE_INTERVAL_SEC 60
#define NONCE_STORE_NONCE_MAX	       128

struct nonce_store;

/* capacity 0 selects NONCE_STORE_CAPACITY_DEFAULT. */
int nonce_store_new(size_t capacity, struct nonce_store **ret);
struct nonce_store *nonce_store_free(struct nonce_store *s);

/* Purges expired entries when the last purge is at least 60 s old, then: -EEXIST when nonce
 * is held (replay), -ENOSPC when the store is full (an unexpired entry is never evicted),
 * -EINVAL for an empty or over-long nonce, -ENOMEM; else records (nonce, issued_at) and
 * returns 0. */
int nonce_store_record(struct nonce_store *s, const char *nonce, struct timestamp issued_at,
		       struct timestamp now);
bool nonce_store_contains(const struct nonce_store *s, const char *nonce);
/* Drops every entry whose issued_at is more than 300 s before now, regardless of when the
 * last purge ran (for a periodic timer). Returns the number dropped. */
size_t nonce_store_purge(struct nonce_store *s, struct timestamp now);
size_t nonce_store_size(const struct nonce_store *s);
size_t nonce_store_capacity(const struct nonce_store *s);

static inline void nonce_store_freep(struct nonce_store **s)
{
	nonce_store_free(*s);
}
