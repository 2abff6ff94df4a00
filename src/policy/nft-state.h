/* Read-back and diff of table inet plexd: parses `nft -j list table inet plexd` into the
 * canonical state of compile.h and plans the smallest transaction that turns the installed
 * table into the desired one. Pure: no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policy/compile.h"

/* Parses the JSON listing of one table (objects of other tables are ignored, so a listing of
 * more than the table is harmless). Counter values and handles are kept for status output. */
int nft_table_state_from_json(const char *json, struct nft_table_state **ret);

/* Same content: sets (declaration + elements) and chains (declaration + rules in order), no
 * foreign objects. Handles and counter values are ignored. */
bool nft_table_state_equal(const struct nft_table_state *a, const struct nft_table_state *b);

enum nft_plan_kind {
	NFT_PLAN_NONE,    /* identical: nothing is sent */
	NFT_PLAN_CREATE,  /* table missing: created */
	NFT_PLAN_REPLACE, /* sets/chains added, removed or redeclared, or foreign objects: the whole
			   * table is replaced in one transaction */
	NFT_PLAN_PATCH,   /* same sets and chains: element changes and chain rewrites only */
};
const char *nft_plan_kind_to_string(enum nft_plan_kind k);

struct nft_plan {
	enum nft_plan_kind kind;
	char *commands; /* one nft transaction (NULL for NFT_PLAN_NONE) */
	size_t elements_added, elements_deleted, chains_rewritten;
};
void nft_plan_done(struct nft_plan *p);

/* installed NULL = table missing. */
int nft_table_state_plan(const struct nft_table_state *installed,
			 const struct nft_table_state *desired, struct nft_plan *ret);
/* The commands of a full atomic replace, whatever is installed. */
int nft_table_state_replace_commands(const struct nft_table_state *desired, char **ret);
