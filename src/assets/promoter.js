/* A promoter's own page, /p/TOKEN: read-only numbers from /p/TOKEN.json,
 * which checks the token (404 once revoked); nothing here is private (no
 * admin token, no secret). Its files come from /p/ too, so a proxy that
 * publishes only /p/ publishes the whole page. Text only through
 * textContent. */
"use strict";
(function () {
  const t = (k, p) => I18N.t(k, p);
  const $ = (s) => document.querySelector(s);
  const METRICS = ["scans", "unique_scanners", "new_fans", "returning_fans", "unsubscribes", "net_fans", "retained_fans"];
  let report = null;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  const fmt = (n) => (n === null || n === undefined) ? t("common.none") : Number(n).toLocaleString(I18N.locale());
  const data = (v) => el("span", { translate: "no" }, v === null || v === undefined || v === "" ? t("common.none") : v);

  function table(tbl, head, rows) {
    tbl.tHead.replaceChildren(el("tr", {}, ...head.map(([h, cls]) => el("th", { class: cls }, h))));
    tbl.tBodies[0].replaceChildren(...rows);
  }

  function render() {
    const j = report;
    document.title = t("pp.title", { name: j.promoter });
    $("#pp-title").textContent = t("pp.title", { name: j.promoter });
    $("#pp-period").textContent = t("pp.period", { since: j.since, until: j.until, tz: j.timezone || "" });
    const tot = j.totals || {};
    $("#pp-cards").replaceChildren(...METRICS.filter((k) => k in tot).map((k) =>
      el("div", { class: "card", "data-metric": k }, el("div", { class: "k" }, t("metric." + k)), el("div", { class: "v" }, fmt(tot[k])))));
    const cm = METRICS.filter((k) => (j.channels || []).some((c) => k in c));
    table($("#pp-channels"), [[t("col.channel")], [t("col.scene"), "t"]].concat(cm.map((k) => [t("metric." + k)])),
      (j.channels || []).map((c) => el("tr", { "data-scene": c.scene }, el("td", { class: "t name" }, data(c.name)),
        el("td", { class: "t" }, data(c.scene)), ...cm.map((k) => el("td", { "data-metric": k }, fmt(c[k]))))));
    table($("#pp-days"), [[t("pp.day")], [t("metric.new_fans")], [t("metric.scans")]],
      (j.days || []).slice().reverse().map((d) => el("tr", { "data-day": d.day || d.date }, el("td", { class: "t" }, d.day || d.date),
        el("td", {}, fmt(d.new_fans)), el("td", {}, fmt(d.scans)))));
  }

  function fail(msg) {
    $("#pp-body").hidden = true;
    $("#pp-error").textContent = msg;
    $("#pp-error").hidden = false;
    document.body.dataset.state = "error";
  }

  async function load() {
    const tok = location.pathname.replace(/^\/p\//, "").replace(/\/+$/, "");
    let r;
    try {
      r = await fetch("/p/" + tok + ".json", { cache: "no-store", credentials: "omit" });
    } catch (e) { return fail(t("err.network")); }
    if (r.status === 404) return fail(t("pp.gone"));
    if (!r.ok) return fail(t("err.status", { status: r.status }));
    report = await r.json();
    render();
    $("#pp-body").hidden = false;
    document.body.dataset.state = "ready";
  }

  /* The language: the reader's choice, else the browser's (this page
   * needs nothing from /api/, which a proxy may keep private). */
  async function start() {
    I18N.init(null);
    I18N.apply();
    document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => {
      I18N.set(b.dataset.lang);
      if (report) render(); else if (document.body.dataset.state === "error") fail(t("pp.gone"));
    }));
    await load();
  }
  start();
})();
