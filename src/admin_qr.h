/* admin_qr: POST /api/qrcodes off the event loop. Creating a code calls the
 * WeChat API (up to a few times [wechat] api_timeout), so the admin listener
 * queues the request to a worker thread (a dbwork.h worker: its own store
 * connection, plus a wxapi client made on the first create); the answer
 * comes back to the loop thread through the worker's pipe. At most
 * ADMIN_QR_QUEUE_MAX creates wait at once. */
#ifndef WXS_ADMIN_QR_H
#define WXS_ADMIN_QR_H
#include <stdint.h>
#include <event2/event.h>
#include <jansson.h>
#include "cfg.h"
#include "util.h"

struct admin_qr;

/* Called on the loop thread exactly once per submitted job: status is the
 * HTTP status to answer, body the JSON to send (the callee json_decref()s
 * it). */
typedef void (*admin_qr_done_fn)(void *arg, int status, json_t *body);

/* base and cfg are borrowed. The worker opens [store] path itself, lazily,
 * on the first job. Caller frees with admin_qr_free(). */
int admin_qr_new(struct admin_qr **out, struct event_base *base, const struct cfg *cfg, char *err,
                 size_t errlen) WXS_MUSTCHECK;

/* Queue a create. request (the parsed JSON body) is stolen. Returns the job
 * id (> 0), or 0 when the queue is full or stopping (answer 503 then; the
 * request was released and done is not called). */
uint64_t admin_qr_submit(struct admin_qr *q, json_t *request, admin_qr_done_fn done, void *arg);

/* Jobs queued or in flight. */
size_t admin_qr_pending(struct admin_qr *q);

/* Stop: waits for the job in flight (bounded by the API timeouts), answers
 * every job not yet delivered with 503, joins the thread. Call before the
 * evhttp that owns the requests is freed. */
void admin_qr_free(struct admin_qr *q);
#endif
