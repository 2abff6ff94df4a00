/* Bounded FIFO of pointers that drops the oldest element when full (observability buffers). */
#include <stdlib.h>

#include "shared/macro.h"
#include "shared/ringbuf.h"

struct ringbuf {
	void **items;
	size_t capacity;
	size_t head; /* index of the oldest element */
	size_t len;
	uint64_t dropped;
	void (*free_fn)(void *);
};

int ringbuf_new(size_t capacity, void (*free_fn)(void *), struct ringbuf **ret)
{
	struct ringbuf *r;

	if (capacity == 0)
		return -EINVAL;
	r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->items = calloc(capacity, sizeof *r->items);
	if (!r->items) {
		free(r);
		return -ENOMEM;
	}
	r->capacity = capacity;
	r->free_fn = free_fn;
	*ret = r;
	return 0;
}

struct ringbuf *ringbuf_free(struct ringbuf *r)
{
	if (!r)
		return NULL;
	if (r->free_fn)
		for (size_t i = 0; i < r->len; i++)
			r->free_fn(r->items[(r->head + i) % r->capacity]);
	free(r->items);
	free(r);
	return NULL;
}

int ringbuf_push(struct ringbuf *r, void *item)
{
	if (r->len == r->capacity) {
		void *old = r->items[r->head];
		r->items[r->head] = item;
		r->head = (r->head + 1) % r->capacity;
		r->dropped++;
		if (r->free_fn)
			r->free_fn(old);
		return 1;
	}
	r->items[(r->head + r->len) % r->capacity] = item;
	r->len++;
	return 0;
}

void *ringbuf_pop(struct ringbuf *r)
{
	void *item;

	if (r->len == 0)
		return NULL;
	item = r->items[r->head];
	r->items[r->head] = NULL;
	r->head = (r->head + 1) % r->capacity;
	r->len--;
	return item;
}

void *ringbuf_peek(const struct ringbuf *r, size_t i)
{
	if (i >= r->len)
		return NULL;
	return r->items[(r->head + i) % r->capacity];
}

size_t ringbuf_len(const struct ringbuf *r)
{
	return r->len;
}

size_t ringbuf_capacity(const struct ringbuf *r)
{
	return r->capacity;
}

uint64_t ringbuf_dropped(const struct ringbuf *r)
{
	return r->dropped;
}
