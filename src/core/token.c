/* Bootstrap token sources. Token values are never logged; only their source is named. */
#define LOG_COMPONENT "token"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <termios.h>

#include "core/token.h"
#include "shared/fileio.h"
#include "shared/json-util.h"
#include "shared/log.h"

#define TOKEN_MAX 512
#define METADATA_BODY_MAX 513
#define METADATA_DOC_MAX 65536

static const char *const token_source_names[] = {
	[TOKEN_SOURCE_FILE] = "file",
	[TOKEN_SOURCE_ENV] = "environment",
	[TOKEN_SOURCE_PROMPT] = "prompt",
	[TOKEN_SOURCE_METADATA] = "metadata",
};

const char *token_source_to_string(enum token_source s)
{
	return (size_t)s < ELEMENTSOF(token_source_names) ? token_source_names[s] : NULL;
}

bool token_is_valid(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	if (n == 0 || n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] > 0x7e)
			return false;
	return true;
}

char *token_trim(char *s)
{
	size_t n = strlen(s), start = 0;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (start < n && isspace((unsigned char)s[start]))
		start++;
	memmove(s, s + start, n - start + 1);
	return s;
}

static int token_take(char *buf, char **ret)
{
	token_trim(buf);
	if (!*buf) {
		erase_and_free(buf);
		return -ENOENT;
	}
	if (!token_is_valid(buf)) {
		erase_and_free(buf);
		return -EINVAL;
	}
	*ret = buf;
	return 0;
}

int token_from_file(const char *path, char **ret)
{
	char *buf = NULL;
	size_t len;
	int r;

	/* A token file may carry a trailing newline and surrounding whitespace: allow some slack
	 * beyond TOKEN_MAX before calling it oversized. */
	r = read_file_full(path, TOKEN_MAX + 64, &buf, &len);
	if (r == -EFBIG)
		return -EINVAL;
	if (r < 0)
		return r;
	if (memchr(buf, '\0', len)) {
		erase_and_free(buf);
		return -EINVAL;
	}
	return token_take(buf, ret);
}

int token_from_env(const char *name, char **ret)
{
	const char *v = getenv(name);
	char *buf;

	if (isempty(v))
		return -ENOENT;
	buf = strdup(v);
	if (!buf)
		return -ENOMEM;
	return token_take(buf, ret);
}

int token_from_prompt(char **ret)
{
	struct termios old, noecho;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool restore;

	if (!isatty(STDIN_FILENO))
		return -ENOTTY;
	fputs("Bootstrap token: ", stderr);
	fflush(stderr);
	restore = tcgetattr(STDIN_FILENO, &old) == 0;
	if (restore) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	n = getline(&line, &cap, stdin);
	if (restore)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	if (n < 0) {
		free(line);
		return -ENOENT;
	}
	return token_take(line, ret);
}

static const char *const provider_names[] = {
	[METADATA_AWS] = "aws",		[METADATA_GCP] = "gcp",
	[METADATA_AZURE] = "azure",	[METADATA_OPENSTACK] = "openstack",
	[METADATA_DIGITALOCEAN] = "digitalocean", [METADATA_GENERIC] = "generic",
};

const char *metadata_provider_to_string(enum metadata_provider p)
{
	return (size_t)p < ELEMENTSOF(provider_names) ? provider_names[p] : NULL;
}

#define IMDS "http://169.254.169.254"
#define GCE "http://metadata.google.internal/computeMetadata/v1"

