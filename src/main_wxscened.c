/* wxscened: the callback server. Thin main over the library: parse the
 * arguments, load the config, open the store, run the loop, clean up. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <libxml/xmlmemory.h>

#include "admin.h"
#include "cfg.h"
#include "cli.h"
#include "log.h"
#include "mpool.h"
#include "server.h"
#include "stats.h"
#include "store.h"
#include "fuworker.h"
#include "tagworker.h"
#include "wx_xml.h"

struct app {
    struct cfg *cfg;
    struct store *st;
    struct event_base *base;
    struct server *srv;
    struct stats *stats; /* keeps the rollups built for [stats] timezone */
    struct admin *admin; /* NULL when [admin] listen is empty */
    struct event *sigterm, *sigint, *sighup;
    /* the last SIGHUP's config (the server's: alive until the next reload
     * replaces it), to compare the next one with; NULL = cfg */
    const struct cfg *reloaded;
    int signals;
    int draining;               /* listeners (callback, admin) still answering */
    struct tagworker *tagger;   /* NULL when [tag] worker = false */
    struct fuworker *followups; /* NULL when [followup] worker = false */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wxscened [--config FILE] [--help] [--version]\n"
               "  --config FILE  configuration (default $WXSCENE_CONFIG, then ./wxscene.ini)\n"
               "Runs the WeChat callback server in the foreground; SIGTERM/SIGINT stop it\n"
               "after answering the requests in flight; SIGHUP reloads [reply] and\n"
               "[server] log_level from the config file and reopens [server] log_file.\n");
}

static void on_drained(void *arg)
{
    struct app *app = arg;
    if (--app->draining == 0)
        event_base_loopexit(app->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;
    if (app->signals++ > 0) {
        log_warn("second signal: exiting now");
        event_base_loopbreak(app->base);
        return;
    }
    log_info("signal %d: draining", (int)sig);
    tagworker_stop(app->tagger);
    fuworker_stop(app->followups);
    app->draining = 2;
    server_drain(app->srv, on_drained, app);
    admin_drain(app->admin, on_drained, app);
}

/* SIGHUP reloads what can change without a restart ([reply] texts, the
 * log level) and says what it did; a config that does not load keeps the
 * running one and says why. Changes of other keys are named as needing a
 * restart. Never stops the server. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;
    struct cfg *nc = NULL;
    char err[1024], applied[512], later[512];
    enum log_level lvl;
    (void)sig, (void)what;
    if (cfg_load(&nc, app->cfg->path, err, sizeof(err)) < 0) {
        log_error("SIGHUP: %s; keeping the running configuration", err);
        return;
    }
    const struct cfg *cur = app->reloaded ? app->reloaded : app->cfg;
    cfg_diff(cur, nc, true, applied, sizeof(applied));
    cfg_diff(app->cfg, nc, false, later, sizeof(later));
    if (later[0])
        log_warn(
            "SIGHUP: %s changed; a restart applies it (running with the value it started with)",
            later);
    /* reopened even when unchanged: logrotate moved it away */
    if (nc->log_file[0] && log_open_file(nc->log_file) < 0) {
        log_error("SIGHUP: [server] log_file: %s: %m; keeping the running configuration",
                  nc->log_file);
        cfg_free(nc);
        return;
    }
    if (server_reload(app->srv, nc) < 0) {
        log_error("SIGHUP: out of memory; keeping the running configuration");
        cfg_free(nc);
        return;
    }
    app->reloaded = nc; /* the server's now */
    if (log_parse_level(nc->log_level, &lvl) < 0)
        lvl = LOG_INFO; /* cfg_load checked it */
    /* the line is written at the more verbose of the two levels */
    if (lvl > LOG_INFO)
        log_info("SIGHUP: reloaded %s: %s", nc->path, applied[0] ? applied : "nothing changed");
    log_set_level(lvl);
    if (lvl <= LOG_INFO)
        log_info("SIGHUP: reloaded %s: %s", nc->path, applied[0] ? applied : "nothing changed");
}

