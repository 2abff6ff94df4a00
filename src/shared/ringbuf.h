/* A bounded FIFO of pointers. Pushing into a full ring drops (and frees) the oldest element,
 * the policy of every observability buffer (control-plane-api.md §2.8). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ringbuf;

int ringbuf_new(size_t capacity, void (*free_fn)(void *), struct ringbuf **ret);
struct ringbuf *ringbuf_free(struct ringbuf *r);
/* Always succeeds; returns 1 when the oldest element was dropped to make room, else 0. */
int ringbuf_push(struct ringbuf *r, void *item);
/* Removes and returns the oldest element, NULL when empty. */
void *ringbuf_pop(struct ringbuf *r);
/* i-th oldest element without removing it, NULL when out of range. */
void *ringbuf_peek(const struct ringbuf *r, size_t i);
size_t ringbuf_len(const struct ringbuf *r);
size_t ringbuf_capacity(const struct ringbuf *r);
uint64_t ringbuf_dropped(const struct ringbuf *r);
