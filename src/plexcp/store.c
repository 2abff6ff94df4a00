/* SQLite implementation of the plexcp store (store.h): WAL journal with synchronous=FULL so a
 * commit is on disk before the caller acknowledges, forward-only schema migrations keyed by
 * PRAGMA user_version, and a cache of prepared statements keyed by their SQL text. */
#define LOG_COMPONENT "store"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plexcp/store.h"
#include "shared/log.h"
#include "shared/random-util.h"

#define MESH_BASE 0x0A640000U /* 10.100.0.0/16 */
#define MESH_SIZE 65536U

/* Every distinct SQL text is prepared once (SQLITE_PREPARE_PERSISTENT) and reset after each
 * use. An entry holds more than one statement only when the same SQL runs nested inside
 * itself (a caller still stepping rows while a callee needs the same query). */
struct stmt_entry {
	char *sql; /* NULL: free slot */
	uint32_t hash;
	sqlite3_stmt **st;
	size_t n_st;
};

struct store {
	sqlite3 *db;
	struct store_options opts;
	bool in_tx;
	unsigned savepoint_depth;
	struct stmt_entry *cache; /* open addressing, power-of-two size */
	size_t cache_size, cache_used;
};

/* Migration i brings the schema from version i to i + 1. Never edit a shipped step; append. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE tokens("
	"  hash BLOB PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	"  used_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE nodes("
	"  id TEXT PRIMARY KEY, hostname TEXT NOT NULL, public_key BLOB NOT NULL,"
	"  mesh_ip INTEGER NOT NULL, metadata TEXT NOT NULL DEFAULT '{}', capabilities TEXT,"
	"  token_hash BLOB, nsk BLOB NOT NULL, status INTEGER NOT NULL,"
	"  last_heartbeat INTEGER NOT NULL DEFAULT 0, heartbeat TEXT,"
	"  endpoint TEXT NOT NULL DEFAULT '', nat_type TEXT NOT NULL DEFAULT '',"
	"  registered_at INTEGER NOT NULL, deregistered_at INTEGER NOT NULL DEFAULT 0,"
	"  rotate_pending INTEGER NOT NULL DEFAULT 0, reconcile_pending INTEGER NOT NULL DEFAULT 0,"
	"  event_seq INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX nodes_live_hostname ON nodes(hostname) WHERE status != 4;"
	"CREATE UNIQUE INDEX nodes_live_ip ON nodes(mesh_ip) WHERE status != 4;"
	"CREATE UNIQUE INDEX nodes_token ON nodes(token_hash) WHERE token_hash IS NOT NULL;"
	"CREATE TABLE ip_released(ip INTEGER PRIMARY KEY, released_at INTEGER NOT NULL);"
	"CREATE TABLE psks(a TEXT NOT NULL, b TEXT NOT NULL, psk BLOB NOT NULL,"
	"  PRIMARY KEY(a, b)) WITHOUT ROWID;"
	"CREATE TABLE policies(pos INTEGER PRIMARY KEY, id TEXT NOT NULL, rules TEXT NOT NULL);"
	"CREATE TABLE node_data(node_id TEXT NOT NULL, key TEXT NOT NULL, content_type TEXT NOT NULL,"
	"  payload TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY(node_id, key)) WITHOUT ROWID;"
	"CREATE TABLE secrets(node_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
	"  version INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY(node_id, key)) WITHOUT ROWID;"
	"CREATE TABLE reports(node_id TEXT NOT NULL, key TEXT NOT NULL, content_type TEXT NOT NULL,"
	"  payload TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY(node_id, key)) WITHOUT ROWID;"
	"CREATE TABLE executions(id TEXT PRIMARY KEY, node_id TEXT NOT NULL, action TEXT NOT NULL,"
	"  params TEXT NOT NULL DEFAULT '{}', status INTEGER NOT NULL, ack_reason TEXT, result TEXT,"
	"  created_at INTEGER NOT NULL, acked_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE records(seq INTEGER PRIMARY KEY AUTOINCREMENT, node_id TEXT NOT NULL,"
	"  kind INTEGER NOT NULL, received_at INTEGER NOT NULL, body TEXT NOT NULL);"
	"CREATE INDEX records_node_kind ON records(node_id, kind, seq);"
	"CREATE TABLE events(node_id TEXT NOT NULL, seq INTEGER NOT NULL, event_type TEXT NOT NULL,"
	"  envelope TEXT NOT NULL, emitted_at INTEGER NOT NULL,"
	"  PRIMARY KEY(node_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE signing_keys(id INTEGER PRIMARY KEY CHECK (id = 1), current BLOB NOT NULL,"
	"  previous BLOB, transition_expires INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE kv(key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
	/* 1 -> 2: relay sessions the CP assigned to bridges (relay.c). */
	"CREATE TABLE relay_sessions(id TEXT PRIMARY KEY, bridge_id TEXT NOT NULL,"
	"  a_id TEXT NOT NULL, a_endpoint TEXT NOT NULL, b_id TEXT NOT NULL, b_endpoint TEXT NOT NULL,"
	"  port INTEGER NOT NULL, relay_endpoint TEXT NOT NULL, expires_at INTEGER NOT NULL);",
};

void store_options_default(struct store_options *o)
{
	*o = (struct store_options){
		.ip_cooldown_usec = INT64_C(3600) * 1000000,
		.event_min_age_usec = INT64_C(300) * 1000000,
		.event_min_count = 256,
		.record_max_count = 10000,
		.record_max_age_usec = INT64_C(7) * 86400 * 1000000,
	};
}

static const char *const node_status_names[_NODE_STATUS_MAX] = {
	[NODE_STATUS_REGISTERED] = "registered",   [NODE_STATUS_ONLINE] = "online",
	[NODE_STATUS_UNREACHABLE] = "unreachable", [NODE_STATUS_OFFLINE] = "offline",
	[NODE_STATUS_DEREGISTERED] = "deregistered",
};

const char *node_status_to_string(enum node_status s)
{
	return (unsigned)s < _NODE_STATUS_MAX ? node_status_names[s] : "unknown";
}

static const char *const execution_status_names[_EXECUTION_STATUS_MAX] = {
	[EXECUTION_PENDING] = "pending",
	[EXECUTION_ACCEPTED] = "accepted",
	[EXECUTION_REJECTED] = "rejected",
	[EXECUTION_FINISHED] = "finished",
};

