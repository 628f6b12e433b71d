/* media: images uploaded to WeChat as permanent material
 * (material/add_material, protocol doc 7b) for image replies and image
 * follow-ups. An image is uploaded once: the media table remembers each
 * file's media_id by the SHA-256 of its bytes, so the same coupon used by
 * ten channels, or set again after an edit, is not uploaded again (the
 * account's permanent images are capped). Temporary media expire after 3
 * days and are never used for a standing reply. */
#ifndef WXS_MEDIA_H
#define WXS_MEDIA_H
#include <stddef.h>
#include "store.h"
#include "util.h"
#include "wxapi.h"

#define MEDIA_IMAGE_MAX (10u * 1024 * 1024) /* material/add_material: images up to 10 MB */

/* The image file at path as WeChat will take it: at most MEDIA_IMAGE_MAX
 * bytes, its extension .bmp .png .jpeg .jpg or .gif and its bytes of that
 * kind (the magic number). *data (caller frees), *len, *type (static MIME
 * type). 0, or -1 with "FILE: why" in err. */
int media_read_image(const char *path, void **data, size_t *len, const char **type, char *err,
                     size_t errlen) WXS_MUSTCHECK;

/* The permanent media_id of the image at path: from the media table when
 * these bytes were uploaded before, else uploaded now through api (api may
 * be NULL when the caller knows it is not needed: then a new file is an
 * error) and recorded. *uploaded says which. media_id has
 * REPLY_MEDIA_ID_MAX + 1 bytes. 0, or -1 with why in err (WeChat's
 * errcode and its hint when WeChat refused). */
int media_image_id(struct store *st, struct wxapi *api, const char *path, char *media_id,
                   size_t media_id_len, bool *uploaded, char *err, size_t errlen) WXS_MUSTCHECK;
#endif
