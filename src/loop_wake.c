#include "loop_wake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void loop_wake_clear(struct loop_wake *w)
{
    *w = (struct loop_wake){.fd = {-1, -1}};
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct loop_wake *w = arg;
    char drain[64];
    while (read(fd, drain, sizeof(drain)) > 0)
        ;
    w->fn(w->arg);
}

int loop_wake_init(struct loop_wake *w, struct event_base *base, int priority,
                   void (*fn)(void *arg), void *arg, const char *who, char *err, size_t errlen)
{
    w->fn = fn;
    w->arg = arg;
    if (pipe2(w->fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        w->fd[0] = w->fd[1] = -1;
        snprintf(err, errlen, "%s: pipe: %s", who, strerror(errno));
        return -1;
    }
    w->ev = event_new(base, w->fd[0], EV_READ | EV_PERSIST, on_readable, w);
    if (w->ev && priority >= 0)
        event_priority_set(w->ev, priority);
    if (!w->ev || event_add(w->ev, NULL) < 0) {
        snprintf(err, errlen, "%s: cannot watch the pipe", who);
        return -1;
    }
    return 0;
}

void loop_wake_signal(struct loop_wake *w)
{
    ssize_t n = write(w->fd[1], "w", 1);
    (void)n; /* EAGAIN: a full pipe already wakes the loop */
}

void loop_wake_free(struct loop_wake *w)
{
    if (w->ev)
        event_free(w->ev);
    for (int i = 0; i < 2; i++)
        if (w->fd[i] >= 0)
            close(w->fd[i]);
    loop_wake_clear(w);
}
