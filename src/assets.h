/* Static files from src/assets/, embedded at build time (generated). */
#ifndef WXS_ASSETS_H
#define WXS_ASSETS_H
#include <stddef.h>

struct asset {
    const char *name;
    const unsigned char *data;
    size_t size;
    const char *etag; /* "\"16 hex digits of its SHA-256\"" */
};
/* Terminated by a row with name NULL. */
extern const struct asset assets[];
#endif
