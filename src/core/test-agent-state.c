/* Unit tests for the agent's pure-ish pieces: token sources and validation, metadata provider
 * requests, identity persistence (modes, multi-file rule, corrupt handling), the desired-state
 * model (peer upsert/remove ordering, policy drift) and its cache files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/desired.h"
#include "core/identity.h"
#include "core/token.h"
#include "crypto/crypto.h"
#include "shared/encoding.h"
#include "shared/fileio.h"

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/plexd-test-core-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	assert_int_equal(data_dir_prepare(tmpdir), 0);
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(rm_rf(tmpdir), 0);
	return 0;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

static void test_token_validation(void **state)
{
	static const struct {
		const char *t;
		bool ok;
	} cases[] = {
		{ "plx_enroll_0123", true }, { "a b c", true },    { "", false },
		{ "tab\there", false },      { "nl\n", false },    { "\x7f", false },
		{ "caf\xc3\xa9", false },
	};
	char big[514];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (token_is_valid(cases[i].t) != cases[i].ok)
			fail_msg("case %zu", i);
	memset(big, 'x', 512);
	big[512] = '\0';
	assert_true(token_is_valid(big));
	big[512] = 'x';
	big[513] = '\0';
	assert_false(token_is_valid(big));
}

static void test_token_file(void **state)
{
	char path[256], *tok = NULL;

	snprintf(path, sizeof path, "%s/token", tmpdir);
	assert_int_equal(token_from_file(path, &tok), -ENOENT);
	write_text(path, "  plx_enroll_abc \n\n", 0600);
	assert_int_equal(token_from_file(path, &tok), 0);
	assert_string_equal(tok, "plx_enroll_abc");
	free(tok);
	write_text(path, "\n  \n", 0600);
	assert_int_equal(token_from_file(path, &tok), -ENOENT);
	write_text(path, "bad\x01token", 0600);
	assert_int_equal(token_from_file(path, &tok), -EINVAL);
	unlink(path);

	setenv("PLEXD_TEST_TOKEN", " envtoken ", 1);
	assert_int_equal(token_from_env("PLEXD_TEST_TOKEN", &tok), 0);
	assert_string_equal(tok, "envtoken");
	free(tok);
	setenv("PLEXD_TEST_TOKEN", "", 1);
	assert_int_equal(token_from_env("PLEXD_TEST_TOKEN", &tok), -ENOENT);
	unsetenv("PLEXD_TEST_TOKEN");
	assert_int_equal(token_from_env("PLEXD_TEST_TOKEN", &tok), -ENOENT);
}

static void test_metadata_providers(void **state)
{
	struct metadata_request r;
	char *tok = NULL;

	assert_true(metadata_probe_request(METADATA_AWS, &r));
	assert_string_equal(r.method, "PUT");
	assert_string_equal(r.url, "http://169.254.169.254/latest/api/token");
	assert_string_equal(r.headers[0], "X-aws-ec2-metadata-token-ttl-seconds: 21600");
	assert_false(metadata_probe_request(METADATA_GENERIC, &r));

	metadata_token_request(METADATA_GCP, "/plexd/bootstrap-token", NULL, &r);
	assert_string_equal(r.url,
			    "http://metadata.google.internal/computeMetadata/v1/plexd/bootstrap-token");
	assert_string_equal(r.headers[0], "Metadata-Flavor: Google");
	metadata_token_request(METADATA_AWS, "/plexd/bootstrap-token", "sess", &r);
	assert_string_equal(r.url, "http://169.254.169.254/plexd/bootstrap-token");
	assert_string_equal(r.headers[0], "X-aws-ec2-metadata-token: sess");
	metadata_token_request(METADATA_DIGITALOCEAN, "/plexd/bootstrap-token", NULL, &r);
	assert_string_equal(r.url, "http://169.254.169.254/metadata/v1/plexd/bootstrap-token");

	const char *azure = "[{\"name\":\"other\",\"value\":\"x\"},{\"name\":\"plexd-bootstrap-token\","
			    "\"value\":\"tok-az\"}]";
	assert_int_equal(metadata_extract_token(METADATA_AZURE, "/plexd/bootstrap-token", azure,
						strlen(azure), &tok),
			 0);
	assert_string_equal(tok, "tok-az");
	free(tok);
	const char *os = "{\"meta\":{\"plexd/bootstrap-token\":\"tok-os\"}}";
	assert_int_equal(metadata_extract_token(METADATA_OPENSTACK, "/plexd/bootstrap-token", os,
						strlen(os), &tok),
			 0);
	assert_string_equal(tok, "tok-os");
	free(tok);
	assert_int_equal(metadata_extract_token(METADATA_AWS, "/x", "tok-aws\n", 8, &tok), 0);
	assert_string_equal(tok, "tok-aws");
	free(tok);
	char big[600];
	memset(big, 'a', sizeof big);
	assert_int_equal(metadata_extract_token(METADATA_AWS, "/x", big, sizeof big, &tok), -E2BIG);
	assert_int_equal(metadata_extract_token(METADATA_AWS, "/x", "", 0, &tok), -ENOENT);
}

static void make_identity(struct identity **ret)
{
	struct identity *id;

	assert_int_equal(identity_new(&id), 0);
	snprintf(id->node_id, sizeof id->node_id, "n_test1");
	inet_pton(AF_INET, "10.100.1.7", &id->mesh_ip);
	snprintf(id->mesh_ip_str, sizeof id->mesh_ip_str, "10.100.1.7");
	assert_int_equal(wg_key_generate(id->private_key), 0);
	assert_int_equal(wg_key_public(id->private_key, id->public_key), 0);
	assert_int_equal(key32_parse("yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=", id->nsk), 0);
	snprintf(id->node_secret_key, sizeof id->node_secret_key,
		 "yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=");
	id->node_token = strdup("pxn_0123456789abcdef0123456789abcdef");
	assert_int_equal(key32_parse("VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ=",
				     id->signing_keys.current),
			 0);
	id->registered_at = (struct timestamp){ .sec = 1705312200 };
	*ret = id;
}

static void assert_mode(const char *dir, const char *name, mode_t mode)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s: mode %o, want %o", name, st.st_mode & 07777, mode);
}

static void test_identity_roundtrip(void **state)
{
	struct identity *id, *back = NULL;
	static const char *const files[] = { "identity.json",	   "private_key",
					     "node_secret_key",	   "node_token",
					     "signing_public_key", "signing_keys.json" };

	make_identity(&id);
	assert_int_equal(identity_load(tmpdir, &back), -ENOENT);
	assert_int_equal(identity_save(tmpdir, id), 0);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		assert_mode(tmpdir, files[i], 0600);

	assert_int_equal(identity_load(tmpdir, &back), 0);
	assert_string_equal(back->node_id, "n_test1");
	assert_string_equal(back->mesh_ip_str, "10.100.1.7");
	assert_memory_equal(back->private_key, id->private_key, 32);
	assert_memory_equal(back->public_key, id->public_key, 32);
	assert_memory_equal(back->nsk, id->nsk, 32);
	assert_string_equal(back->node_token, id->node_token);
	assert_string_equal(identity_bearer(back), id->node_token);
	assert_memory_equal(back->signing_keys.current, id->signing_keys.current, 32);
	back = identity_free(back);

	/* Loose modes are tightened on read. */
	char path[512];
	snprintf(path, sizeof path, "%s/private_key", tmpdir);
	chmod(path, 0644);
	assert_int_equal(identity_load(tmpdir, &back), 0);
	assert_mode(tmpdir, "private_key", 0600);
	back = identity_free(back);

	/* No node_token: the NSK text is the bearer (older CPs). */
	snprintf(path, sizeof path, "%s/node_token", tmpdir);
	unlink(path);
	assert_int_equal(identity_load(tmpdir, &back), 0);
	assert_null(back->node_token);
	assert_string_equal(identity_bearer(back), "yhJviexB2qU1PoBZX7c0u/NgUDfE39/JIfaZeos2fZI=");
	back = identity_free(back);

	/* A corrupt companion file is an error naming it; a corrupt identity.json means
	 * "unregistered" and is moved aside. */
	snprintf(path, sizeof path, "%s/private_key", tmpdir);
	write_text(path, "not base64\n", 0600);
	assert_int_equal(identity_load(tmpdir, &back), -EBADMSG);
	snprintf(path, sizeof path, "%s/identity.json", tmpdir);
	write_text(path, "{\"node_id\": 5}", 0600);
	assert_int_equal(identity_load(tmpdir, &back), -ENOENT);
	snprintf(path, sizeof path, "%s/identity.json.corrupt", tmpdir);
	assert_int_equal(access(path, F_OK), 0);

	assert_int_equal(identity_remove(tmpdir), 0);
	snprintf(path, sizeof path, "%s/signing_keys.json", tmpdir);
	assert_int_equal(access(path, F_OK), -1);
	identity_free(id);
}

