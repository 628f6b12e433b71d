// The promoter's own page: reads /p/TOKEN.json (same origin, no token
// other than the one in the address) and shows it as text only.
"use strict";
(function () {
  var zh = /^zh/i.test(navigator.language || "");
  var T = zh ? {
    title: "推广员业绩", range: "统计区间", name: "渠道", scans: "扫码", new_fans: "新关注",
    unsubscribes: "取消关注", net_fans: "净增", retained_fans: "留存", total: "合计",
    loading: "加载中…", gone: "链接无效或已被撤销。", failed: "加载失败。"
  } : {
    title: "Promoter results", range: "Dates", name: "Channel", scans: "Scans", new_fans: "New fans",
    unsubscribes: "Unsubscribes", net_fans: "Net fans", retained_fans: "Retained", total: "Total",
    loading: "Loading…", gone: "This link is unknown or was revoked.", failed: "Could not load."
  };
  var cols = ["scans", "new_fans", "unsubscribes", "net_fans", "retained_fans"];
  function cell(tr, text) { var td = document.createElement("td"); td.textContent = String(text); tr.appendChild(td); }
  function row(tbody, label, o) { var tr = document.createElement("tr"); cell(tr, label); cols.forEach(function (k) { cell(tr, o[k]); }); tbody.appendChild(tr); }
  function show(d) {
    document.getElementById("title").textContent = T.title + ": " + d.promoter;
    document.getElementById("range").textContent = T.range + ": " + d.since + " – " + d.until + " (" + d.timezone + ")";
    var table = document.getElementById("channels");
    table.querySelectorAll("th").forEach(function (th) { th.textContent = T[th.getAttribute("data-k")]; });
    var body = table.querySelector("tbody"), foot = table.querySelector("tfoot");
    d.channels.forEach(function (c) { row(body, c.name, c); });
    row(foot, T.total, d.totals);
    table.hidden = false;
    document.getElementById("status").textContent = "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.lang = zh ? "zh-CN" : "en";
    var status = document.getElementById("status");
    status.textContent = T.loading;
    fetch(location.pathname + ".json" + location.search, { credentials: "omit" })
      .then(function (r) { if (!r.ok) throw r.status; return r.json(); })
      .then(show)
      .catch(function (e) { status.textContent = e === 404 ? T.gone : T.failed; });
  });
})();
