/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef CUPULE_UIDS_H
#define CUPULE_UIDS_H

#include <stdint.h>

/*
 * The uids that mediators and switches run as (one each, from the
 * scenario's uid_base) are this cupule's alone for as long as it runs:
 * two cupules handing out the same uids would let their mediators share
 * RLIMIT_NPROC and io_uring's memlock, and, where Landlock cannot scope
 * signals, signal each other.
 *
 * uid_claim() refuses a uid that a running process already has (another
 * cupule's mediator, or anything else), then takes an exclusive flock on
 * UIDS_DIR/<uid> held until this process ends, however it ends, so two
 * cupules starting together cannot both pass the first check.  A uid
 * this process claimed already is claimed again at no cost (a scenario
 * may give two devices one uid; cupulectl audit says so).  Returns 0, or
 * -EBUSY with the reason logged, naming who (e.g. "ivi/disk").  Where
 * UIDS_DIR cannot be made, only the first check runs (logged once).
 */
int uid_claim(uint32_t uid, const char *who);

#define UIDS_DIR	"/run/cupule/uid"

#endif