const char *execution_status_to_string(enum execution_status s)
{
	return (unsigned)s < _EXECUTION_STATUS_MAX ? execution_status_names[s] : "unknown";
}

static const char *const record_kind_names[_RECORD_KIND_MAX] = {
	[RECORD_METRIC] = "metrics", [RECORD_LOG] = "logs",	    [RECORD_AUDIT] = "audit",
	[RECORD_DRIFT] = "drift",    [RECORD_TUNNEL] = "tunnels", [RECORD_INTEGRITY] = "integrity",
};

const char *record_kind_to_string(enum record_kind k)
{
	return (unsigned)k < _RECORD_KIND_MAX ? record_kind_names[k] : "unknown";
}

/* ---- statement helpers ---- */

static int sql_error(struct store *s, int rc, const char *what);

/* Hands a cached statement back: the cache owns it, so it is reset (ending any read and
 * releasing its locks) and its bindings, which may hold secrets, are cleared. */
static void q_release(sqlite3_stmt *st)
{
	if (!st)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void q_releasep(sqlite3_stmt **st)
{
	q_release(*st);
}
#define _cleanup_stmt_ _cleanup_(q_releasep)

static uint32_t sql_hash(const char *sql)
{
	uint32_t h = 2166136261U; /* FNV-1a */

	for (const char *p = sql; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619U;
	return h;
}

static struct stmt_entry *cache_slot(struct stmt_entry *t, size_t size, const char *sql, uint32_t h)
{
	size_t i = h & (size - 1);

	while (t[i].sql && (t[i].hash != h || !streq(t[i].sql, sql)))
		i = (i + 1) & (size - 1);
	return &t[i];
}

static int cache_grow(struct store *s)
{
	size_t size = s->cache_size ? s->cache_size * 2 : 64;
	struct stmt_entry *t = calloc(size, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < s->cache_size; i++)
		if (s->cache[i].sql)
			*cache_slot(t, size, s->cache[i].sql, s->cache[i].hash) = s->cache[i];
	free(s->cache);
	s->cache = t;
	s->cache_size = size;
	return 0;
}

static void cache_free(struct store *s)
{
	for (size_t i = 0; i < s->cache_size; i++) {
		for (size_t k = 0; k < s->cache[i].n_st; k++)
			sqlite3_finalize(s->cache[i].st[k]);
		free(s->cache[i].st);
		free(s->cache[i].sql);
	}
	s->cache = mfree(s->cache);
	s->cache_size = s->cache_used = 0;
}

/* A statement for sql that nobody is using. Callers step it right after binding, so a cached
 * statement that is not busy (stepped but not yet done or reset) is free to take. */
static int q_acquire(struct store *s, const char *sql, sqlite3_stmt **ret)
{
	uint32_t h = sql_hash(sql);
	struct stmt_entry *e;
	sqlite3_stmt *st = NULL, **a;
	int rc, r;

	if (s->cache_used + 1 > s->cache_size / 2) {
		r = cache_grow(s);
		if (r < 0)
			return r;
	}
	e = cache_slot(s->cache, s->cache_size, sql, h);
	for (size_t k = 0; e->sql && k < e->n_st; k++)
		if (!sqlite3_stmt_busy(e->st[k])) {
			q_release(e->st[k]);
			*ret = e->st[k];
			return 0;
		}

	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_error(s, rc, "prepare");
	if (!e->sql) {
		e->sql = strdup(sql);
		if (!e->sql) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
		e->hash = h;
		s->cache_used++;
	}
	a = realloc(e->st, (e->n_st + 1) * sizeof(*a));
	if (!a) {
		sqlite3_finalize(st);
		return -ENOMEM;
	}
	e->st = a;
	e->st[e->n_st++] = st;
	*ret = st;
	return 0;
}

static int sql_error(struct store *s, int rc, const char *what)
{
	int ext = sqlite3_extended_errcode(s->db);

	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return log_warning_errno(EBUSY, "database busy", "op=%s", what);
	if ((rc & 0xff) == SQLITE_FULL)
		return log_error_errno(ENOSPC, "database full", "op=%s", what);
	if ((rc & 0xff) == SQLITE_NOMEM)
		return -ENOMEM;
	return log_error_errno(EIO, "database error", "op=%s code=%d err=\"%s\"", what, ext,
			       sqlite3_errmsg(s->db));
}

/* Binds arguments by a format: 's' const char * (NULL binds NULL), 'i' int64_t,
 * 'k' const uint8_t * of STORE_KEY_LEN bytes (NULL binds NULL), 'b' const void *, size_t. */
static int q_vprepare(struct store *s, sqlite3_stmt **ret, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int rc, r, idx = 1;

	r = q_acquire(s, sql, &st);
	if (r < 0)
		return r;

	for (const char *f = fmt; f && *f; f++, idx++) {
		switch (*f) {
		case 's': {
			const char *v = va_arg(ap, const char *);
			rc = v ? sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
			break;
		case 'k': {
			const uint8_t *v = va_arg(ap, const uint8_t *);
			rc = v ? sqlite3_bind_blob(st, idx, v, STORE_KEY_LEN, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, idx);
			break;
		}
		case 'b': {
			const void *v = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			rc = sqlite3_bind_blob64(st, idx, v ? v : "", n, SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = SQLITE_MISUSE;
		}
		if (rc != SQLITE_OK) {
			q_release(st);
			return sql_error(s, rc, "bind");
		}
	}
	*ret = st;
	return 0;
}

static int q_prepare(struct store *s, sqlite3_stmt **ret, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = q_vprepare(s, ret, sql, fmt, ap);
	va_end(ap);
	return r;
}

/* 1 = row available, 0 = done. */
static int q_step(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sql_error(s, rc, "step");
}

/* Runs a statement to completion; returns the number of changed rows. */
static int q_exec(struct store *s, const char *sql, const char *fmt, ...)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = q_vprepare(s, &st, sql, fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0)
		;
	if (r < 0)
		return r;
	return sqlite3_changes(s->db);
}

static int col_strdup(sqlite3_stmt *st, int i, char **ret)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (!t) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup((const char *)t);
	return *ret ? 0 : -ENOMEM;
}

static void col_key(sqlite3_stmt *st, int i, uint8_t out[STORE_KEY_LEN])
{
	const void *b = sqlite3_column_blob(st, i);

	if (b && sqlite3_column_bytes(st, i) == STORE_KEY_LEN)
		memcpy(out, b, STORE_KEY_LEN);
	else
		memset(out, 0, STORE_KEY_LEN);
}

static void col_id(sqlite3_stmt *st, int i, char out[STORE_ID_MAX + 1])
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, STORE_ID_MAX + 1, "%s", t ? (const char *)t : "");
}

/* SAVEPOINTs nest inside an explicit transaction and act as a transaction outside one, so a
 * multi-statement call is atomic and durable in both cases. */
static int sp_begin(struct store *s)
{
	int r = q_exec(s, "SAVEPOINT sp", NULL);
	if (r >= 0)
		s->savepoint_depth++;
	return r;
}

static int sp_end(struct store *s, int r)
{
	s->savepoint_depth--;
	if (r < 0) {
		(void)q_exec(s, "ROLLBACK TO sp", NULL);
		(void)q_exec(s, "RELEASE sp", NULL);
		return r;
	}
	int k = q_exec(s, "RELEASE sp", NULL);
	return k < 0 ? k : r;
}

/* ---- lifecycle ---- */

static int store_migrate(struct store *s)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int version, r;

	r = q_prepare(s, &st, "PRAGMA user_version", NULL);
	if (r < 0)
		return r;
	if (q_step(s, st) <= 0)
		return -EIO;
	version = sqlite3_column_int(st, 0);
	q_release(TAKE_PTR(st));

	if (version > (int)ELEMENTSOF(migrations))
		return log_error_errno(EPROTO, "database schema is newer than this plexcp",
				       "schema=%d known=%zu", version, ELEMENTSOF(migrations));

	for (int v = version; v < (int)ELEMENTSOF(migrations); v++) {
		char *err = NULL;
		char pragma[64];
		int rc;

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, migrations[v], NULL, NULL, &err);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, pragma, NULL, NULL, &err);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &err);
		if (rc != SQLITE_OK) {
			log_error("schema migration failed", "from=%d err=\"%s\"", v, err ? err : "?");
			sqlite3_free(err);
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return -EIO;
		}
		log_info("database schema migrated", "version=%d", v + 1);
	}
	return 0;
}

