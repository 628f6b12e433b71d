/* The wxscene web console: one page, four views (dashboard, channels, QR
 * codes, promoters), everything through the JSON API of docs/admin-api.md.
 * The admin token lives in sessionStorage and goes out as
 * "Authorization: Bearer", which a cross-site page cannot add: that is what
 * makes every state-changing request CSRF-safe. All DOM is built with
 * createElement/textContent, so data (a channel name, a promoter) is never
 * parsed as HTML. */
"use strict";
(function () {
  const KEY = "wxscene.admin.token";
  const t = (k, p) => I18N.t(k, p);
  const $ = (s) => document.querySelector(s);
  const state = { since: null, until: null, page: null, config: null, channels: [], codes: [], campaigns: [] };

  /* ---- small helpers ---- */

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  /* A cell holding data (a name, a promoter): never translated, never HTML. */
  const data = (v, attrs) => el("span", Object.assign({ translate: "no" }, attrs || {}), v === null || v === undefined || v === "" ? t("common.none") : v);

  const fmt = (n) => (n === null || n === undefined) ? t("common.none") : Number(n).toLocaleString(I18N.locale());

  function token() { return sessionStorage.getItem(KEY); }

  /* Epoch seconds as a date and time in the account's time zone. */
  function when(epoch, dateOnly) {
    if (epoch === null || epoch === undefined) return t("common.none");
    const o = dateOnly ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" };
    const tz = state.config && state.config.timezone;
    try {
      return new Intl.DateTimeFormat(I18N.locale(), Object.assign({ timeZone: tz || undefined }, o)).format(new Date(epoch * 1000));
    } catch (e) { /* an unknown zone name: the browser's */
      return new Intl.DateTimeFormat(I18N.locale(), o).format(new Date(epoch * 1000));
    }
  }

  /* Today's date (YYYY-MM-DD) in the account's time zone. */
  function today() {
    const tz = state.config && state.config.timezone;
    try {
      return new Intl.DateTimeFormat("en-CA", { timeZone: tz || undefined, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
    } catch (e) { return new Date().toISOString().slice(0, 10); }
  }

  class AuthError extends Error {}
  class ApiError extends Error {
    constructor(msg, body, status) { super(msg); this.body = body; this.status = status; }
  }

  /* One API call with the token; a JSON error answer becomes an ApiError
   * whose message is in the current language. */
  async function api(method, path, body, ctype) {
    const opts = { method, headers: { Authorization: "Bearer " + token() }, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = ctype || "application/json";
      opts.body = ctype ? body : JSON.stringify(body);
    }
    let r;
    try { r = await fetch(path, opts); } catch (e) { throw new Error(t("err.network")); }
    if (r.status === 401) throw new AuthError(t("err.token"));
    if (r.status === 403) throw new AuthError(t("err.disabled"));
    if (!r.ok) {
      let j = null;
      try { j = await r.json(); } catch (e) { /* not JSON */ }
      throw new ApiError(I18N.error(j) || t("err.status", { status: r.status }), j, r.status);
    }
    return r;
  }
  const getJSON = (path) => api("GET", path).then((r) => r.json());

  /* A file from the API saved under NAME (a blob URL clicked). */
  async function download(method, path, name, body) {
    const blob = await (await api(method, path, body)).blob();
    const a = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  function showError(e) {
    if (e instanceof AuthError) { sessionStorage.removeItem(KEY); showLogin(e.message); return; }
    $("#app-error").textContent = e.message;
    $("#app-error").hidden = false;
    document.body.dataset.state = "error";
  }
  function notice(msg) {
    $("#app-notice").textContent = msg;
    $("#app-notice").hidden = !msg;
  }
  /* Runs an action, its failure shown in the page's error box. */
  function guarded(fn) {
    return async (...args) => {
      $("#app-error").hidden = true;
      try { await fn(...args); } catch (e) { showError(e); }
    };
  }

  function showLogin(message) {
    document.body.dataset.state = message ? "error" : "login";
    $("#app").hidden = true;
    $("#login").hidden = false;
    const e = $("#login-error");
    e.hidden = !message;
    e.textContent = message || "";
    $("#token").value = "";
    $("#token").focus();
  }

  function renderTable(table, head, rows, total) {
    table.tHead.replaceChildren(el("tr", {}, ...head.map(([label, cls, title]) => el("th", { class: cls, title }, label))));
    const body = rows.slice();
    if (total) body.push(el("tr", { class: "total" }, ...total));
    table.tBodies[0].replaceChildren(...body);
  }
  const td = (v, attrs) => el("td", attrs || {}, v instanceof Node ? v : fmt(v));
  const signed = (n) => el("span", { class: n > 0 ? "pos" : n < 0 ? "neg" : "" }, fmt(n));

  /* ---- dashboard ---- */

  const METRICS = ["scans", "unique_scanners", "new_fans", "returning_fans", "unsubscribes", "net_fans", "retained_fans"];

  function statsQuery(by, extra) {
    const p = new URLSearchParams({ by });
    if (state.since) p.set("since", state.since);
    if (state.until) p.set("until", state.until);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return "/api/stats?" + p.toString();
  }

  function renderCards(tot) {
    $("#cards").replaceChildren(...METRICS.map((k) =>
      el("div", { class: "card", "data-metric": k }, el("div", { class: "k" }, t("metric." + k)),
        el("div", { class: "v" }, k === "net_fans" ? signed(tot[k]) : fmt(tot[k])))));
  }

  function renderChannels(j) {
    const head = [[t("col.channel")], [t("col.scene"), "t"], [t("col.promoter"), "t"]].concat(METRICS.map((k) => [t("metric." + k)]));
    const rows = j.channels.map((c) => {
      const name = c.scene === null ? el("span", { class: "muted" }, t("dash.organic"))
        : c.name === null ? el("span", { class: "muted" }, t("dash.unknown")) : data(c.name);
      return el("tr", { "data-scene": c.scene === null ? "" : c.scene },
        el("td", { class: "name t", title: c.name || "", translate: "no" }, name),
        el("td", { class: "t" }, data(c.scene)), el("td", { class: "t" }, data(c.promoter)),
        ...METRICS.map((k) => td(k === "net_fans" ? signed(c[k]) : c[k], { "data-metric": k })));
    });
    const total = [el("td", { class: "t" }, t("dash.total")), el("td", {}, ""), el("td", {}, "")]
      .concat(METRICS.map((k) => td(j.totals[k], { "data-metric": k })));
    renderTable($("#channels"), head, rows, total);
  }

  /* Why a promoter is flagged, by flag name (stats' "flags"), in the
   * page's language; the server's English reasons when a flag is new. */
  function flagText(p) {
    const known = (p.flags || []).filter((f) => I18N.STRINGS.en["flag." + f]);
    if (!known.length) return p.flag_reasons || "";
    return known.map((f) => t("flag." + f, { n: p.quick_unsubscribes, returning: p.returning_fans,
      brought: p.fans_brought })).join("; ");
  }

  function renderDashPromoters(j) {
    const d = j.retention_days;
    $("#retention-note").textContent = t("dash.retention_note", { days: d });
    const head = [[t("col.promoter")], [t("col.channels"), null, t("pr.channels_help")], [t("col.brought"), null, t("pr.brought_help")],
      [t("col.unsubs"), null, t("pr.unsubs_help")], [t("col.net")], [t("col.subscribed")],
      [t("col.retention", { days: d }), null, t("pr.retained_help", { days: d })], [t("col.flag"), "t", t("pr.flag_help")]];
    const notes = [];
    const rows = j.promoters.map((p) => {
      const r = p.retention;
      const ret = r.rate === null ? el("span", { class: "muted" }, t("common.none"))
        : el("span", { title: t("dash.of", { a: r.retained, b: r.eligible }) }, Math.round(r.rate * 100) + "%");
      if (p.suspicious) notes.push(el("span", {}, data(p.promoter), ": " + flagText(p)));
      return el("tr", { "data-promoter": p.promoter }, el("td", { class: "t" }, data(p.promoter)), td(p.channels), td(p.fans_brought),
        td(p.unsubscribes), td(signed(p.net_fans)), td(p.retained_fans), td(ret),
        el("td", { class: "t" }, p.suspicious ? el("span", { class: "flag", title: flagText(p) }, t("dash.check")) : ""));
    });
    renderTable($("#promoters"), head, rows, null);
    $("#flag-notes").replaceChildren(...notes.flatMap((n, i) => i ? [" · ", n] : [n]));
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* A line chart of SERIES ([colour, values, name]) over DAYS, W units
   * wide (the box it fills: a full-width chart gets a wider one). */
  function lineChart(days, series, label, W) {
    W = W || 700;
    const H = 230, L = 40, R = 14, T = 10, B = 24;
    const all = series.flatMap((s) => s[1]);
    let lo = Math.min(0, ...all), hi = Math.max(1, ...all);
    const step = Math.pow(10, Math.floor(Math.log10(Math.max(1, hi - lo))));
    hi = Math.ceil(hi / step) * step; lo = Math.floor(lo / step) * step;
    hi = Math.max(hi, lo + 4);
    const x = (i) => L + (days.length < 2 ? (W - L - R) / 2 : i * (W - L - R) / (days.length - 1));
    const y = (v) => T + (hi - v) * (H - T - B) / (hi - lo || 1);
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": label });
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4;
      g.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e4e7ec" }));
      g.append(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(Math.round(v))));
    }
    const every = Math.max(1, Math.ceil(days.length / 7));
    days.forEach((d, i) => {
      if (i % every === 0 || i === days.length - 1)
        g.append(svg("text", { x: x(i), y: H - 6, "text-anchor": i === days.length - 1 ? "end" : i === 0 ? "start" : "middle" }, d.date.slice(5)));
    });
    for (const [color, vals, name] of series) {
      g.append(svg("polyline", { points: vals.map((v, i) => x(i) + "," + y(v)).join(" "), fill: "none", stroke: color, "stroke-width": 2, "data-series": name,
        "data-values": vals.join(",") }));
      if (days.length <= 62) vals.forEach((v, i) => {
        const c = svg("circle", { cx: x(i), cy: y(v), r: 2.5, fill: color });
        c.append(svg("title", {}, days[i].date + " " + t("dash.legend." + name) + ": " + v));
        g.append(c);
      });
    }
    return g;
  }

  function renderChart(j) {
    const days = j.days;
    $("#chart").replaceChildren(lineChart(days, [
      ["#12a150", days.map((d) => d.new_fans + d.returning_fans), "brought"],
      ["#d92d20", days.map((d) => d.unsubscribes), "unsubs"],
      ["#2e6be6", days.map((d) => d.net_fans), "net"]], t("dash.trend")));
    $("#trend-range").textContent = j.since + " – " + j.until;
  }

  /* The per-channel daily chart: the channel picked, or the first. */
  async function loadSceneChart(channels) {
    const pick = $("#scene-pick");
    const scenes = channels.filter((c) => c.scene !== null);
    const keep = pick.value;
    pick.replaceChildren(...scenes.map((c) => el("option", { value: c.scene }, (c.name || c.scene) + " (" + c.scene + ")")));
    if (scenes.some((c) => c.scene === keep)) pick.value = keep;
    if (!pick.value) { $("#scene-chart").replaceChildren(); return; }
    const j = await getJSON(statsQuery("day", { scene: pick.value }));
    const days = j.days;
    $("#scene-chart").replaceChildren(lineChart(days, [
      ["#b54708", days.map((d) => d.scans), "scans"],
      ["#12a150", days.map((d) => d.new_fans), "new"],
      ["#d92d20", days.map((d) => d.unsubscribes), "unsubs"]], t("dash.scene_trend"), 1400));
    $("#scene-chart").dataset.scene = pick.value;
  }

  /* The campaign column of a row: its name, or "no campaign" (null). */
  const campaignCell = (name) => name === null || name === undefined
    ? el("span", { class: "muted" }, t("cp.none")) : data(name);

  /* One row per campaign (stats --by campaign), the null row last as
   * "no campaign"; unique_scanners is the server's exact count. */
  function renderDashCampaigns(j) {
    const head = [[t("col.campaign")], [t("col.channels"), null, t("dash.campaign_channels_help")]]
      .concat(METRICS.map((k) => [t("metric." + k)]));
    const rows = j.campaigns.map((c) => el("tr", { "data-campaign": c.campaign === null ? "" : c.campaign },
      el("td", { class: "t name" }, campaignCell(c.campaign)), td(c.channels, { "data-metric": "channels" }),
      ...METRICS.map((k) => td(k === "net_fans" ? signed(c[k]) : c[k], { "data-metric": k }))));
    const total = [el("td", { class: "t" }, t("dash.total")), el("td", {}, "")]
      .concat(METRICS.map((k) => td(j.totals[k], { "data-metric": k })));
    renderTable($("#campaigns"), head, rows, total);
  }

  /* The per-campaign daily chart (by=day&campaign=NAME): the campaign
   * picked, or the first. */
  async function loadCampaignChart() {
    const pick = $("#campaign-pick"), keep = pick.value;
    pick.replaceChildren(...state.campaigns.map((c) => el("option", { value: c.name }, c.name)));
    if (state.campaigns.some((c) => c.name === keep)) pick.value = keep;
    pick.hidden = state.campaigns.length === 0;
    $("#campaign-none").hidden = state.campaigns.length > 0;
    const box = $("#campaign-chart");
    if (!pick.value) { box.replaceChildren(); delete box.dataset.campaign; return; }
    const name = pick.value;
    const j = await getJSON(statsQuery("day", { campaign: name }));
    const days = j.days;
    box.replaceChildren(lineChart(days, [
      ["#b54708", days.map((d) => d.scans), "scans"],
      ["#2e6be6", days.map((d) => d.unique_scanners), "scanners"],
      ["#12a150", days.map((d) => d.new_fans), "new"],
      ["#d92d20", days.map((d) => d.unsubscribes), "unsubs"]], t("dash.campaign_trend"), 1400));
    box.dataset.campaign = name;
  }

  async function loadDashboard() {
    $("#status").textContent = t("common.loading");
    const [ch, pr, dy, cp, list] = await Promise.all(["channel", "promoter", "day", "campaign"].map((by) => getJSON(statsQuery(by)))
      .concat(getJSON("/api/campaigns")));
    state.campaigns = list;
    state.since = ch.since; state.until = ch.until;
    $("#since").value = ch.since; $("#until").value = ch.until;
    renderCards(ch.totals); renderChannels(ch); renderDashPromoters(pr); renderChart(dy); renderDashCampaigns(cp);
    await loadSceneChart(ch.channels);
    await loadCampaignChart();
    $("#status").textContent = "";
  }

  /* ---- channels ---- */

  /* A filter select's value against a row's value: "" any, NONE unset. */
  const NONE = "\u0000none";
  const pickMatches = (pick, v) => !pick || (pick === NONE ? !v : v === pick);

  function channelMatches(c, q, promoter, campaign) {
    if (!pickMatches(promoter, c.promoter) || !pickMatches(campaign, c.campaign)) return false;
    if (!q) return true;
    q = q.toLowerCase();
    return [c.scene, c.name, c.promoter, c.tag, c.campaign].some((v) => v && String(v).toLowerCase().includes(q));
  }

  function renderChannelList() {
    const q = $("#ch-search").value.trim(), pr = $("#ch-promoter").value, cp = $("#ch-campaign").value;
    const showArchived = $("#ch-archived").checked;
    const list = state.channels.filter((c) => (showArchived || !c.archived_at) && channelMatches(c, q, pr, cp));
    const head = [[t("col.scene")], [t("col.name"), "t"], [t("col.promoter"), "t"], [t("col.campaign"), "t"], [t("col.reply"), "t"],
      [t("col.scan_reply"), "t"], [t("col.tag"), "t"], [t("col.created"), "t"], [t("col.actions"), "t"]];
    const rows = list.map((c) => {
      const actions = c.archived_at
        ? el("span", { class: "muted" }, t("ch.archived_on", { date: when(c.archived_at, true) }))
        : el("span", {}, el("button", { class: "link", type: "button", "data-action": "edit", on: { click: () => openChannelForm(c) } }, t("ch.edit")),
          el("button", { class: "link", type: "button", "data-action": "archive", on: { click: () => confirmArchive(c) } }, t("ch.archive")));
      return el("tr", { "data-scene": c.scene, class: c.archived_at ? "archived" : null },
        el("td", { class: "t" }, data(c.scene)), el("td", { class: "t name" }, data(c.name)),
        el("td", { class: "t" }, data(c.promoter)), el("td", { class: "t campaign" }, campaignCell(c.campaign)),
        el("td", { class: "t wrap", title: c.reply || "", translate: "no" }, data(c.reply)),
        el("td", { class: "t wrap", title: c.scan_reply || "", translate: "no" }, data(c.scan_reply)), el("td", { class: "t" }, data(c.tag)),
        el("td", { class: "t created" }, when(c.created_at)), el("td", { class: "t" }, actions));
    });
    renderTable($("#ch-table"), head, rows, null);
    $("#ch-empty").hidden = list.length > 0;
    $("#ch-count").textContent = t("ch.count", { n: list.length });
  }

  function fillPromoterFilter() {
    const sel = $("#ch-promoter"), keep = sel.value;
    const names = [...new Set(state.channels.map((c) => c.promoter).filter(Boolean))].sort();
    sel.replaceChildren(el("option", { value: "" }, t("ch.all_promoters")), el("option", { value: "\u0000none" }, t("ch.no_promoter")),
      ...names.map((n) => el("option", { value: n, translate: "no" }, n)));
    sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
    $("#promoter-names").replaceChildren(...names.map((n) => el("option", { value: n })));
  }

  /* A select showing a campaign's name (data) is not translated; its
   * "all" and "none" choices are. */
  function markData(sel) {
    if (sel.value && sel.value !== NONE) sel.setAttribute("translate", "no"); else sel.removeAttribute("translate");
  }

  /* The campaign filter and the dialog's campaign select: every campaign
   * (GET /api/campaigns), a campaign being data (never translated). */
  function fillCampaignSelects() {
    const names = state.campaigns.map((c) => c.name);
    const sel = $("#ch-campaign"), keep = sel.value;
    sel.replaceChildren(el("option", { value: "" }, t("ch.all_campaigns")), el("option", { value: NONE }, t("ch.no_campaign")),
      ...names.map((n) => el("option", { value: n, translate: "no" }, n)));
    sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
    markData(sel);
    $("#f-campaign").replaceChildren(el("option", { value: "" }, t("cp.none")),
      ...names.map((n) => el("option", { value: n, translate: "no" }, n)));
  }

  function renderCampaignList() {
    const head = [[t("cp.name")], [t("cp.note"), "t"], [t("col.channels"), null, t("cp.channels_help")], [t("col.created"), "t"]];
    const rows = state.campaigns.map((c) => el("tr", { "data-campaign": c.name },
      el("td", { class: "t name" }, data(c.name)), el("td", { class: "t note", title: c.note || "", translate: "no" }, data(c.note)),
      td(c.channels), el("td", { class: "t" }, when(c.created_at))));
    renderTable($("#cp-table"), head, rows, null);
    $("#cp-empty").hidden = rows.length > 0;
  }

  async function loadChannels() {
    const archived = $("#ch-archived").checked;
    [state.channels, state.campaigns] = await Promise.all([getJSON("/api/channels" + (archived ? "?archived=1" : "")),
      getJSON("/api/campaigns")]);
    fillPromoterFilter();
    fillCampaignSelects();
    renderCampaignList();
    renderChannelList();
  }

  /* POST /api/campaigns from the small form; a refusal (a blank or taken
   * name, a control character) shown under it, the input kept. */
  async function addCampaign(ev) {
    ev.preventDefault();
    const err = $("#cp-error");
    err.hidden = true;
    const note = $("#cp-note").value;
    try {
      const c = await (await api("POST", "/api/campaigns", { name: $("#cp-name").value, note: note.trim() === "" ? null : note })).json();
      $("#cp-name").value = ""; $("#cp-note").value = "";
      notice(t("cp.saved", { name: c.name }));
      await loadChannels();
    } catch (e) {
      if (e instanceof AuthError) return showError(e);
      err.textContent = e.message;
      err.hidden = false;
      const f = e.body && e.body.field;
      if (f && $("#cp-" + f)) $("#cp-" + f).focus();
    }
  }

  const FORM_FIELDS = ["name", "promoter", "reply", "scan_reply", "tag", "campaign"];
  let editing = null;

  function openChannelForm(c) {
    editing = c;
    $("#ch-form-title").textContent = c ? t("ch.form.edit", { scene: c.scene }) : t("ch.form.add");
    $("#ch-scene-row").hidden = !!c;
    $("#f-scene").value = "";
    for (const f of FORM_FIELDS) $("#f-" + f).value = (c && c[f]) || "";
    markData($("#f-campaign"));
    $("#ch-form-error").hidden = true;
    $("#ch-dialog").showModal();
    (c ? $("#f-name") : $("#f-scene")).focus();
  }

  /* The form as API fields: an empty optional field is null (no promoter,
   * the default reply, ...); an edit sends only what changed. */
  function channelBody() {
    const body = {};
    for (const f of FORM_FIELDS) {
      const v = $("#f-" + f).value;
      const val = (f === "name") ? v : (v.trim() === "" ? null : v);
      if (!editing || (editing[f] || null) !== val) body[f] = val;
    }
    if (!editing) body.scene = $("#f-scene").value.trim();
    return body;
  }

  async function saveChannel(ev) {
    ev.preventDefault();
    const err = $("#ch-form-error");
    err.hidden = true;
    const body = channelBody();
    try {
      let saved;
      if (editing) {
        if (Object.keys(body).length === 0) { $("#ch-dialog").close(); return; }
        saved = await (await api("PATCH", "/api/channels/" + encodeURIComponent(editing.scene), body)).json();
      } else {
        saved = await (await api("POST", "/api/channels", body)).json();
      }
      $("#ch-dialog").close();
      notice(t("ch.saved", { scene: saved.scene }));
      await loadChannels();
    } catch (e) {
      if (e instanceof AuthError) { $("#ch-dialog").close(); return showError(e); }
      err.textContent = e.message;
      err.hidden = false;
      const f = e.body && e.body.field;
      if (f && $("#f-" + f)) $("#f-" + f).focus();
    }
  }

  /* A yes/no dialog; resolves true on yes. */
  function confirmDialog(title, text, yes) {
    return new Promise((resolve) => {
      const d = $("#confirm-dialog");
      $("#confirm-title").textContent = title;
      $("#confirm-text").textContent = text;
      $("#confirm-yes").textContent = yes;
      const done = (v) => { d.close(); $("#confirm-yes").onclick = null; $("#confirm-no").onclick = null; resolve(v); };
      $("#confirm-yes").onclick = () => done(true);
      $("#confirm-no").onclick = () => done(false);
      d.oncancel = () => resolve(false);
      d.showModal();
    });
  }

  async function confirmArchive(c) {
    const ok = await confirmDialog(t("ch.archive_title", { scene: c.scene }), t("ch.archive_text"), t("ch.archive_do"));
    if (!ok) return;
    await guarded(async () => {
      await api("DELETE", "/api/channels/" + encodeURIComponent(c.scene));
      notice(t("ch.archived", { scene: c.scene }));
      await loadChannels();
    })();
  }

  /* The chosen CSV file's bytes as they are (the server detects the
   * encoding): a dry run first, or the import itself. */
  async function importCsv(dry) {
    const file = $("#import-file").files[0];
    $("#import-result").hidden = true;
    $("#import-errors").hidden = true;
    if (!file) { $("#import-result").textContent = t("ch.import_no_file"); $("#import-result").hidden = false; return; }
    const bytes = await file.arrayBuffer();
    try {
      const r = await api("POST", "/api/channels/import" + (dry ? "?dry_run=1" : ""), bytes, "text/csv");
      const j = await r.json();
      $("#import-result").textContent = t(dry ? "ch.import_dry_ok" : "ch.import_ok", { n: j.imported, encoding: j.encoding });
      $("#import-result").hidden = false;
      if (!dry) { $("#import-file").value = ""; $("#import-name").textContent = ""; await loadChannels(); }
    } catch (e) {
      if (!(e instanceof ApiError) || !e.body || !Array.isArray(e.body.errors)) throw e;
      const errs = e.body.errors;
      $("#import-errors-title").textContent = t("ch.import_errors", { n: errs.length });
      renderTable($("#import-errors-table"), [[t("ch.err.row")], [t("ch.err.column"), "t"], [t("ch.err.message"), "t"]],
        errs.map((x) => el("tr", { "data-row": x.row, "data-column": x.column || "" }, td(x.row),
          el("td", { class: "t" }, data(x.column ? I18N.fieldName(x.column) : null)),
          el("td", { class: "t" }, I18N.error({ code: x.code, field: x.column, error: x.message, params: x.params }) || x.message))), null);
      $("#import-errors").hidden = false;
    }
  }

  /* ---- QR codes ---- */

  const qrName = (c) => `wxscene-qr-${c.id}-${String(c.scene).replace(/[^\w\u4e00-\u9fff-]+/g, "_")}`;

  async function loadQrcodes() {
    const active = await getJSON("/api/channels");
    const sel = $("#qr-scene"), keep = sel.value;
    sel.replaceChildren(...active.map((c) => el("option", { value: c.scene }, c.name + " (" + c.scene + ")")));
    if (active.some((c) => c.scene === keep)) sel.value = keep;
    $("#qr-form").querySelector("button").disabled = active.length === 0;
    if (active.length === 0) notice(t("qr.no_channels"));
    const j = await getJSON("/api/qrcodes" + ($("#qr-expiring").checked ? "?expiring=7" : ""));
    state.codes = j.codes || [];
    const p = j.perm;
    $("#qr-perm").textContent = p ? t("qr.perm", { used: fmt(p.used), free: fmt(p.free), total: fmt(p.total), retired: fmt(p.retired) }) : "";
    renderCodes();
  }

  /* kind: temp_id, temp_str, perm_id or perm_str (the store's names). */
  const isPerm = (c) => String(c.kind).startsWith("perm");

  function renderCodes() {
    const all = el("input", { type: "checkbox", "aria-label": t("qr.select_all"), title: t("qr.select_all"),
      on: { change: (ev) => document.querySelectorAll("#qr-table tbody input[type=checkbox]").forEach((b) => { b.checked = ev.target.checked; }) } });
    const head = [[all], [t("qr.id")], [t("col.channel"), "t"], [t("col.promoter"), "t"], [t("qr.kind"), "t"],
      [t("col.created"), "t"], [t("qr.expires"), "t"], [t("col.actions"), "t"]];
    const rows = state.codes.map((c) => el("tr", { "data-id": c.id, "data-scene": c.scene },
      el("td", {}, el("input", { type: "checkbox", value: c.id, "aria-label": t("qr.select") })),
      td(c.id), el("td", { class: "t name" }, data(c.channel_name || c.scene)), el("td", { class: "t" }, data(c.promoter)),
      el("td", { class: "t" }, t(isPerm(c) ? "qr.kind.perm" : "qr.kind.temp")), el("td", { class: "t" }, when(c.created_at)),
      el("td", { class: "t" }, isPerm(c) ? t("qr.never") : when(c.expires_at)),
      el("td", { class: "t" },
        el("button", { class: "link", type: "button", "data-action": "preview", on: { click: guarded(() => preview(c, $("#qr-view"))) } }, t("qr.preview")),
        el("button", { class: "link", type: "button", "data-action": "png", on: { click: guarded(() => download("GET", `/api/qrcodes/${c.id}/image.png`, qrName(c) + ".png")) } }, t("qr.png")),
        el("button", { class: "link", type: "button", "data-action": "svg", on: { click: guarded(() => download("GET", `/api/qrcodes/${c.id}/image.svg`, qrName(c) + ".svg")) } }, t("qr.svg")))));
    renderTable($("#qr-table"), head, rows, null);
    $("#qr-empty").hidden = state.codes.length > 0;
  }

  /* The code's SVG fetched with the token, shown from a blob: URL. */
  async function codeImage(c) {
    const blob = await (await api("GET", `/api/qrcodes/${c.id}/image.svg`)).blob();
    return el("img", { src: URL.createObjectURL(blob), alt: c.url || "", "data-id": c.id });
  }

  async function preview(c, box) {
    box.querySelectorAll("img").forEach((i) => URL.revokeObjectURL(i.src));
    box.replaceChildren(await codeImage(c), el("p", { translate: "no" }, (c.channel_name || c.scene) + (c.promoter ? " · " + c.promoter : "")));
    box.hidden = false;
  }

  async function createCode(ev) {
    ev.preventDefault();
    const kind = $("#qr-kind").value;
    const body = { scene: $("#qr-scene").value, kind };
    if (kind === "temp") body.expire_seconds = Math.round(Number($("#qr-days").value || 30) * 86400);
    const c = await (await api("POST", "/api/qrcodes", body)).json();
    notice(t("qr.created", { id: c.id, scene: c.scene }));
    const box = $("#qr-new");
    box.replaceChildren(el("p", { translate: "no" }, c.url), el("button", { class: "link", type: "button", "data-action": "png",
      on: { click: guarded(() => download("GET", `/api/qrcodes/${c.id}/image.png`, qrName(c) + ".png")) } }, t("qr.png")));
    box.dataset.id = c.id;
    box.dataset.url = c.url;
    box.hidden = false;
    await guarded(loadQrcodes)();
  }

  function selectedCodes() {
    const ids = [...document.querySelectorAll("#qr-table tbody input[type=checkbox]:checked")].map((b) => Number(b.value));
    return state.codes.filter((c) => ids.includes(c.id));
  }

  async function zipCodes() {
    const sel = selectedCodes();
    if (!sel.length) return notice(t("qr.none_selected"));
    await download("POST", "/api/qrcodes/zip", `wxscene-qrcodes-${today()}.zip`, { ids: sel.map((c) => c.id) });
  }

  /* The A4 sheet: each selected code with its channel name and promoter;
   * the print stylesheet prints only this. */
  async function openSheet() {
    const sel = selectedCodes();
    if (!sel.length) return notice(t("qr.none_selected"));
    const items = [];
    for (const c of sel)
      items.push(el("div", { class: "sheet-item", "data-id": c.id }, await codeImage(c),
        el("div", { class: "n", translate: "no" }, c.channel_name || c.scene),
        el("div", { class: "p", translate: "no" }, c.promoter || "")));
    $("#sheet-grid").replaceChildren(...items);
    $("#qr-create").hidden = $("#qr-list").hidden = true;
    $("#sheet").hidden = false;
  }
  function closeSheet() {
    $("#sheet-grid").querySelectorAll("img").forEach((i) => URL.revokeObjectURL(i.src));
    $("#sheet-grid").replaceChildren();
    $("#sheet").hidden = true;
    $("#qr-create").hidden = $("#qr-list").hidden = false;
  }

  /* ---- promoters ---- */

  async function loadPromoters() {
    const j = await getJSON("/api/promoters");
    const d = j.retention_days || (state.config && state.config.retention_days) || 30;
    $("#pr-range").textContent = (j.since && j.until) ? j.since + " – " + j.until : "";
    const head = [[t("pr.promoter")], [t("col.channels"), null, t("pr.channels_help")], [t("pr.brought"), null, t("pr.brought_help")],
      [t("pr.retained"), null, t("pr.retained_help", { days: d })], [t("pr.unsubs"), null, t("pr.unsubs_help")],
      [t("pr.flag"), "t", t("pr.flag_help")], [t("pr.link"), "t", t("pr.link_help")], [t("col.actions"), "t"]];
    const rows = (j.promoters || []).map((p) => {
      const r = p.retention || {};
      const ret = (r.rate === null || r.rate === undefined) ? el("span", { class: "muted" }, t("common.none"))
        : el("span", { title: t("dash.of", { a: r.retained, b: r.eligible }) }, fmt(p.retained_fans) + " (" + Math.round(r.rate * 100) + "%)");
      const link = p.link ? t("pr.link_since", { date: when(p.link.created_at) }) : t("pr.link_none");
      return el("tr", { "data-promoter": p.promoter }, el("td", { class: "t" }, data(p.promoter)), td(p.channels), td(p.fans_brought),
        td(ret), td(p.unsubscribes),
        el("td", { class: "t" }, p.suspicious ? el("span", { class: "flag", title: flagText(p) }, t("pr.suspicious")) : ""),
        el("td", { class: "t", "data-link": p.link ? "yes" : "no" }, link),
        el("td", { class: "t" },
          el("button", { class: "link", type: "button", "data-action": "make-link", on: { click: guarded(() => makeLink(p)) } }, t(p.link ? "pr.link_new" : "pr.link_make")),
          p.link ? el("button", { class: "link", type: "button", "data-action": "revoke-link", on: { click: guarded(() => revokeLink(p)) } }, t("pr.link_revoke")) : null));
    });
    renderTable($("#pr-table"), head, rows, null);
    $("#pr-empty").hidden = rows.length > 0;
  }

  const linkPath = (name) => `/api/promoters/${encodeURIComponent(name)}/link`;

  async function makeLink(p) {
    if (p.link && !(await confirmDialog(t("pr.link_new"), t("pr.link_replace", { name: p.promoter }), t("pr.link_new")))) return;
    const j = await (await api("POST", linkPath(p.promoter))).json();
    if (j.url.startsWith("/")) j.url = location.origin + j.url; /* no [admin] public_url: this origin */
    const input = el("input", { type: "text", readonly: true, value: j.url, id: "pr-link-url", translate: "no" });
    const copied = el("span", { class: "muted", role: "status" });
    const copy = el("button", { type: "button", id: "pr-link-copy", on: { click: async () => {
      input.select();
      try { await navigator.clipboard.writeText(j.url); } catch (e) { document.execCommand("copy"); }
      copied.textContent = t("pr.link_copied");
    } } }, t("pr.link_copy"));
    $("#pr-link").replaceChildren(el("p", {}, t("pr.link_made", { name: p.promoter })), el("div", { class: "link-box" }, input, copy, copied));
    $("#pr-link").hidden = false;
    await loadPromoters();
  }

  async function revokeLink(p) {
    if (!(await confirmDialog(t("pr.link_revoke"), t("pr.link_revoke_confirm", { name: p.promoter }), t("pr.link_revoke")))) return;
    await api("DELETE", linkPath(p.promoter));
    $("#pr-link").hidden = true;
    notice(t("pr.link_revoked", { name: p.promoter }));
    await loadPromoters();
  }

  /* ---- navigation ---- */

  const PAGES = { dashboard: loadDashboard, channels: loadChannels, qrcodes: loadQrcodes, promoters: loadPromoters };

  function pageFromHash() {
    const m = /^#\/(\w+)/.exec(location.hash);
    return m && PAGES[m[1]] ? m[1] : "dashboard";
  }

  /* Shows the page named in the address and loads its data. */
  async function route() {
    const page = pageFromHash();
    state.page = page;
    document.querySelectorAll("[data-page]").forEach((p) => { p.hidden = p.dataset.page !== page; });
    document.querySelectorAll("[data-nav]").forEach((a) => {
      if (a.dataset.nav === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    $("#app-error").hidden = true;
    if (page !== "qrcodes") closeSheet();
    document.body.dataset.state = "loading";
    document.body.dataset.view = page;
    try {
      await PAGES[page]();
      $("#app").hidden = false; $("#login").hidden = true;
      document.body.dataset.state = "ready";
    } catch (e) {
      if (e instanceof AuthError) { sessionStorage.removeItem(KEY); showLogin(e.message); return; }
      $("#app").hidden = false; $("#login").hidden = true;
      $("#status").textContent = "";
      showError(e);
    }
  }

  function applyLanguage() {
    I18N.apply();
    document.title = t("app.title");
    document.querySelectorAll("[data-days]").forEach((b) => { b.textContent = t("dash.days", { n: b.dataset.days }); });
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  function wire() {
    $("#login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, $("#token").value.trim());
      route();
    });
    $("#range-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.since = $("#since").value; state.until = $("#until").value;
      route();
    });
    document.querySelectorAll("[data-days]").forEach((b) => b.addEventListener("click", () => {
      const until = $("#until").value || today();
      const d = new Date(until + "T00:00:00Z");
      d.setUTCDate(d.getUTCDate() - (Number(b.dataset.days) - 1));
      state.since = isoDay(d); state.until = until;
      route();
    }));
    $("#csv").addEventListener("click", guarded(() => {
      const by = $("#csv-by").value;
      return download("GET", statsQuery(by, { format: "csv", bom: "1" }), `wxscene-${by}-${state.since}-${state.until}.csv`);
    }));
    $("#scene-pick").addEventListener("change", guarded(() => loadSceneChart([...$("#scene-pick").options].map((o) => ({ scene: o.value, name: o.textContent })))));
    $("#logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(""); });
    document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => {
      I18N.set(b.dataset.lang);
      applyLanguage();
      if (!$("#app").hidden) route();
    }));
    $("#ch-search").addEventListener("input", renderChannelList);
    $("#ch-promoter").addEventListener("change", renderChannelList);
    $("#ch-campaign").addEventListener("change", () => { markData($("#ch-campaign")); renderChannelList(); });
    $("#f-campaign").addEventListener("change", () => markData($("#f-campaign")));
    $("#cp-form").addEventListener("submit", guarded(addCampaign));
    for (const f of ["#cp-name", "#cp-note"]) $(f).addEventListener("input", () => { $("#cp-error").hidden = true; });
    $("#campaign-pick").addEventListener("change", guarded(loadCampaignChart));
    $("#ch-archived").addEventListener("change", guarded(loadChannels));
    $("#ch-add").addEventListener("click", () => openChannelForm(null));
    $("#ch-form").addEventListener("submit", saveChannel);
    $("#ch-form-cancel").addEventListener("click", () => $("#ch-dialog").close());
    $("#import-file").addEventListener("change", () => {
      const f = $("#import-file").files[0];
      $("#import-name").textContent = f ? f.name : "";
    });
    $("#import-check").addEventListener("click", guarded(() => importCsv(true)));
    $("#import-do").addEventListener("click", guarded(() => importCsv(false)));
    $("#template").addEventListener("click", guarded(() => download("GET", "/api/channels/template.csv", "wxscene-channels-template.csv")));
    $("#qr-form").addEventListener("submit", guarded(createCode));
    $("#qr-kind").addEventListener("change", () => { $("#qr-days").disabled = $("#qr-kind").value === "perm"; });
    $("#qr-expiring").addEventListener("change", guarded(loadQrcodes));
    $("#qr-zip").addEventListener("click", guarded(zipCodes));
    $("#qr-sheet").addEventListener("click", guarded(openSheet));
    $("#sheet-print").addEventListener("click", () => window.print());
    $("#sheet-back").addEventListener("click", closeSheet);
    window.addEventListener("hashchange", () => { notice(""); if (token()) route(); });
  }

  /* The account's settings (no token needed): language and time zone. */
  async function loadConfig() {
    try {
      const r = await fetch("/api/config", { cache: "no-store" });
      if (r.ok) state.config = await r.json();
    } catch (e) { /* older server: the browser's language and zone */ }
    I18N.init(state.config && state.config.lang);
    applyLanguage();
  }

  async function start() {
    wire();
    // A token handed over in the fragment (#token=...) is taken once and
    // removed from the address bar; fragments never reach the server.
    const frag = new URLSearchParams(location.hash.slice(1));
    if (frag.has("token")) {
      sessionStorage.setItem(KEY, frag.get("token"));
      if (frag.has("since")) state.since = frag.get("since");
      if (frag.has("until")) state.until = frag.get("until");
      history.replaceState(null, "", location.pathname + location.search);
    }
    await loadConfig();
    if (token()) route(); else showLogin("");
  }
  start();
})();
