/* The embedded stack's sample downstream: a payments service on loopback
 * that honours Idempotency-Key the way real payment APIs do (a key seen
 * before gets the first answer again, and no second payment), and counts
 * what it received, so that the demo can show an action carried out once.
 *   POST /v1/invoices/{id}/pay  ->  201 {"invoice", "paid", "receipt"} */
#ifndef LF_CLI_PAYMENTS_H
#define LF_CLI_PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

typedef struct lf_payments lf_payments_t;

lf_payments_t *lf_payments_start(char *errstr, size_t errstr_size);
void lf_payments_stop(lf_payments_t *p);
/* "127.0.0.1:PORT" */
const char *lf_payments_addr(const lf_payments_t *p);
/* Requests received, and payments made (distinct keys). */
uint64_t lf_payments_requests(lf_payments_t *p);
uint64_t lf_payments_made(lf_payments_t *p);
/* Requests received for invoice (e.g. "INV-42"), under any key. */
uint64_t lf_payments_calls(lf_payments_t *p, const char *invoice);
/* Every answer from now on waits ms first: a slow downstream. */
void lf_payments_set_delay(lf_payments_t *p, int ms);

#endif