int store_open(const char *path, const struct store_options *opts, struct store **ret)
{
	_cleanup_(store_freep) struct store *s = NULL;
	int fd, rc, r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (opts)
		s->opts = *opts;
	else
		store_options_default(&s->opts);

	/* Create the file 0600 ourselves: sqlite would use 0644, and -wal/-shm copy the mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return log_error_errno(errno, "cannot open database", "path=%s err=%m", path);
	safe_close(fd);

	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK)
		return log_error_errno(rc == SQLITE_CANTOPEN ? EACCES : EIO, "cannot open database",
				       "path=%s err=\"%s\"", path, s->db ? sqlite3_errmsg(s->db) : "?");
	sqlite3_busy_timeout(s->db, 5000);

	/* WAL + FULL: each commit fsyncs the WAL, so an acknowledged change survives power loss. */
	rc = sqlite3_exec(s->db,
			  "PRAGMA journal_mode = WAL;"
			  "PRAGMA synchronous = FULL;"
			  "PRAGMA foreign_keys = ON;"
			  "PRAGMA secure_delete = ON;"
			  /* 32 MiB of page cache instead of 2: a fan-out touches the event log
			   * of every node, and re-reading those pages from the kernel showed up
			   * as a third of the time of a registration at 1000 nodes. */
			  "PRAGMA cache_size = -32768;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sql_error(s, rc, "pragma");

	r = store_migrate(s);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(s);
	return 0;
}

struct store *store_free(struct store *s)
{
	if (!s)
		return NULL;
	if (s->in_tx)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	cache_free(s);
	sqlite3_close_v2(s->db);
	free(s);
	return NULL;
}

int store_schema_version(struct store *s)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = q_prepare(s, &st, "PRAGMA user_version", NULL);

	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -EIO;
	return sqlite3_column_int(st, 0);
}

int store_begin(struct store *s)
{
	int r;

	if (s->in_tx)
		return -EBUSY;
	r = q_exec(s, "BEGIN IMMEDIATE", NULL);
	if (r < 0)
		return r;
	s->in_tx = true;
	return 0;
}

int store_commit(struct store *s)
{
	int r;

	if (!s->in_tx)
		return -EINVAL;
	r = q_exec(s, "COMMIT", NULL);
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	s->in_tx = false;
	return 0;
}

void store_rollback(struct store *s)
{
	if (!s->in_tx)
		return;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_tx = false;
}

/* ---- tokens ---- */

int store_token_add(struct store *s, const uint8_t hash[STORE_KEY_LEN], int64_t created_at,
		    int64_t expires_at)
{
	int r = q_exec(s, "INSERT INTO tokens(hash, created_at, expires_at) VALUES (?, ?, ?)", "kii",
		       hash, created_at, expires_at);
	return r < 0 ? r : 0;
}

int store_token_consume(struct store *s, const uint8_t hash[STORE_KEY_LEN], int64_t now)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int64_t expires, used;
	int r;

	r = sp_begin(s);
	if (r < 0)
		return r;
	r = q_prepare(s, &st, "SELECT expires_at, used_at FROM tokens WHERE hash = ?", "k", hash);
	if (r < 0)
		return sp_end(s, r);
	r = q_step(s, st);
	if (r <= 0)
		return sp_end(s, r < 0 ? r : -ENOENT);
	expires = sqlite3_column_int64(st, 0);
	used = sqlite3_column_int64(st, 1);
	q_release(TAKE_PTR(st));
	if (used != 0)
		return sp_end(s, -EALREADY);
	if (now >= expires)
		return sp_end(s, -ETIME);
	r = q_exec(s, "UPDATE tokens SET used_at = ? WHERE hash = ? AND used_at = 0", "ik",
		   now > 0 ? now : (int64_t)1, hash);
	if (r == 0)
		r = -EALREADY;
	return sp_end(s, r < 0 ? r : 0);
}

/* ---- IP allocation ---- */

