/* Nonce store: open addressing with linear probing over a power-of-two slot array that is
 * kept at most half full. Entries leave only through purge, which rebuilds the table, so
 * no tombstones are needed. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/nonce-store.h"
#include "shared/macro.h"

struct nonce_entry {
	char *nonce; /* NULL: free slot */
	uint64_t hash;
	struct timestamp issued_at;
};

struct nonce_store {
	struct nonce_entry *slots;
	size_t n_slots; /* power of two, >= 2 * n_entries */
	size_t n_entries;
	size_t capacity;
	bool purged_once;
	struct timestamp last_purge;
};

#define INITIAL_SLOTS 1024

/* FNV-1a. Nonces enter the store only from signature-verified events, so an attacker cannot
 * choose them to provoke collisions; a keyed hash is unnecessary. */
static uint64_t nonce_hash(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

int nonce_store_new(size_t capacity, struct nonce_store **ret)
{
	struct nonce_store *s;
	size_t n = INITIAL_SLOTS;

	if (capacity == 0)
		capacity = NONCE_STORE_CAPACITY_DEFAULT;
	if (capacity > SIZE_MAX / 4 / sizeof(struct nonce_entry))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	while (n < 2 * MIN(capacity, (size_t)INITIAL_SLOTS))
		n *= 2;
	s->slots = calloc(n, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return -ENOMEM;
	}
	s->n_slots = n;
	s->capacity = capacity;
	*ret = s;
	return 0;
}

struct nonce_store *nonce_store_free(struct nonce_store *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_slots; i++)
		free(s->slots[i].nonce);
	free(s->slots);
	free(s);
	return NULL;
}

static size_t find_slot(const struct nonce_entry *slots, size_t n_slots, const char *nonce,
			uint64_t h)
{
	size_t mask = n_slots - 1, i = (size_t)h & mask;

	while (slots[i].nonce && (slots[i].hash != h || strcmp(slots[i].nonce, nonce) != 0))
		i = (i + 1) & mask;
	return i;
}

/* Moves every entry that satisfies keep() into a fresh array of n_slots. */
static int rebuild(struct nonce_store *s, size_t n_slots, struct timestamp now, bool drop_expired,
		   size_t *ret_dropped)
{
	struct nonce_entry *slots;
	size_t dropped = 0;

	slots = calloc(n_slots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_slots; i++) {
		struct nonce_entry *e = &s->slots[i];
		if (!e->nonce)
			continue;
		/* Expired: issued_at more than TTL in the past (exactly TTL is kept). */
		if (drop_expired && (now.sec - e->issued_at.sec > NONCE_STORE_TTL_SEC ||
				     (now.sec - e->issued_at.sec == NONCE_STORE_TTL_SEC &&
				      now.nsec > e->issued_at.nsec))) {
			free(e->nonce);
			dropped++;
			continue;
		}
		slots[find_slot(slots, n_slots, e->nonce, e->hash)] = *e;
	}
	free(s->slots);
	s->slots = slots;
	s->n_slots = n_slots;
	s->n_entries -= dropped;
	if (ret_dropped)
		*ret_dropped = dropped;
	return 0;
}

size_t nonce_store_purge(struct nonce_store *s, struct timestamp now)
{
	size_t dropped = 0;

	s->purged_once = true;
	s->last_purge = now;
	/* On allocation failure the old table stays as it was: nothing is lost, only not yet
	 * dropped. */
	if (rebuild(s, s->n_slots, now, true, &dropped) < 0)
		return 0;
	return dropped;
}

int nonce_store_record(struct nonce_store *s, const char *nonce, struct timestamp issued_at,
		       struct timestamp now)
{
	size_t len, i;
	uint64_t h;
	int r;

	len = strnlen(nonce, NONCE_STORE_NONCE_MAX + 1);
	if (len == 0 || len > NONCE_STORE_NONCE_MAX)
		return -EINVAL;

	/* Purging at most once per interval bounds the cost of the O(n) rebuild. A clock that
	 * went backwards also allows a purge rather than blocking it for a long time. */
	if (!s->purged_once || now.sec - s->last_purge.sec >= NONCE_STORE_PURGE_INTERVAL_SEC ||
	    now.sec < s->last_purge.sec)
		nonce_store_purge(s, now);

	h = nonce_hash(nonce);
	i = find_slot(s->slots, s->n_slots, nonce, h);
	if (s->slots[i].nonce)
		return -EEXIST;
	if (s->n_entries >= s->capacity)
		return -ENOSPC;

	if (2 * (s->n_entries + 1) > s->n_slots) {
		r = rebuild(s, s->n_slots * 2, now, false, NULL);
		if (r < 0)
			return r;
		i = find_slot(s->slots, s->n_slots, nonce, h);
	}
	s->slots[i].nonce = strndup(nonce, len);
	if (!s->slots[i].nonce)
		return -ENOMEM;
	s->slots[i].hash = h;
	s->slots[i].issued_at = issued_at;
	s->n_entries++;
	return 0;
}

bool nonce_store_contains(const struct nonce_store *s, const char *nonce)
{
	uint64_t h = nonce_hash(nonce);

	return s->slots[find_slot(s->slots, s->n_slots, nonce, h)].nonce != NULL;
}

size_t nonce_store_size(const struct nonce_store *s)
{
	return s->n_entries;
}

size_t nonce_store_capacity(const struct nonce_store *s)
{
	return s->capacity;
}
