/* loop_wake: how a worker thread tells the event loop "something is done".
 * A non-blocking pipe whose read end is a persistent event of the loop: any
 * thread calls loop_wake_signal(); the loop drains the pipe and runs fn
 * once for however many signals arrived (the work itself is handed over
 * under the caller's own lock). */
#ifndef WXS_LOOP_WAKE_H
#define WXS_LOOP_WAKE_H
#include <stddef.h>
#include <event2/event.h>
#include "util.h"

struct loop_wake {
    int fd[2];
    struct event *ev;
    void (*fn)(void *arg);
    void *arg;
};

/* Set w up on base; priority < 0 keeps the base's default. who names the
 * owner in err ("group commit: pipe: ..."). On failure w is left for
 * loop_wake_free(). Call loop_wake_clear() before anything can fail. */
void loop_wake_clear(struct loop_wake *w);
int loop_wake_init(struct loop_wake *w, struct event_base *base, int priority,
                   void (*fn)(void *arg), void *arg, const char *who, char *err,
                   size_t errlen) WXS_MUSTCHECK;
/* Any thread. A full pipe already wakes the loop, so it cannot block. */
void loop_wake_signal(struct loop_wake *w);
void loop_wake_free(struct loop_wake *w);
#endif