int store_ip_allocate(struct store *s, int64_t now, uint32_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ uint8_t *used = NULL;
	int r;

	used = calloc(MESH_SIZE / 8, 1);
	if (!used)
		return -ENOMEM;
#define MARK(off) used[(off) / 8] |= (uint8_t)(1U << ((off) % 8))

	r = q_prepare(s, &st,
		      "SELECT mesh_ip FROM nodes WHERE status != 4 "
		      "UNION SELECT ip FROM ip_released WHERE released_at > ?",
		      "i", now - s->opts.ip_cooldown_usec);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		uint32_t ip = (uint32_t)sqlite3_column_int64(st, 0);
		if ((ip & 0xFFFF0000U) == MESH_BASE)
			MARK(ip - MESH_BASE);
	}
	if (r < 0)
		return r;

	for (uint32_t off = 1; off < MESH_SIZE; off++) {
		uint8_t last = off & 0xFF;
		if (last == 0 || last == 255)
			continue;
		if (used[off / 8] & (1U << (off % 8)))
			continue;
		*ret = MESH_BASE + off;
		return 0;
	}
#undef MARK
	return -ENOSPC;
}

/* ---- nodes ---- */

void store_node_done(struct store_node *n)
{
	if (!n)
		return;
	free(n->hostname);
	free(n->metadata_json);
	free(n->capabilities_json);
	free(n->heartbeat_json);
	free(n->endpoint);
	free(n->nat_type);
	explicit_bzero(n, sizeof(*n));
}

void store_node_array_free(struct store_node *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		store_node_done(&a[i]);
	free(a);
}

#define NODE_COLS                                                                                  \
	"id, hostname, public_key, mesh_ip, metadata, capabilities, token_hash, nsk, status, "     \
	"last_heartbeat, heartbeat, endpoint, nat_type, registered_at, deregistered_at, "          \
	"rotate_pending, reconcile_pending"

static int node_from_row(sqlite3_stmt *st, struct store_node *n)
{
	int r = 0;

	*n = (struct store_node){};
	col_id(st, 0, n->id);
	r |= col_strdup(st, 1, &n->hostname);
	col_key(st, 2, n->public_key);
	n->mesh_ip = (uint32_t)sqlite3_column_int64(st, 3);
	r |= col_strdup(st, 4, &n->metadata_json);
	r |= col_strdup(st, 5, &n->capabilities_json);
	col_key(st, 6, n->token_hash);
	col_key(st, 7, n->nsk);
	n->status = (enum node_status)sqlite3_column_int(st, 8);
	n->last_heartbeat = sqlite3_column_int64(st, 9);
	r |= col_strdup(st, 10, &n->heartbeat_json);
	r |= col_strdup(st, 11, &n->endpoint);
	r |= col_strdup(st, 12, &n->nat_type);
	n->registered_at = sqlite3_column_int64(st, 13);
	n->deregistered_at = sqlite3_column_int64(st, 14);
	n->rotate_pending = sqlite3_column_int(st, 15) != 0;
	n->reconcile_pending = sqlite3_column_int(st, 16) != 0;
	if (!n->metadata_json)
		n->metadata_json = strdup("{}");
	if (!n->endpoint)
		n->endpoint = strdup("");
	if (!n->nat_type)
		n->nat_type = strdup("");
	if (r || !n->hostname || !n->metadata_json || !n->endpoint || !n->nat_type) {
		store_node_done(n);
		return -ENOMEM;
	}
	return 0;
}

int store_node_insert(struct store *s, const struct store_node *n)
{
	int r = q_exec(s,
		       "INSERT INTO nodes(id, hostname, public_key, mesh_ip, metadata, capabilities,"
		       " token_hash, nsk, status, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
		       "sskisskki", n->id, n->hostname, n->public_key, (int64_t)n->mesh_ip,
		       n->metadata_json ? n->metadata_json : "{}", n->capabilities_json, n->token_hash,
		       n->nsk, n->registered_at);
	return r < 0 ? r : 0;
}

static int node_get_one(struct store *s, struct store_node *ret, const char *sql, const char *fmt,
			const void *arg)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = q_prepare(s, &st, sql, fmt, arg);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	return node_from_row(st, ret);
}

int store_node_get(struct store *s, const char *id, struct store_node *ret)
{
	return node_get_one(s, ret, "SELECT " NODE_COLS " FROM nodes WHERE id = ?", "s", id);
}

int store_node_get_by_token(struct store *s, const uint8_t token_hash[STORE_KEY_LEN],
			    struct store_node *ret)
{
	return node_get_one(s, ret,
			    "SELECT " NODE_COLS " FROM nodes WHERE token_hash = ? AND status != 4", "k",
			    token_hash);
}