static void add_peer(struct desired *d, const char *id, const char *ip)
{
	char text[512];
	json_t *j;
	struct cp_peer p = {};
	struct json_error e = {};

	snprintf(text, sizeof text,
		 "{\"id\":\"%s\",\"public_key\":\"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=\","
		 "\"mesh_ip\":\"%s\",\"endpoint\":\"\",\"allowed_ips\":[\"%s/32\"],\"psk\":\"\"}",
		 id, ip, ip);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_int_equal(cp_peer_from_json(j, &p, &e), 0);
	assert_int_equal(desired_peer_upsert(d, &p), 1);
	assert_int_equal(desired_peer_upsert(d, &p), 0); /* unchanged: no-op */
	cp_peer_done(&p);
	json_decref(j);
}

static void test_desired_peers(void **state)
{
	struct desired d = {}, back = {};

	add_peer(&d, "n_c", "10.100.0.3");
	add_peer(&d, "n_a", "10.100.0.1");
	add_peer(&d, "n_b", "10.100.0.2");
	assert_int_equal(d.peers.n_peers, 3);
	assert_string_equal(d.peers.peers[0].id, "n_a");
	assert_string_equal(d.peers.peers[1].id, "n_b");
	assert_string_equal(d.peers.peers[2].id, "n_c");
	assert_non_null(desired_peer_find(&d, "n_b"));
	assert_null(desired_peer_find(&d, "n_z"));
	assert_int_equal(desired_peer_remove(&d, "n_b"), 1);
	assert_int_equal(desired_peer_remove(&d, "n_b"), 0);
	assert_int_equal(d.peers.n_peers, 2);

	assert_int_equal(desired_save_peers(&d, tmpdir), 0);
	assert_mode(tmpdir, "cache/peers.json", 0600);
	assert_int_equal(desired_load_cache(&back, tmpdir, "n_a"), 0);
	/* the node itself is dropped from a peer list */
	assert_int_equal(back.peers.n_peers, 1);
	assert_string_equal(back.peers.peers[0].id, "n_c");
	desired_done(&back);

	/* corrupt cache: moved aside, treated as absent */
	char path[512];
	snprintf(path, sizeof path, "%s/cache/peers.json", tmpdir);
	write_text(path, "[{\"id\":", 0600);
	assert_int_equal(desired_load_cache(&back, tmpdir, NULL), 0);
	assert_int_equal(back.peers.n_peers, 0);
	snprintf(path, sizeof path, "%s/cache/peers.json.corrupt", tmpdir);
	assert_int_equal(access(path, F_OK), 0);
	desired_done(&back);
	desired_done(&d);
}

