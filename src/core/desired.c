/* Desired-state bookkeeping. Peers are kept sorted by id so lookups are a binary search and the
 * cache file is stable across writes. */
#define LOG_COMPONENT "state"

#include <stdio.h>

#include "core/desired.h"
#include "shared/fileio.h"
#include "shared/json-util.h"
#include "shared/log.h"

#define CACHE_FILE_MAX ((size_t)64 * 1024 * 1024)

void desired_done(struct desired *d)
{
	cp_peer_list_done(&d->peers);
	cp_policy_list_done(&d->policies);
	cp_metadata_done(&d->metadata);
	cp_data_list_done(&d->data);
	cp_secret_ref_list_done(&d->secret_refs);
	explicit_bzero(d, sizeof(*d));
}

int cp_peer_copy(const struct cp_peer *src, struct cp_peer *dst)
{
	struct cp_peer p = *src;

	p.id = strdup(src->id);
	p.allowed_ips = NULL;
	if (src->n_allowed_ips) {
		p.allowed_ips = calloc(src->n_allowed_ips, sizeof(*p.allowed_ips));
		if (p.allowed_ips)
			memcpy(p.allowed_ips, src->allowed_ips,
			       src->n_allowed_ips * sizeof(*p.allowed_ips));
	}
	if (!p.id || (src->n_allowed_ips && !p.allowed_ips)) {
		free(p.id);
		free(p.allowed_ips);
		return -ENOMEM;
	}
	*dst = p;
	return 0;
}

static int peer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cp_peer *)a)->id, ((const struct cp_peer *)b)->id);
}

/* Index of id, or the insertion point encoded as -(pos + 1). */
static ssize_t peer_search(const struct desired *d, const char *id)
{
	size_t lo = 0, hi = d->peers.n_peers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(id, d->peers.peers[mid].id);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(ssize_t)lo - 1;
}

struct cp_peer *desired_peer_find(const struct desired *d, const char *id)
{
	ssize_t i = peer_search(d, id);
	return i >= 0 ? &d->peers.peers[i] : NULL;
}

static bool peer_equal(const struct cp_peer *a, const struct cp_peer *b)
{
	return streq(a->id, b->id) && memcmp(a->public_key, b->public_key, 32) == 0 &&
	       a->mesh_ip.s_addr == b->mesh_ip.s_addr && a->endpoint.known == b->endpoint.known &&
	       (!a->endpoint.known ||
		memcmp(&a->endpoint.addr, &b->endpoint.addr, sizeof a->endpoint.addr) == 0) &&
	       a->has_psk == b->has_psk && (!a->has_psk || memcmp(a->psk, b->psk, 32) == 0) &&
	       a->relayed == b->relayed && a->n_allowed_ips == b->n_allowed_ips &&
	       (a->n_allowed_ips == 0 ||
		memcmp(a->allowed_ips, b->allowed_ips, a->n_allowed_ips * sizeof(*a->allowed_ips)) ==
			0);
}

int desired_peer_upsert(struct desired *d, const struct cp_peer *p)
{
	ssize_t i = peer_search(d, p->id);
	struct cp_peer copy;
	int r;

	if (i >= 0 && peer_equal(&d->peers.peers[i], p))
		return 0;
	r = cp_peer_copy(p, &copy);
	if (r < 0)
		return r;
	if (i >= 0) {
		cp_peer_done(&d->peers.peers[i]);
		d->peers.peers[i] = copy;
		return 1;
	}
	size_t pos = (size_t)(-i - 1);
	struct cp_peer *t = reallocarray(d->peers.peers, d->peers.n_peers + 1, sizeof(*t));
	if (!t) {
		cp_peer_done(&copy);
		return -ENOMEM;
	}
	memmove(t + pos + 1, t + pos, (d->peers.n_peers - pos) * sizeof(*t));
	t[pos] = copy;
	d->peers.peers = t;
	d->peers.n_peers++;
	return 1;
}

int desired_peer_remove(struct desired *d, const char *id)
{
	ssize_t i = peer_search(d, id);

	if (i < 0)
		return 0;
	cp_peer_done(&d->peers.peers[i]);
	memmove(&d->peers.peers[i], &d->peers.peers[i + 1],
		(d->peers.n_peers - (size_t)i - 1) * sizeof(struct cp_peer));
	d->peers.n_peers--;
	return 1;
}

void desired_set_peers(struct desired *d, struct cp_peer_list *l, const char *self_id)
{
	size_t k = 0;

	cp_peer_list_done(&d->peers);
	/* Drop the node itself (the CP never should list it, §4.8) and keep ids unique. */
	for (size_t i = 0; i < l->n_peers; i++) {
		if (self_id && streq(l->peers[i].id, self_id)) {
			cp_peer_done(&l->peers[i]);
			continue;
		}
		l->peers[k++] = l->peers[i];
	}
	if (k > 1)
		qsort(l->peers, k, sizeof(*l->peers), peer_cmp);
	d->peers.peers = l->peers;
	d->peers.n_peers = k;
	l->peers = NULL;
	l->n_peers = 0;
	cp_peer_list_done(l);
}

