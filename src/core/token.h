/* Bootstrap token sources of agent.md §4.2: file, environment, interactive prompt, and the
 * cloud metadata provider table (requests are described here, performed by the caller). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum token_source {
	TOKEN_SOURCE_FILE,
	TOKEN_SOURCE_ENV,
	TOKEN_SOURCE_PROMPT,
	TOKEN_SOURCE_METADATA,
};
const char *token_source_to_string(enum token_source s);

/* Non-empty, ≤ 512 bytes, every byte 0x20–0x7E (after trimming). */
bool token_is_valid(const char *t);
/* Trims surrounding whitespace in place. */
char *token_trim(char *s);

/* -ENOENT when the file does not exist (not an error), -EINVAL when its content is not a
 * valid token, other negative errno when unreadable. *ret is wiped on free by the caller. */
int token_from_file(const char *path, char **ret);
/* -ENOENT when unset or empty; -EINVAL when invalid. */
int token_from_env(const char *name, char **ret);
/* Only when stdin is a TTY (-ENOTTY otherwise): "Bootstrap token: " on stderr, no echo. */
int token_from_prompt(char **ret);

/* One HTTP request of the metadata protocol. */
struct metadata_request {
	const char *method; /* "GET" or "PUT" */
	char url[512];
	const char *headers[2]; /* "Name: value", NULL-terminated */
};

enum metadata_provider {
	METADATA_AWS,
	METADATA_GCP,
	METADATA_AZURE,
	METADATA_OPENSTACK,
	METADATA_DIGITALOCEAN,
	METADATA_GENERIC,
	_METADATA_PROVIDER_MAX,
};
const char *metadata_provider_to_string(enum metadata_provider p);

/* Probe request (false when the provider has none: generic). */
bool metadata_probe_request(enum metadata_provider p, struct metadata_request *ret);
/* Token request for metadata_path; aws_session may be NULL (IMDSv1). */
void metadata_token_request(enum metadata_provider p, const char *metadata_path,
			    const char *aws_session, struct metadata_request *ret);
/* Extracts the token from a 200 response body (≤ 513 bytes, else -E2BIG): the body itself, or
 * the Azure tag / OpenStack meta entry named after metadata_path. -ENOENT when empty/absent. */
int metadata_extract_token(enum metadata_provider p, const char *metadata_path, const char *body,
			   size_t len, char **ret);