int store_node_list(struct store *s, bool include_dead, struct store_node **ret, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_node *a = NULL;
	size_t n = 0, cap = 0;
	int r;

	r = q_prepare(s, &st,
		      include_dead ? "SELECT " NODE_COLS " FROM nodes ORDER BY registered_at, id"
				   : "SELECT " NODE_COLS
				     " FROM nodes WHERE status != 4 ORDER BY registered_at, id",
		      NULL);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_node *na = realloc(a, ncap * sizeof(*a));
			if (!na) {
				r = -ENOMEM;
				break;
			}
			a = na;
			cap = ncap;
		}
		r = node_from_row(st, &a[n]);
		if (r < 0)
			break;
		n++;
	}
	if (r < 0) {
		store_node_array_free(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

static int changed_or_enoent(int r)
{
	if (r < 0)
		return r;
	return r == 0 ? -ENOENT : 0;
}

int store_node_set_status(struct store *s, const char *id, enum node_status status)
{
	return changed_or_enoent(
		q_exec(s, "UPDATE nodes SET status = ? WHERE id = ? AND status != 4", "is",
		       (int64_t)status, id));
}

int store_node_heartbeat(struct store *s, const char *id, int64_t now, const char *heartbeat_json)
{
	return changed_or_enoent(q_exec(s,
					"UPDATE nodes SET status = 1, last_heartbeat = ?, heartbeat = ?"
					" WHERE id = ? AND status != 4",
					"iss", now, heartbeat_json, id));
}

int store_node_set_public_key(struct store *s, const char *id, const uint8_t key[STORE_KEY_LEN])
{
	return changed_or_enoent(q_exec(s,
					"UPDATE nodes SET public_key = ? WHERE id = ? AND status != 4",
					"ks", key, id));
}

int store_node_set_endpoint(struct store *s, const char *id, const char *endpoint, const char *nat_type)
{
	int r;

	r = q_exec(s,
		   "UPDATE nodes SET endpoint = ?1, nat_type = ?2 WHERE id = ?3 AND status != 4"
		   " AND (endpoint != ?1 OR nat_type != ?2)",
		   "sss", endpoint, nat_type, id);
	if (r < 0)
		return r;
	if (r > 0)
		return 1;
	/* Nothing changed: either equal or unknown node. */
	return changed_or_enoent(
		q_exec(s, "UPDATE nodes SET endpoint = endpoint WHERE id = ? AND status != 4", "s", id));
}

int store_node_set_capabilities(struct store *s, const char *id, const char *json)
{
	return changed_or_enoent(q_exec(
		s, "UPDATE nodes SET capabilities = ? WHERE id = ? AND status != 4", "ss", json, id));
}

int store_node_set_metadata(struct store *s, const char *id, const char *json)
{
	return changed_or_enoent(q_exec(s, "UPDATE nodes SET metadata = ? WHERE id = ? AND status != 4",
					"ss", json ? json : "{}", id));
}

int store_node_set_rotate_pending(struct store *s, const char *id, bool pending)
{
	return changed_or_enoent(q_exec(s, "UPDATE nodes SET rotate_pending = ? WHERE id = ?", "is",
					(int64_t)pending, id));
}

int store_node_set_reconcile_pending(struct store *s, const char *id, bool pending)
{
	return changed_or_enoent(q_exec(s, "UPDATE nodes SET reconcile_pending = ? WHERE id = ?", "is",
					(int64_t)pending, id));
}

int store_node_deregister(struct store *s, const char *id, int64_t now)
{
	int r;

	r = sp_begin(s);
	if (r < 0)
		return r;
	r = q_exec(s,
		   "INSERT OR REPLACE INTO ip_released(ip, released_at)"
		   " SELECT mesh_ip, ? FROM nodes WHERE id = ? AND status != 4",
		   "is", now, id);
	if (r == 0)
		r = -ENOENT;
	if (r >= 0)
		r = q_exec(s,
			   "UPDATE nodes SET status = 4, token_hash = NULL, deregistered_at = ?,"
			   " rotate_pending = 0, reconcile_pending = 0 WHERE id = ?",
			   "is", now, id);
	if (r >= 0)
		r = q_exec(s, "DELETE FROM psks WHERE a = ?1 OR b = ?1", "s", id);
	return sp_end(s, r < 0 ? r : 0);
}

/* ---- PSKs ---- */

static void pair_order(const char **a, const char **b)
{
	if (strcmp(*a, *b) > 0) {
		const char *t = *a;
		*a = *b;
		*b = t;
	}
}

int store_psk_get(struct store *s, const char *a, const char *b, uint8_t out[STORE_KEY_LEN])
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	uint8_t psk[STORE_KEY_LEN];
	int r;

	if (streq(a, b))
		return -EINVAL;
	pair_order(&a, &b);
	r = q_prepare(s, &st, "SELECT psk FROM psks WHERE a = ? AND b = ?", "ss", a, b);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r < 0)
		return r;
	if (r > 0) {
		col_key(st, 0, out);
		return 0;
	}
	r = random_bytes(psk, sizeof(psk));
	if (r < 0)
		return r;
	r = q_exec(s, "INSERT INTO psks(a, b, psk) VALUES (?, ?, ?)", "ssk", a, b, psk);
	if (r >= 0)
		memcpy(out, psk, sizeof(psk));
	explicit_bzero(psk, sizeof(psk));
	return r < 0 ? r : 0;
}

int store_psk_set(struct store *s, const char *a, const char *b, const uint8_t psk[STORE_KEY_LEN])
{
	int r;

	if (streq(a, b))
		return -EINVAL;
	pair_order(&a, &b);
	r = q_exec(s, "INSERT OR REPLACE INTO psks(a, b, psk) VALUES (?, ?, ?)", "ssk", a, b, psk);
	return r < 0 ? r : 0;
}

/* ---- policies ---- */

void store_policy_array_free(struct store_policy *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].id);
		free(a[i].rules_json);
	}
	free(a);
}

int store_policies_set(struct store *s, const struct store_policy *p, size_t n)
{
	int r;

	r = sp_begin(s);
	if (r < 0)
		return r;
	r = q_exec(s, "DELETE FROM policies", NULL);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = q_exec(s, "INSERT INTO policies(pos, id, rules) VALUES (?, ?, ?)", "iss", (int64_t)i,
			   p[i].id, p[i].rules_json);
	return sp_end(s, r < 0 ? r : 0);
}

