/* Pure policy compiler (agent.md §5.5): policies + resolved nodes in, a typed ruleset model and
 * its canonical nftables state (table `inet plexd`) out. No I/O, no logging above debug.
 *
 * Merge rule (why per-packet cost does not grow with the rule count): the ordered entries of a
 * chain are cut into maximal consecutive runs ("groups") in which every entry has the same
 * shape (which of address / protocol / port it matches) and no two kept keys overlap. Inside
 * such a group at most one key can match a packet, so evaluating the group as one verdict-map
 * lookup gives the same result as evaluating its entries one by one in order. An entry whose
 * key is covered by an earlier key of the same group can never be the first match and is
 * marked shadowed (it is not put into the map). Groups are evaluated in order, so first-match
 * semantics across groups is kept. A group with one kept entry is emitted as a plain rule with
 * its own counter; larger groups become `<key> vmap @in_N` with per-element counters. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/rule.h"
#include "shared/macro.h"

#define POLICY_IFNAME_MAX 16

enum policy_dir {
	POLICY_DIR_IN,  /* mesh-in: key address is the packet's source */
	POLICY_DIR_OUT, /* mesh-out: key address is the packet's destination */
	_POLICY_DIR_MAX,
};
const char *policy_dir_to_string(enum policy_dir d);

enum policy_shape {
	POLICY_SHAPE_ADDR = 1U << 0,
	POLICY_SHAPE_PROTO = 1U << 1,
	POLICY_SHAPE_PORT = 1U << 2, /* only together with POLICY_SHAPE_PROTO */
};

/* One compiled match. Absent components match anything. */
struct policy_key {
	bool has_addr;
	struct ipv4_prefix addr; /* host bits cleared */
	uint8_t proto;           /* 0 = any, else IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port;           /* 0 = any */
};
unsigned policy_key_shape(const struct policy_key *k);
bool policy_key_matches(const struct policy_key *k, struct in_addr addr, uint8_t proto,
			uint16_t dport);

/* One entry = one valid rule of one policy in one direction (a rule naming the local node on
 * both sides yields two entries). */
struct policy_entry {
	size_t policy, rule; /* indices into the policy list given to the compiler */
	struct policy_key key;
	bool allow;
	size_t group;  /* index into the chain's groups */
	bool shadowed; /* covered by an earlier key of its group: can never match */
};

struct policy_group {
	size_t first, n; /* entries [first, first + n) of the chain */
	unsigned shape;
	size_t n_kept;  /* entries not shadowed */
	bool interval;  /* some kept key has a prefix shorter than /32 */
	char map[16];   /* "in_3" when n_kept > 1, else "" (plain rule) */
	size_t chain_rule; /* index of the group's nft rule in the chain's rule list */
};

struct policy_chain {
	struct policy_entry *entries;
	size_t n_entries;
	struct policy_group *groups;
	size_t n_groups;
};

struct policy_compile_input {
	const struct cp_policy *policies;
	size_t n_policies;
	const struct policy_nodes *nodes;
	const bool *visible; /* per nodes->peers[i]; NULL = none visible */
	const char *ifname;
	bool default_allow;
	bool log_denied;
	bool bridge; /* forward across the mesh interface: accept (bridge) or drop (node) */
	const uint16_t *access_tcp;
	size_t n_access_tcp;
};

struct policy_ruleset {
	char ifname[POLICY_IFNAME_MAX];
	bool default_allow, log_denied, bridge;
	struct in_addr local_ip;
	struct in_addr *visible; /* sorted */
	size_t n_visible;
	uint16_t *access_tcp; /* sorted, unique */
	size_t n_access_tcp;
	struct policy_chain chains[_POLICY_DIR_MAX];
	/* Copies of what the status output needs, indexed like the input. */
	char **policy_ids;
	size_t n_policies;
	struct policy_skipped_rule *skipped;
	size_t n_skipped;
};

struct policy_ruleset *policy_ruleset_free(struct policy_ruleset *rs);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct policy_ruleset *, policy_ruleset_free);

/* Compiles. -EINVAL for a bad interface name or missing local node, -ENOMEM. Invalid rules are
 * not errors: they land in rs->skipped with their reason. */