bool metadata_probe_request(enum metadata_provider p, struct metadata_request *ret)
{
	static const struct {
		const char *method, *url, *header;
	} probes[] = {
		[METADATA_AWS] = { "PUT", IMDS "/latest/api/token",
				   "X-aws-ec2-metadata-token-ttl-seconds: 21600" },
		[METADATA_GCP] = { "GET", GCE "/", "Metadata-Flavor: Google" },
		[METADATA_AZURE] = { "GET", IMDS "/metadata/instance?api-version=2021-02-01",
				     "Metadata: true" },
		[METADATA_OPENSTACK] = { "GET", IMDS "/openstack/latest/meta_data.json", NULL },
		[METADATA_DIGITALOCEAN] = { "GET", IMDS "/metadata/v1/id", NULL },
		[METADATA_GENERIC] = { NULL, NULL, NULL },
	};

	if ((size_t)p >= ELEMENTSOF(probes) || !probes[p].method)
		return false;
	*ret = (struct metadata_request){ .method = probes[p].method,
					  .headers = { probes[p].header, NULL } };
	snprintf(ret->url, sizeof ret->url, "%s", probes[p].url);
	return true;
}

void metadata_token_request(enum metadata_provider p, const char *path, const char *aws_session,
			    struct metadata_request *ret)
{
	static __thread char aws_header[256];

	*ret = (struct metadata_request){ .method = "GET" };
	switch (p) {
	case METADATA_AWS:
		snprintf(ret->url, sizeof ret->url, IMDS "%s", path);
		if (aws_session) {
			snprintf(aws_header, sizeof aws_header, "X-aws-ec2-metadata-token: %s",
				 aws_session);
			ret->headers[0] = aws_header;
		}
		break;
	case METADATA_GCP:
		snprintf(ret->url, sizeof ret->url, GCE "%s", path);
		ret->headers[0] = "Metadata-Flavor: Google";
		break;
	case METADATA_AZURE:
		snprintf(ret->url, sizeof ret->url,
			 IMDS "/metadata/instance/compute/tagsList?api-version=2021-02-01");
		ret->headers[0] = "Metadata: true";
		break;
	case METADATA_OPENSTACK:
		snprintf(ret->url, sizeof ret->url, IMDS "/openstack/latest/meta_data.json");
		break;
	case METADATA_DIGITALOCEAN:
		snprintf(ret->url, sizeof ret->url, IMDS "/metadata/v1%s", path);
		break;
	case METADATA_GENERIC:
	case _METADATA_PROVIDER_MAX:
		snprintf(ret->url, sizeof ret->url, IMDS "%s", path);
		break;
	}
}

/* Azure: [{"name": "...", "value": "..."}]; the tag name is <name> with '/' replaced by '-'. */
static int azure_tag(json_t *j, const char *name, const char **ret)
{
	size_t i;
	json_t *e;

	if (!json_is_array(j))
		return -EINVAL;
	json_array_foreach(j, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		const char *v = json_string_value(json_object_get(e, "value"));
		if (n && v && streq(n, name)) {
			*ret = v;
			return 0;
		}
	}
	return -ENOENT;
}

int metadata_extract_token(enum metadata_provider p, const char *path, const char *body, size_t len,
			   char **ret)
{
	_cleanup_json_ json_t *j = NULL;
	struct json_error je = {};
	char name[256];
	const char *v = NULL;
	char *buf;
	int r;

	/* The 513-byte bound of §4.2 is for a bare token body; Azure and OpenStack answer with a
	 * whole JSON document that legitimately exceeds it, so those get a document-sized bound. */
	if (p != METADATA_AZURE && p != METADATA_OPENSTACK) {
		if (len > METADATA_BODY_MAX)
			return -E2BIG;
		buf = strndup(body, len);
		if (!buf)
			return -ENOMEM;
		return token_take(buf, ret);
	}

	if (len > METADATA_DOC_MAX)
		return -E2BIG;
	snprintf(name, sizeof name, "%s", path[0] == '/' ? path + 1 : path);
	r = json_parse_bounded(body, len, &j, &je);
	if (r < 0)
		return -EINVAL;
	if (p == METADATA_AZURE) {
		for (char *c = name; *c; c++)
			if (*c == '/')
				*c = '-';
		r = azure_tag(j, name, &v);
		if (r < 0)
			return r;
	} else {
		v = json_string_value(json_object_get(json_object_get(j, "meta"), name));
		if (!v)
			return -ENOENT;
	}
	buf = strdup(v);
	if (!buf)
		return -ENOMEM;
	return token_take(buf, ret);
}
