/* admin_console: the web console's JSON API on the admin listener
 * (docs/admin-api.md "Web console"): configuration, channel import and
 * template, QR code lists, images and zips (admin_console.c); the
 * promoter leaderboard, private links and the promoter's own page
 * (admin_promoter.c). Handlers are rows of admin.c's route table; every
 * one ends in exactly one reply, and what needs the database runs on the
 * admin worker (admin_api.h). */
#ifndef WXS_ADMIN_CONSOLE_H
#define WXS_ADMIN_CONSOLE_H
#include "admin_api.h"

void admin_h_config(struct areq *r);
void admin_h_template(struct areq *r);
void admin_h_import(struct areq *r);
void admin_h_qrcodes_list(struct areq *r);
void admin_h_qrcodes_perm(struct areq *r);
void admin_h_qrcodes_zip(struct areq *r);
void admin_h_qrcode_image(struct areq *r);
void admin_h_promoters(struct areq *r);
void admin_h_link_make(struct areq *r);
void admin_h_link_revoke(struct areq *r);
void admin_h_public(struct areq *r);

/* Whether the query string (NULL = none) has NAME=1. */
bool admin_query_flag(const char *query, const char *name);

/* "zh-CN" when the Accept-Language header's most wanted language (q
 * values honoured, q=0 refused) is a Chinese one (zh, zh-*), else "en".
 * NULL header = "en". Static string. */
const char *admin_console_lang(const char *accept_language);
#endif