static void set_policies(struct desired *d, const char *json, struct drift_list *drift)
{
	struct cp_policy_list l = {};
	struct json_error e = {};
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	assert_int_equal(cp_policy_list_from_json(j, "policies", &l, &e), 0);
	assert_int_equal(desired_set_policies(d, &l, drift), 0);
	json_decref(j);
}

static void test_policy_drift(void **state)
{
	struct desired d = {};
	struct drift_list drift = {};

	set_policies(&d,
		     "[{\"id\":\"a\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"allow\"}]},"
		     "{\"id\":\"b\",\"rules\":[]}]",
		     &drift);
	assert_int_equal(drift.n, 2);
	assert_string_equal(drift.types[0], "policy_added");
	assert_string_equal(drift.details[0], "policy a");
	drift_done(&drift);

	/* same content, reformatted: no drift */
	set_policies(&d,
		     "[ {\"rules\":[{\"action\":\"allow\",\"dst\":\"*\",\"src\":\"*\"}], \"id\":\"a\"},"
		     "{\"id\":\"b\",\"rules\":[]}]",
		     &drift);
	assert_int_equal(drift.n, 0);

	/* content change of a, b removed, c added */
	set_policies(&d,
		     "[{\"id\":\"a\",\"rules\":[{\"src\":\"*\",\"dst\":\"*\",\"action\":\"deny\"}]},"
		     "{\"id\":\"c\",\"rules\":[]}]",
		     &drift);
	assert_int_equal(drift.n, 3);
	assert_string_equal(drift.types[0], "policy_updated");
	assert_string_equal(drift.types[1], "policy_added");
	assert_string_equal(drift.details[1], "policy c");
	assert_string_equal(drift.types[2], "policy_removed");
	assert_string_equal(drift.details[2], "policy b");
	drift_done(&drift);
	desired_done(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_validation),
		cmocka_unit_test_setup_teardown(test_token_file, setup, teardown),
		cmocka_unit_test(test_metadata_providers),
		cmocka_unit_test_setup_teardown(test_identity_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_desired_peers, setup, teardown),
		cmocka_unit_test(test_policy_drift),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