static int app_init(struct app *app, const char *config)
{
    char err[1024];
    enum log_level lvl;
    if (cfg_load(&app->cfg, config, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscened: %s\n", err);
        return 2;
    }
    if (log_parse_level(app->cfg->log_level, &lvl) == 0)
        log_set_level(lvl);
    if (app->cfg->log_file[0] && log_open_file(app->cfg->log_file) < 0) {
        fprintf(stderr, "wxscened: [server] log_file: %s: %m\n", app->cfg->log_file);
        return 1;
    }
    if (store_open_cfg(&app->st, app->cfg, err, sizeof(err)) < 0) {
        log_error("store: %s", err);
        return 1;
    }
    if (stats_open(&app->stats, app->st, app->cfg->timezone, app->cfg->retention_days, NULL, err,
                   sizeof(err)) < 0) {
        log_error("%s", err);
        return strstr(err, "[stats]") ? 2 : 1;
    }
    /* epoll changes are applied at the next epoll_wait, not one syscall
     * each: evhttp enables writing for every reply and disables it once the
     * reply is out, often within one loop turn, and those pairs cancel out.
     * Measured: +6 to +8 % req/s under wrk -c64 (docs/benchmarks.md, fix 18).
     * libevent's caveat (fds shared through dup()) does not apply: no fd of
     * this loop is duplicated. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    app->base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    event_config_free(ecfg);
    if (!app->base || event_base_priority_init(app->base, 3) < 0) {
        log_error("cannot create the event loop");
        return 1;
    }
    if (server_new(&app->srv, app->base, app->cfg, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return strstr(err, "[wechat]") ? 2 : 1;
    }
    if (admin_new(&app->admin, app->base, app->cfg, app->srv, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return 1;
    }
    app->sigterm = evsignal_new(app->base, SIGTERM, on_signal, app);
    app->sigint = evsignal_new(app->base, SIGINT, on_signal, app);
    app->sighup = evsignal_new(app->base, SIGHUP, on_sighup, app);
    if (!app->sigterm || !app->sigint || !app->sighup || evsignal_add(app->sigterm, NULL) < 0 ||
        evsignal_add(app->sigint, NULL) < 0 || evsignal_add(app->sighup, NULL) < 0) {
        log_error("cannot install signal handlers");
        return 1;
    }
    if (app->cfg->tag_worker && tagworker_start(&app->tagger, app->cfg, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return 1;
    }
    if (app->cfg->followup_worker &&
        fuworker_start(&app->followups, app->cfg, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return 1;
    }
    return 0;
}

static int app_run(struct app *app)
{
    log_info("wxscened %s: callback listener on %s%s (mode %s), admin listener %s%s, store %s",
             WXSCENE_VERSION, app->cfg->listen, app->cfg->callback_path,
             app->cfg->mode == WX_MODE_PLAIN    ? "plain"
             : app->cfg->mode == WX_MODE_COMPAT ? "compat"
                                                : "safe",
             app->cfg->admin_listen[0] ? "on " : "off", app->cfg->admin_listen,
             app->cfg->backend == STORE_POSTGRESQL ? "postgresql ([store] url)"
                                                   : app->cfg->store_path);
    if (event_base_dispatch(app->base) < 0) {
        log_error("event loop failed");
        return 1;
    }
    log_info("stopped");
    return 0;
}

static void app_free(struct app *app)
{
    tagworker_free(app->tagger);
    fuworker_free(app->followups);
    admin_free(app->admin);
    server_free(app->srv);
    if (app->sigterm)
        event_free(app->sigterm);
    if (app->sigint)
        event_free(app->sigint);
    if (app->sighup)
        event_free(app->sighup);
    if (app->base)
        event_base_free(app->base);
    stats_close(app->stats);
    store_close(app->st);
    cfg_free(app->cfg);
}

/* libevent's and libxml2's allocations on per-thread free lists
 * (src/mpool.h): about 60 per push, which glibc's malloc served from its
 * locked bins once a batch overflowed its per-thread cache. Before any
 * other call of either library, so every block they free came from here.
 * Measured in docs/benchmarks.md (fix 27). */
static void use_mpool(void)
{
    event_set_mem_functions(mpool_malloc, mpool_realloc, mpool_free);
    xmlMemSetup(mpool_free, mpool_malloc, mpool_realloc, mpool_strdup);
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    struct app app = {0};
    int rc = cli_global_args(argc, argv, "wxscened", usage, false, &config, NULL);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    /* A handful of threads (loop, commit, checkpoint, tagging, QR worker)
     * each get a glibc arena by default; two arenas keep the resident set
     * about 0.6 MB smaller with no measurable cost (docs/benchmarks.md). */
    mallopt(M_ARENA_MAX, 2);
    use_mpool();
    wx_xml_global_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = app_init(&app, config);
    if (rc == 0)
        rc = app_run(&app);
    app_free(&app);
    curl_global_cleanup();
    mpool_thread_flush();
    return rc;
}
