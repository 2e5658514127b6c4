/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What mediator.c (the PCI function, the ring, KVM on the mediator's
 * behalf) and medproc.c (the mediator's process and its supervision)
 * share.  Nobody else includes this.
 */
#ifndef CUPULE_MEDIATOR_INT_H
#define CUPULE_MEDIATOR_INT_H

#include <stdint.h>

#include "mediator.h"

#define MED_CTL_FD	3	/* the mediator finds its channel here */
#define MED_BACKEND_FD	4	/* and its backend (image, tap) here */

/*
 * Serves one control message from the mediator.  Returns 1 when it was
 * READY, 0 for any other message, -errno when the channel broke or the
 * process spoke out of turn.
 */
int med_serve_one(struct mediator *m);

/* Raises MSI-X vector v through its irqfd (a virtio_fire_fn). */
void med_fire(void *opaque, uint16_t v);

/* medproc.c: starts the process and takes it to READY, synchronously. */
int med_start_first(struct mediator *m);

/* medproc.c: from now on the main loop supervises the process. */
int med_supervise(struct mediator *m);

/* The monotonic clock in milliseconds. */
uint64_t med_now_ms(void);

#endif
