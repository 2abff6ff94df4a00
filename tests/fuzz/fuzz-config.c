/* libFuzzer harness for src/config: YAML text (optionally followed by "\n%%ENV\n" and
 * KEY=value lines used as the environment) through config_load_buffer(). Checks that a result
 * and diagnostics are consistent and that printing and the reload diff work on every accepted
 * configuration. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define MAX_ENV 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n%%ENV\n";
	char *buf, *envpart = NULL, *env[MAX_ENV + 1] = {};
	size_t ylen = size, n_env = 0;
	struct config_diag d = {};
	struct config *c = NULL;
	struct config_sources src = { .environ = env };
	int r;

	if (size > 256 * 1024)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	envpart = memmem(buf, size, sep, sizeof sep - 1);
	if (envpart) {
		ylen = (size_t)(envpart - buf);
		*envpart = 0;
		for (char *line = envpart + sizeof sep - 1; line && *line && n_env < MAX_ENV;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			if (strchr(line, '='))
				env[n_env++] = line;
			line = nl ? nl + 1 : NULL;
		}
	}

	r = config_load_buffer(buf, ylen, "/fuzz/config.yaml", &src, &c, &d);
	if (r == 0) {
		char **keys = NULL;
		FILE *devnull = fopen("/dev/null", "w");

		CHECK(c);
		CHECK(d.n == 0);
		CHECK(config_reload_diff(c, c, &keys) == 0);
		CHECK(keys && !keys[0]);
		free(keys);
		CHECK(!config_hooks_changed(c, c));
		if (devnull) {
			CHECK(config_print(c, devnull, false) == 0);
			CHECK(config_print(c, devnull, true) == 0);
			fclose(devnull);
		}
		CHECK(config_key_source(c, "mesh.listen_port"));
		config_free(c);
	} else {
		CHECK(!c);
		CHECK(r == -ENOMEM || d.n >= 1);
		for (size_t i = 0; i < d.n; i++)
			CHECK(strncmp(d.lines[i], "plexd: config: ", 15) == 0 && !strchr(d.lines[i], '\n'));
	}
	config_diag_done(&d);
	free(buf);
	return 0;
}
