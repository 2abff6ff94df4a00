/* Identity persistence: one file per secret so each keeps mode 0600 and can be replaced on its
 * own (key rotation, NSK rotation), identity.json last so its presence implies completeness. */
#define LOG_COMPONENT "identity"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>

#include "core/identity.h"
#include "shared/encoding.h"
#include "shared/fileio.h"
#include "shared/json-util.h"
#include "shared/log.h"
#include "shared/wire.h"

#define IDENTITY_FILE_MAX 65536

int identity_new(struct identity **ret)
{
	struct identity *id = calloc(1, sizeof(*id));
	if (!id)
		return -ENOMEM;
	*ret = id;
	return 0;
}

struct identity *identity_free(struct identity *id)
{
	if (!id)
		return NULL;
	erase_and_free(id->node_token);
	explicit_bzero(id, sizeof(*id));
	free(id);
	return NULL;
}

static int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Reads a small secret file, tightening its mode first (§2.2 rule 3), and trims whitespace. */
static int read_secret(const char *dir, const char *name, char **ret)
{
	char path[4096];
	_cleanup_erase_ char *buf = NULL;
	size_t len;
	int r;

	r = path_join(path, sizeof path, dir, name);
	if (r < 0)
		return r;
	r = file_tighten_mode(path);
	if (r < 0 && r != -ENOENT)
		return r;
	r = read_file_full(path, IDENTITY_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

static int write_secret(const char *dir, const char *name, const char *text)
{
	char path[4096];
	_cleanup_erase_ char *line = NULL;
	int r;

	r = path_join(path, sizeof path, dir, name);
	if (r < 0)
		return r;
	if (asprintf(&line, "%s\n", text) < 0)
		return -ENOMEM;
	r = write_file_atomic(path, line, strlen(line), 0600);
	if (r < 0)
		return log_error_errno(r, "cannot write identity file", "path=%s err=%m", path);
	return 0;
}

static int load_key32_file(const char *dir, const char *name, uint8_t out[32])
{
	_cleanup_erase_ char *text = NULL;
	int r;

	r = read_secret(dir, name, &text);
	if (r < 0)
		return log_error_errno(r == -ENOENT ? -EBADMSG : r, "identity file unreadable",
				       "file=%s/%s err=%m", dir, name);
	if (key32_parse(text, out) < 0)
		return log_error_errno(-EBADMSG, "identity file is not base64 of 32 bytes",
				       "file=%s/%s", dir, name);
	return 0;
}

static int load_signing_keys(const char *dir, struct identity *id)
{
	char path[4096];
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *j = NULL;
	struct json_error je = {};
	char err[256];
	size_t len;
	int r;

	r = path_join(path, sizeof path, dir, "signing_keys.json");
	if (r < 0)
		return r;
	(void)file_tighten_mode(path);
	r = read_file_full(path, IDENTITY_FILE_MAX, &buf, &len);
	if (r == -ENOENT) {
		/* Older layouts only had the mirror file: current key, no transition. */
		memset(&id->signing_keys, 0, sizeof(id->signing_keys));
		return load_key32_file(dir, "signing_public_key", id->signing_keys.current);
	}
	if (r < 0)
		return log_error_errno(r, "cannot read signing keys", "path=%s err=%m", path);
	if (json_parse_bounded(buf, len, &j, &je) < 0 ||
	    signing_keys_from_json(j, &id->signing_keys, err, sizeof err) < 0) {
		log_warning("corrupt signing_keys.json, using signing_public_key", "path=%s", path);
		(void)file_move_corrupt(path);
		memset(&id->signing_keys, 0, sizeof(id->signing_keys));
		return load_key32_file(dir, "signing_public_key", id->signing_keys.current);
	}
	return 0;
}

/* Parses identity.json; -EBADMSG on any schema violation. */
static int parse_identity_json(const char *buf, size_t len, struct identity *id)
{
	_cleanup_json_ json_t *j = NULL;
	struct json_error je = {};
	const char *node_id, *mesh_ip;
	int r;

	if (json_parse_bounded(buf, len, &j, &je) < 0 || !json_is_object(j))
		return -EBADMSG;
	if (json_get_id(j, "node_id", true, &node_id, &je) < 0 ||
	    json_get_string(j, "mesh_ip", true, &mesh_ip, &je) < 0)
		return -EBADMSG;
	if (ipv4_addr_parse(mesh_ip, &id->mesh_ip) < 0)
		return -EBADMSG;
	r = json_get_timestamp(j, "registered_at", false, &id->registered_at, &je);
	if (r < 0 && r != -ENOENT)
		return -EBADMSG;
	snprintf(id->node_id, sizeof id->node_id, "%s", node_id);
	inet_ntop(AF_INET, &id->mesh_ip, id->mesh_ip_str, sizeof id->mesh_ip_str);
	return 0;
}

int identity_load(const char *data_dir, struct identity **ret)
{
	_cleanup_(identity_freep) struct identity *id = NULL;
	_cleanup_free_ char *buf = NULL;
	_cleanup_erase_ char *nsk = NULL;
	char path[4096];
	size_t len;
	int r;

	r = path_join(path, sizeof path, data_dir, "identity.json");
	if (r < 0)
		return r;
	(void)file_tighten_mode(path);
	r = read_file_full(path, IDENTITY_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;

	r = identity_new(&id);
	if (r < 0)
		return r;
	if (parse_identity_json(buf, len, id) < 0) {
		log_warning("identity.json is corrupt, treating node as unregistered", "path=%s",
			    path);
		(void)file_move_corrupt(path);
		return -ENOENT;
	}

	r = load_key32_file(data_dir, "private_key", id->private_key);
	if (r < 0)
		return r;
	r = wg_key_public(id->private_key, id->public_key);
	if (r < 0)
		return r;

	r = read_secret(data_dir, "node_secret_key", &nsk);
	if (r < 0 || key32_parse(nsk, id->nsk) < 0)
		return log_error_errno(-EBADMSG, "identity file is not base64 of 32 bytes",
				       "file=%s/node_secret_key", data_dir);
	snprintf(id->node_secret_key, sizeof id->node_secret_key, "%s", nsk);

	r = read_secret(data_dir, "node_token", &id->node_token);
	if (r == -ENOENT)
		id->node_token = NULL;
	else if (r < 0)
		return log_error_errno(r, "cannot read node_token", "dir=%s err=%m", data_dir);
	else if (isempty(id->node_token))
		id->node_token = mfree(id->node_token);

	r = load_signing_keys(data_dir, id);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(id);
	return 0;
}

int identity_save_signing_keys(const char *data_dir, const struct signing_keys *keys)
{
	_cleanup_json_ json_t *j = signing_keys_to_json(keys);
	_cleanup_free_ char *text = NULL;
	char path[4096], b64[45];
	int r;

	if (!j || !(text = json_dumps_compact(j)))
		return -ENOMEM;
	r = path_join(path, sizeof path, data_dir, "signing_keys.json");
	if (r < 0)
		return r;
	r = write_file_atomic(path, text, strlen(text), 0600);
	if (r < 0)
		return log_error_errno(r, "cannot write signing keys", "path=%s err=%m", path);
	key32_format(keys->current, b64);
	return write_secret(data_dir, "signing_public_key", b64);
}

int identity_save_private_key(const char *data_dir, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char b64[45];
	int r;

	key32_format(key, b64);
	r = write_secret(data_dir, name, b64);
	explicit_bzero(b64, sizeof b64);
	return r;
}

int identity_save_nsk(const char *data_dir, const char *nsk_b64)
{
	return write_secret(data_dir, "node_secret_key", nsk_b64);
}

int identity_save(const char *data_dir, const struct identity *id)
{
	_cleanup_json_ json_t *j = NULL;
	_cleanup_free_ char *text = NULL;
	char path[4096], ts[RFC3339_MAX];
	int r;

	r = identity_save_private_key(data_dir, "private_key", id->private_key);
	if (r < 0)
		return r;
	r = identity_save_nsk(data_dir, id->node_secret_key);
	if (r < 0)
		return r;
	if (id->node_token) {
		r = write_secret(data_dir, "node_token", id->node_token);
		if (r < 0)
			return r;
	}
	r = identity_save_signing_keys(data_dir, &id->signing_keys);
	if (r < 0)
		return r;

	rfc3339_format(id->registered_at, 0, ts);
	{
		char b64[45];
		key32_format(id->signing_keys.current, b64);
		j = json_pack("{s:s, s:s, s:s, s:s}", "node_id", id->node_id, "mesh_ip",
			      id->mesh_ip_str, "signing_public_key", b64, "registered_at", ts);
	}
	if (!j || !(text = json_dumps_compact(j)))
		return -ENOMEM;
	r = path_join(path, sizeof path, data_dir, "identity.json");
	if (r < 0)
		return r;
	r = write_file_atomic(path, text, strlen(text), 0600);
	if (r < 0)
		return log_error_errno(r, "cannot write identity", "path=%s err=%m", path);
	return 0;
}

int identity_remove(const char *data_dir)
{
	static const char *const files[] = {
		"identity.json",      "private_key",	  "private_key.new", "node_secret_key",
		"node_token",	      "signing_public_key", "signing_keys.json",
	};
	char path[4096];
	int ret = 0;

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		if (path_join(path, sizeof path, data_dir, files[i]) < 0)
			return -ENAMETOOLONG;
		if (unlink(path) < 0 && errno != ENOENT && ret == 0)
			ret = log_error_errno(-errno, "cannot remove identity file", "path=%s err=%m",
					      path);
	}
	return ret;
}

const char *identity_bearer(const struct identity *id)
{
	return id->node_token ? id->node_token : id->node_secret_key;
}
