/* Bootstrap token from a cloud metadata service (agent.md §4.2, source 4): performs the
 * requests token.h describes — provider probing, the AWS IMDSv2 session — on the event loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "config/config.h"
#include "core/token.h"
#include "shared/time-util.h"

struct metadata_fetch;

/* r == 0: token (malloc'd, ownership passes: wipe it with erase_and_free) came from provider
 * used. r < 0: the source is unavailable — -ENOENT when no provider answered its probe or the
 * one used had no (valid) token, -ENOMEM and the like for local failures; token is NULL and
 * used is the provider that was used (_METADATA_PROVIDER_MAX when none answered). Runs from
 * the loop, never inside metadata_fetch_start(); the callback may free the fetch. */
typedef void (*metadata_fetch_done_fn)(int r, char *token, enum metadata_provider used,
				       void *userdata);

struct metadata_fetch_params {
	/* auto_detect: probe aws → gcp → azure → openstack → digitalocean, first answer is used
	 * exclusively, else generic. Otherwise only provider is asked (no probe, except the
	 * aws session PUT whose failure falls back to IMDSv1). */
	bool auto_detect;
	enum metadata_provider provider;
	const char *path;    /* token.metadata_path, starts with '/' */
	usec_t timeout;      /* per HTTP request (token.metadata_timeout); 0 = 2 s */
	/* Tests only: "http://127.0.0.1:<port>" replacing the scheme and host of every provider
	 * URL. NULL in production. */
	const char *base_url_override;
	metadata_fetch_done_fn done;
	void *userdata;
};

int metadata_fetch_start(sd_event *event, const struct metadata_fetch_params *p,
			 struct metadata_fetch **ret);
/* Cancels a fetch in flight (no callback). NULL-safe. Not from inside an HTTP callback of
 * the fetch itself (there are none outside this module). */
struct metadata_fetch *metadata_fetch_free(struct metadata_fetch *f);

/* Pure helpers, exposed for tests. */
/* "scheme://host[:port]/p?q" → *ret_base (malloc'd "scheme://host[:port]") and *ret_path
 * (points into url, "/p?q"; "/" when the URL has no path). -EINVAL when not http(s). */
int metadata_url_split(const char *url, char **ret_base, const char **ret_path);
/* token.metadata_provider → auto_detect + provider. */
void metadata_provider_from_config(enum config_metadata_provider c, bool *ret_auto,
				   enum metadata_provider *ret);