int store_policies_get(struct store *s, struct store_policy **ret, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_policy *a = NULL;
	size_t n = 0;
	int r;

	r = q_prepare(s, &st, "SELECT id, rules FROM policies ORDER BY pos", NULL);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		struct store_policy *na = realloc(a, (n + 1) * sizeof(*a));
		if (!na) {
			r = -ENOMEM;
			break;
		}
		a = na;
		a[n] = (struct store_policy){};
		n++;
		if (col_strdup(st, 0, &a[n - 1].id) < 0 || col_strdup(st, 1, &a[n - 1].rules_json) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (r < 0) {
		store_policy_array_free(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* ---- data / report entries ---- */

void store_entry_array_free(struct store_entry *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].key);
		free(a[i].content_type);
		free(a[i].payload_json);
	}
	free(a);
}

static int entry_list(struct store *s, const char *table_sql, const char *node, struct store_entry **ret,
		      size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_entry *a = NULL;
	size_t n = 0;
	int r;

	r = q_prepare(s, &st, table_sql, "s", node);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		struct store_entry *na = realloc(a, (n + 1) * sizeof(*a));
		if (!na) {
			r = -ENOMEM;
			break;
		}
		a = na;
		a[n] = (struct store_entry){};
		n++;
		if (col_strdup(st, 0, &a[n - 1].key) < 0 || col_strdup(st, 1, &a[n - 1].content_type) < 0 ||
		    col_strdup(st, 2, &a[n - 1].payload_json) < 0) {
			r = -ENOMEM;
			break;
		}
		a[n - 1].version = sqlite3_column_int64(st, 3);
		a[n - 1].updated_at = sqlite3_column_int64(st, 4);
	}
	if (r < 0) {
		store_entry_array_free(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

int store_data_set(struct store *s, const char *node, const char *key, const char *content_type,
		   const char *payload_json, int64_t now)
{
	int r = q_exec(s,
		       "INSERT INTO node_data(node_id, key, content_type, payload, version, updated_at)"
		       " VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT(node_id, key) DO UPDATE SET"
		       " content_type = ?3, payload = ?4, version = version + 1, updated_at = ?5",
		       "ssssi", node, key, content_type, payload_json, now);
	return r < 0 ? r : 0;
}

int store_data_delete(struct store *s, const char *node, const char *key)
{
	return changed_or_enoent(
		q_exec(s, "DELETE FROM node_data WHERE node_id = ? AND key = ?", "ss", node, key));
}

int store_data_list(struct store *s, const char *node, struct store_entry **ret, size_t *ret_n)
{
	return entry_list(s,
			  "SELECT key, content_type, payload, version, updated_at FROM node_data"
			  " WHERE node_id = ? ORDER BY key",
			  node, ret, ret_n);
}

int store_report_upsert(struct store *s, const char *node, const struct store_entry *e)
{
	int r = q_exec(s,
		       "INSERT INTO reports(node_id, key, content_type, payload, version, updated_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(node_id, key) DO UPDATE SET"
		       " content_type = ?3, payload = ?4, version = ?5, updated_at = ?6"
		       " WHERE version <= ?5",
		       "ssssii", node, e->key, e->content_type, e->payload_json, e->version, e->updated_at);
	if (r < 0)
		return r;
	return r > 0 ? 1 : 0;
}

int store_report_delete(struct store *s, const char *node, const char *key)
{
	int r = q_exec(s, "DELETE FROM reports WHERE node_id = ? AND key = ?", "ss", node, key);
	return r < 0 ? r : 0;
}

int store_report_list(struct store *s, const char *node, struct store_entry **ret, size_t *ret_n)
{
	return entry_list(s,
			  "SELECT key, content_type, payload, version, updated_at FROM reports"
			  " WHERE node_id = ? ORDER BY key",
			  node, ret, ret_n);
}

/* ---- secrets ---- */

void store_secret_ref_array_free(struct store_secret_ref *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		free(a[i].key);
	free(a);
}

int store_secret_set(struct store *s, const char *node, const char *key, const void *value,
		     size_t len, int64_t now)
{
	int r = q_exec(s,
		       "INSERT INTO secrets(node_id, key, value, version, updated_at)"
		       " VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT(node_id, key) DO UPDATE SET"
		       " value = ?3, version = version + 1, updated_at = ?4",
		       "ssbi", node, key, value, len, now);
	return r < 0 ? r : 0;
}

int store_secret_delete(struct store *s, const char *node, const char *key)
{
	return changed_or_enoent(
		q_exec(s, "DELETE FROM secrets WHERE node_id = ? AND key = ?", "ss", node, key));
}

int store_secret_get(struct store *s, const char *node, const char *key, uint8_t **ret,
		     size_t *ret_len, int64_t *ret_version)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	const void *b;
	uint8_t *v;
	int r, n;

	r = q_prepare(s, &st, "SELECT value, version FROM secrets WHERE node_id = ? AND key = ?", "ss",
		      node, key);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	b = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	v = malloc((size_t)n + 1);
	if (!v)
		return -ENOMEM;
	if (n > 0)
		memcpy(v, b, (size_t)n);
	v[n] = 0;
	*ret = v;
	*ret_len = (size_t)n;
	if (ret_version)
		*ret_version = sqlite3_column_int64(st, 1);
	return 0;
}

int store_secret_list(struct store *s, const char *node, struct store_secret_ref **ret, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_secret_ref *a = NULL;
	size_t n = 0;
	int r;

	r = q_prepare(s, &st, "SELECT key, version FROM secrets WHERE node_id = ? ORDER BY key", "s",
		      node);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		struct store_secret_ref *na = realloc(a, (n + 1) * sizeof(*a));
		if (!na) {
			r = -ENOMEM;
			break;
		}
		a = na;
		a[n] = (struct store_secret_ref){ .version = sqlite3_column_int64(st, 1) };
		n++;
		if (col_strdup(st, 0, &a[n - 1].key) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (r < 0) {
		store_secret_ref_array_free(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* ---- executions ---- */

void store_execution_done(struct store_execution *e)
{
	if (!e)
		return;
	free(e->action);
	free(e->params_json);
	free(e->ack_reason);
	free(e->result_json);
	*e = (struct store_execution){};
}

int store_execution_create(struct store *s, const struct store_execution *e)
{
	int r = q_exec(s,
		       "INSERT INTO executions(id, node_id, action, params, status, created_at)"
		       " VALUES (?, ?, ?, ?, 0, ?)",
		       "ssssi", e->id, e->node_id, e->action, e->params_json ? e->params_json : "{}",
		       e->created_at);
	return r < 0 ? r : 0;
}

int store_execution_get(struct store *s, const char *id, struct store_execution *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_execution e = {};
	int r;

	r = q_prepare(s, &st,
		      "SELECT id, node_id, action, params, status, ack_reason, result, created_at,"
		      " acked_at, finished_at FROM executions WHERE id = ?",
		      "s", id);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	col_id(st, 0, e.id);
	col_id(st, 1, e.node_id);
	e.status = (enum execution_status)sqlite3_column_int(st, 4);
	e.created_at = sqlite3_column_int64(st, 7);
	e.acked_at = sqlite3_column_int64(st, 8);
	e.finished_at = sqlite3_column_int64(st, 9);
	if (col_strdup(st, 2, &e.action) < 0 || col_strdup(st, 3, &e.params_json) < 0 ||
	    col_strdup(st, 5, &e.ack_reason) < 0 || col_strdup(st, 6, &e.result_json) < 0) {
		store_execution_done(&e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

static int execution_owner(struct store *s, const char *id, char owner[STORE_ID_MAX + 1], int *status)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = q_prepare(s, &st, "SELECT node_id, status FROM executions WHERE id = ?", "s", id);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	col_id(st, 0, owner);
	*status = sqlite3_column_int(st, 1);
	return 0;
}

int store_execution_ack(struct store *s, const char *node, const char *id, bool accepted,
			const char *reason, int64_t now)
{
	char owner[STORE_ID_MAX + 1];
	int status, r;

	r = execution_owner(s, id, owner, &status);
	if (r < 0)
		return r;
	if (!streq(owner, node))
		return -EPERM;
	if (status != EXECUTION_PENDING)
		return 0;
	r = q_exec(s,
		   "UPDATE executions SET status = ?, ack_reason = ?, acked_at = ? WHERE id = ?"
		   " AND status = 0",
		   "isis", (int64_t)(accepted ? EXECUTION_ACCEPTED : EXECUTION_REJECTED), strempty(reason),
		   now, id);
	return r < 0 ? r : (r > 0 ? 1 : 0);
}

int store_execution_result(struct store *s, const char *node, const char *id, const char *result_json,
			   bool allow_unknown, int64_t now)
{
	char owner[STORE_ID_MAX + 1];
	int status, r;

	r = sp_begin(s);
	if (r < 0)
		return r;
	r = execution_owner(s, id, owner, &status);
	if (r == -ENOENT) {
		if (!allow_unknown)
			return sp_end(s, -ENOENT);
		r = q_exec(s,
			   "INSERT INTO executions(id, node_id, action, params, status, result, created_at,"
			   " finished_at) VALUES (?1, ?2, '', '{}', 3, ?3, ?4, ?4)",
			   "sssi", id, node, result_json, now);
		return sp_end(s, r < 0 ? r : 1);
	}
	if (r < 0)
		return sp_end(s, r);
	if (!streq(owner, node))
		return sp_end(s, -EPERM);
	if (status == EXECUTION_FINISHED)
		return sp_end(s, 0);
	r = q_exec(s, "UPDATE executions SET status = 3, result = ?, finished_at = ? WHERE id = ?", "sis",
		   result_json, now, id);
	return sp_end(s, r < 0 ? r : 1);
}

/* ---- records ---- */

void store_record_array_free(struct store_record *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		free(a[i].body_json);
	free(a);
}

int store_records_append(struct store *s, const char *node, enum record_kind kind,
			 char *const *bodies, size_t n, int64_t now)
{
	int r;

	if ((unsigned)kind >= _RECORD_KIND_MAX)
		return -EINVAL;
	r = sp_begin(s);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = q_exec(s, "INSERT INTO records(node_id, kind, received_at, body) VALUES (?, ?, ?, ?)",
			   "siis", node, (int64_t)kind, now, bodies[i]);
	if (r >= 0 && s->opts.record_max_count > 0)
		r = q_exec(s,
			   "DELETE FROM records WHERE node_id = ?1 AND kind = ?2 AND seq <= "
			   "(SELECT seq FROM records WHERE node_id = ?1 AND kind = ?2"
			   " ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
			   "sii", node, (int64_t)kind, (int64_t)s->opts.record_max_count);
	if (r >= 0 && s->opts.record_max_age_usec > 0)
		r = q_exec(s, "DELETE FROM records WHERE node_id = ? AND kind = ? AND received_at < ?",
			   "sii", node, (int64_t)kind, now - s->opts.record_max_age_usec);
	return sp_end(s, r < 0 ? r : 0);
}

int store_records_query(struct store *s, const char *node, enum record_kind kind, int64_t since,
			size_t limit, struct store_record **ret, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_record *a = NULL;
	size_t n = 0;
	int r;

	/* With a limit, the newest `limit` records are returned (still oldest first). */
	r = q_prepare(s, &st,
		      "SELECT seq, received_at, body FROM (SELECT seq, received_at, body FROM records"
		      " WHERE node_id = ? AND kind = ? AND received_at >= ? ORDER BY seq DESC LIMIT ?)"
		      " ORDER BY seq",
		      "siii", node, (int64_t)kind, since, limit ? (int64_t)limit : INT64_C(-1));
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		struct store_record *na = realloc(a, (n + 1) * sizeof(*a));
		if (!na) {
			r = -ENOMEM;
			break;
		}
		a = na;
		a[n] = (struct store_record){ .seq = sqlite3_column_int64(st, 0),
					      .received_at = sqlite3_column_int64(st, 1) };
		n++;
		if (col_strdup(st, 2, &a[n - 1].body_json) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (r < 0) {
		store_record_array_free(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

/* ---- event log ---- */

void store_event_array_free(struct store_event *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].event_type);
		free(a[i].envelope);
	}
	free(a);
}

int store_event_next_seq(struct store *s, const char *node, uint64_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = q_prepare(s, &st, "UPDATE nodes SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq",
		      "s", node);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	*ret = (uint64_t)sqlite3_column_int64(st, 0);
	while ((r = q_step(s, st)) > 0)
		;
	return r;
}

static int event_prune_node(struct store *s, const char *node, int64_t now)
{
	return q_exec(s,
		      "DELETE FROM events WHERE node_id = ?1 AND emitted_at < ?2 AND seq <= "
		      "(SELECT seq FROM events WHERE node_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
		      "sii", node, now - s->opts.event_min_age_usec, (int64_t)s->opts.event_min_count);
}

int store_event_append(struct store *s, const char *node, uint64_t seq, const char *event_type,
		       const char *envelope, int64_t now)
{
	/* Pruning on every append would double the statements of a fan-out; every 64th event
	 * (plus the periodic store_event_prune) keeps the log bounded just as well. */
	bool prune = (seq % 64) == 0;
	int r;

	/* A lone INSERT is atomic by itself; only insert + prune needs the savepoint. */
	if (prune) {
		r = sp_begin(s);
		if (r < 0)
			return r;
	}
	r = q_exec(s,
		   "INSERT INTO events(node_id, seq, event_type, envelope, emitted_at) VALUES (?, ?, ?, ?, ?)",
		   "sissi", node, (int64_t)seq, event_type, envelope, now);
	if (!prune)
		return r < 0 ? r : 0;
	if (r >= 0)
		r = event_prune_node(s, node, now);
	return sp_end(s, r < 0 ? r : 0);
}

static int event_rows(struct store *s, sqlite3_stmt *st, struct store_event **ret, size_t *ret_n)
{
	struct store_event *a = NULL;
	size_t n = 0;
	int r;

	while ((r = q_step(s, st)) > 0) {
		struct store_event *na = realloc(a, (n + 1) * sizeof(*a));
		if (!na) {
			r = -ENOMEM;
			break;
		}
		a = na;
		a[n] = (struct store_event){ .seq = (uint64_t)sqlite3_column_int64(st, 0),
					     .emitted_at = sqlite3_column_int64(st, 3) };
		n++;
		if (col_strdup(st, 1, &a[n - 1].event_type) < 0 || col_strdup(st, 2, &a[n - 1].envelope) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (r < 0) {
		store_event_array_free(a, n);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

int store_event_since(struct store *s, const char *node, uint64_t after_seq, struct store_event **ret,
		      size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = q_prepare(s, &st, "SELECT 1 FROM events WHERE node_id = ? AND seq = ?", "si", node,
		      (int64_t)after_seq);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	q_release(TAKE_PTR(st));

	r = q_prepare(s, &st,
		      "SELECT seq, event_type, envelope, emitted_at FROM events"
		      " WHERE node_id = ? AND seq > ? ORDER BY seq",
		      "si", node, (int64_t)after_seq);
	if (r < 0)
		return r;
	return event_rows(s, st, ret, ret_n);
}

int store_event_last(struct store *s, const char *node, size_t limit, struct store_event **ret,
		     size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = q_prepare(s, &st,
		      "SELECT seq, event_type, envelope, emitted_at FROM (SELECT * FROM events"
		      " WHERE node_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
		      "si", node, limit ? (int64_t)limit : INT64_C(-1));
	if (r < 0)
		return r;
	return event_rows(s, st, ret, ret_n);
}

int store_event_prune(struct store *s, int64_t now)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char **ids = NULL;
	size_t n = 0;
	int r;

	r = q_prepare(s, &st, "SELECT DISTINCT node_id FROM events", NULL);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		char **na = realloc(ids, (n + 1) * sizeof(*ids));
		if (!na) {
			r = -ENOMEM;
			break;
		}
		ids = na;
		ids[n] = strdup((const char *)sqlite3_column_text(st, 0));
		if (!ids[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	q_release(TAKE_PTR(st));
	if (r >= 0) {
		r = sp_begin(s);
		if (r >= 0) {
			for (size_t i = 0; r >= 0 && i < n; i++)
				r = event_prune_node(s, ids[i], now);
			r = sp_end(s, r < 0 ? r : 0);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return r;
}

/* ---- signing keys ---- */

int store_signing_keys_get(struct store *s, struct store_signing_keys *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_signing_keys k = {};
	int r;

	r = q_prepare(s, &st, "SELECT current, previous, transition_expires FROM signing_keys WHERE id = 1",
		      NULL);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	col_key(st, 0, k.current);
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		k.has_previous = true;
		col_key(st, 1, k.previous);
		k.transition_expires = sqlite3_column_int64(st, 2);
	}
	*ret = k;
	return 0;
}

int store_signing_keys_set(struct store *s, const struct store_signing_keys *k)
{
	int r = q_exec(s,
		       "INSERT OR REPLACE INTO signing_keys(id, current, previous, transition_expires)"
		       " VALUES (1, ?, ?, ?)",
		       "kki", k->current, k->has_previous ? k->previous : NULL,
		       k->has_previous ? k->transition_expires : INT64_C(0));
	return r < 0 ? r : 0;
}

/* ---- kv ---- */

int store_kv_get_int(struct store *s, const char *key, int64_t *ret)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r;

	r = q_prepare(s, &st, "SELECT value FROM kv WHERE key = ?", "s", key);
	if (r < 0)
		return r;
	r = q_step(s, st);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

int store_kv_set_int(struct store *s, const char *key, int64_t value)
{
	int r = q_exec(s, "INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", "si", key, value);
	return r < 0 ? r : 0;
}

/* ---- relay sessions ---- */

int store_relay_session_put(struct store *s, const struct store_relay_session *r)
{
	int q = q_exec(s,
		       "INSERT OR REPLACE INTO relay_sessions(id, bridge_id, a_id, a_endpoint, b_id,"
		       " b_endpoint, port, relay_endpoint, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       "ssssssisi", r->id, r->bridge_id, r->a_id, r->a_endpoint, r->b_id, r->b_endpoint,
		       (int64_t)r->port, r->relay_endpoint, r->expires_at);
	return q < 0 ? q : 0;
}

int store_relay_session_delete(struct store *s, const char *id)
{
	int r = q_exec(s, "DELETE FROM relay_sessions WHERE id = ?", "s", id);
	return r < 0 ? r : 0;
}

int store_relay_session_list(struct store *s, struct store_relay_session **ret, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct store_relay_session *a = NULL;
	size_t n = 0;
	int r;

	r = q_prepare(s, &st,
		      "SELECT id, bridge_id, a_id, a_endpoint, b_id, b_endpoint, port, relay_endpoint,"
		      " expires_at"
		      " FROM relay_sessions ORDER BY id",
		      NULL);
	if (r < 0)
		return r;
	while ((r = q_step(s, st)) > 0) {
		struct store_relay_session *na = reallocarray(a, n + 1, sizeof(*a));
		const unsigned char *ea, *eb, *er;
		if (!na) {
			r = -ENOMEM;
			break;
		}
		a = na;
		a[n] = (struct store_relay_session){};
		col_id(st, 0, a[n].id);
		col_id(st, 1, a[n].bridge_id);
		col_id(st, 2, a[n].a_id);
		ea = sqlite3_column_text(st, 3);
		snprintf(a[n].a_endpoint, sizeof(a[n].a_endpoint), "%s", ea ? (const char *)ea : "");
		col_id(st, 4, a[n].b_id);
		eb = sqlite3_column_text(st, 5);
		snprintf(a[n].b_endpoint, sizeof(a[n].b_endpoint), "%s", eb ? (const char *)eb : "");
		a[n].port = (uint16_t)sqlite3_column_int64(st, 6);
		er = sqlite3_column_text(st, 7);
		snprintf(a[n].relay_endpoint, sizeof(a[n].relay_endpoint), "%s", er ? (const char *)er : "");
		a[n].expires_at = sqlite3_column_int64(st, 8);
		n++;
	}
	if (r < 0) {
		free(a);
		return r;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}