int policy_compile(const struct policy_compile_input *in, struct policy_ruleset **ret);

/* Decision of the compiled model for one packet in one direction, evaluated group by group the
 * way the kernel does (one lookup per group). Returns the matching entry's index in the chain,
 * or -1 when the packet falls through to the default verdict. Used by tests and the bench. */
ssize_t policy_ruleset_decide(const struct policy_ruleset *rs, enum policy_dir dir,
			      struct in_addr addr, uint8_t proto, uint16_t dport);

/* ---- canonical nftables state: the form both the desired ruleset and the read-back table are
 * reduced to, so that "installed == desired" is a plain comparison. Rules are kept as the text
 * `nft list` prints (counter values stripped), set elements as sorted element texts. */
struct nft_set_state {
	char *name;
	char *decl; /* "type ipv4_addr . inet_proto : verdict; flags interval; counter" */
	bool is_map;
	char **elems; /* sorted; "10.100.0.2 . tcp . 22 : accept" */
	uint64_t *elem_packets; /* read-back only (NULL in desired state) */
	size_t n_elems;
	/* Binary desired state only (policy_ruleset_to_desired): instead of elems, the elements as
	 * sorted nft_elem_code values carrying the fields of `shape`. Text is rendered only where
	 * it is needed: commands for elements that differ, or comparison with a read-back. */
	uint64_t *codes;
	unsigned shape;
};
struct nft_chain_state {
	char *name;
	char *decl;   /* "type filter hook input priority 0; policy accept" or "" */
	char *header; /* desired only: what `nft -f` gets ("... priority filter; ...") */
	char **rules;
	uint64_t *rule_handles, *rule_packets; /* read-back only */
	size_t n_rules;
};
struct nft_table_state {
	struct nft_set_state *sets;
	size_t n_sets;
	struct nft_chain_state *chains;
	size_t n_chains;
	size_t n_foreign; /* objects of other kinds (flowtables, named counters, ...) */
};
struct nft_table_state *nft_table_state_free(struct nft_table_state *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_table_state *, nft_table_state_free);

/* Binary set element: equal codes in sets of one declaration <=> equal element texts, and
 * (unlike texts) they sort and compare as integers. Fields a set's shape lacks are zero. */
static inline uint64_t nft_elem_code(uint32_t addr_host, unsigned len, uint8_t proto,
				     uint16_t port, bool accept)
{
	return (uint64_t)addr_host << 32 | (uint64_t)accept << 30 | (uint64_t)(len & 0x3f) << 24 |
	       (uint64_t)proto << 16 | port;
}
#define NFT_ELEM_TEXT_MAX 64
/* Canonical text of a code ("10.100.0.2 . tcp . 22 : accept", "10.100.1.0/24", "22"); key_only
 * leaves out a map element's " : verdict" (what a delete names). Returns the length. */
size_t nft_elem_code_text(uint64_t code, unsigned shape, bool is_map, bool key_only,
			  char out[static NFT_ELEM_TEXT_MAX]);

/* The desired table of a ruleset, set elements as text (sorted by strcmp). */
int policy_ruleset_to_state(const struct policy_ruleset *rs, struct nft_table_state **ret);
/* The same table with set elements in binary form (nft_set_state.codes): what the firewall
 * builds on every apply, keeps as its last applied state and diffs without formatting. Every
 * function taking a table state accepts both forms. */
int policy_ruleset_to_desired(const struct policy_ruleset *rs, struct nft_table_state **ret);
/* `nft -f` text that creates table inet plexd with this content (no preceding delete). */
int nft_table_state_render(const struct nft_table_state *t, char **ret);
/* Convenience: compile output as full table text. */
int policy_ruleset_render(const struct policy_ruleset *rs, char **ret);

const struct nft_set_state *nft_table_state_find_set(const struct nft_table_state *t,
						     const char *name);
const struct nft_chain_state *nft_table_state_find_chain(const struct nft_table_state *t,
							 const char *name);

/* Canonical element text of a ruleset entry (what sits in the group's map). */
int policy_entry_element(const struct policy_entry *e, unsigned shape, char *out, size_t size);
/* Canonical rule text of a single-entry group. */
int policy_entry_rule(const struct policy_entry *e, enum policy_dir dir, char *out, size_t size);