int desired_set_peers_copy(struct desired *d, const struct cp_peer_list *l, const char *self_id)
{
	struct cp_peer_list copy = {};

	copy.peers = calloc(l->n_peers ? l->n_peers : 1, sizeof(struct cp_peer));
	if (!copy.peers)
		return -ENOMEM;
	for (size_t i = 0; i < l->n_peers; i++) {
		if (cp_peer_copy(&l->peers[i], &copy.peers[i]) < 0) {
			cp_peer_list_done(&copy);
			return -ENOMEM; /* desired state untouched */
		}
		copy.n_peers++;
	}
	desired_set_peers(d, &copy, self_id);
	return 0;
}

/* Canonical text of one policy for content comparison. */
static char *policy_text(const struct cp_policy *p)
{
	json_t *j = NULL;
	char *s = NULL;

	if (cp_policy_list_to_json(p, 1, &j) < 0)
		return NULL;
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

static const struct cp_policy *policy_find(const struct cp_policy_list *l, const char *id)
{
	for (size_t i = 0; i < l->n_policies; i++)
		if (streq(l->policies[i].id, id))
			return &l->policies[i];
	return NULL;
}

static int policy_drift(const struct cp_policy_list *old, const struct cp_policy_list *new,
			struct drift_list *drift)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < new->n_policies; i++) {
		const struct cp_policy *o = policy_find(old, new->policies[i].id);
		if (!o) {
			r = drift_add(drift, "policy_added", "policy %s", new->policies[i].id);
			continue;
		}
		_cleanup_free_ char *a = policy_text(o), *b = policy_text(&new->policies[i]);
		if (!a || !b)
			return -ENOMEM;
		if (!streq(a, b))
			r = drift_add(drift, "policy_updated", "policy %s", new->policies[i].id);
	}
	for (size_t i = 0; r >= 0 && i < old->n_policies; i++)
		if (!policy_find(new, old->policies[i].id))
			r = drift_add(drift, "policy_removed", "policy %s", old->policies[i].id);
	return r;
}

int desired_set_policies(struct desired *d, struct cp_policy_list *l, struct drift_list *drift)
{
	if (drift) {
		int r = policy_drift(&d->policies, l, drift);
		if (r < 0)
			return r;
	}
	cp_policy_list_done(&d->policies);
	d->policies = *l;
	*l = (struct cp_policy_list){};
	return 0;
}

static int save_json(const char *data_dir, const char *name, json_t *j)
{
	_cleanup_free_ char *text = NULL;
	char path[4096];
	int r;

	if (!j)
		return -ENOMEM;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!text)
		return -ENOMEM;
	snprintf(path, sizeof path, "%s/cache/%s", data_dir, name);
	r = write_file_atomic(path, text, strlen(text), 0600);
	explicit_bzero(text, strlen(text)); /* peers.json holds PSKs */
	if (r < 0)
		return log_warning_errno(r, "cannot write cache file", "path=%s err=%m", path);
	return 0;
}

int desired_save_peers(const struct desired *d, const char *data_dir)
{
	json_t *j = NULL;
	int r = cp_peer_list_to_json(d->peers.peers, d->peers.n_peers, &j);
	if (r < 0)
		return r;
	return save_json(data_dir, "peers.json", j);
}

int desired_save_policies(const struct desired *d, const char *data_dir)
{
	json_t *j = NULL;
	int r = cp_policy_list_to_json(d->policies.policies, d->policies.n_policies, &j);
	if (r < 0)
		return r;
	return save_json(data_dir, "policies.json", j);
}

static int load_json(const char *data_dir, const char *name, json_t **ret)
{
	_cleanup_free_ char *buf = NULL;
	struct json_error je = {};
	char path[4096];
	size_t len;
	int r;

	snprintf(path, sizeof path, "%s/cache/%s", data_dir, name);
	(void)file_tighten_mode(path);
	r = read_file_full(path, CACHE_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = json_parse_bounded_size(buf, len, CACHE_FILE_MAX, ret, &je);
	explicit_bzero(buf, len);
	if (r < 0 || !json_is_array(*ret)) {
		log_warning("corrupt cache file, ignoring it", "path=%s error=\"%s\"", path, je.text);
		if (r >= 0)
			json_decref(*ret);
		(void)file_move_corrupt(path);
		return -ENOENT;
	}
	return 0;
}

int desired_load_cache(struct desired *d, const char *data_dir, const char *self_id)
{
	json_t *j = NULL;
	struct json_error je = {};
	int r;

	r = load_json(data_dir, "peers.json", &j);
	if (r == 0) {
		struct cp_peer_list l = {};
		r = cp_peer_list_from_json(j, "peers", &l, &je);
		json_decref(j);
		if (r >= 0) {
			desired_set_peers(d, &l, self_id);
			log_info("restored cached peers", "count=%zu", d->peers.n_peers);
		}
	}
	r = load_json(data_dir, "policies.json", &j);
	if (r == 0) {
		struct cp_policy_list l = {};
		r = cp_policy_list_from_json(j, "policies", &l, &je);
		json_decref(j);
		if (r >= 0) {
			(void)desired_set_policies(d, &l, NULL);
			log_info("restored cached policies", "count=%zu", d->policies.n_policies);
		}
	}
	return 0;
}
