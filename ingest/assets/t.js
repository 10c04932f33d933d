/* Luister tracker: no cookies, no storage. https://… /t.js?site=ID, served by luister-ingest. */
(function (w, d, n) {
  var C = __LUISTER_CONFIG__, s = d.currentScript, L = w.location;
  var site = C.site || (s && s.getAttribute("data-site"));
  if (!site || !s) return;
  if (C.dnt === "respect" && (n.doNotTrack === "1" || w.doNotTrack === "1" || n.globalPrivacyControl)) return;
  var E = new URL(s.src).origin + "/v1/events", last;
  function send(o) {
    o.site = site; o.url = L.href; o.screen_width = w.screen.width; o.language = n.language; o.ts = Date.now();
    var b = JSON.stringify(o);
    if (!(n.sendBeacon && n.sendBeacon(E, b))) fetch(E, { method: "POST", body: b, keepalive: true, credentials: "omit" });
  }
  function view() {
    if (last === L.href) return;
    var ref = last || d.referrer || null;
    last = L.href;
    var nf = s.hasAttribute("data-not-found") || !!d.querySelector("[data-luister-not-found]");
    send({ type: "pageview", title: d.title, referrer: ref, not_found: nf || undefined });
    var q = new URL(L.href).searchParams.get(C.search_param || "q");
    if (q) {
      var r = d.querySelector("[data-luister-results]"), c = r ? parseInt(r.getAttribute("data-luister-results"), 10) : NaN;
      send({ type: "search", query: q, result_count: isNaN(c) ? null : c });
    }
  }
  function act(el) {
    var a = el.getAttribute("data-luister-action");
    (C.contact_selectors || []).forEach(function (c) { if (!a && el.matches(c.selector)) a = c.action; });
    return a;
  }
  var push = history.pushState;
  history.pushState = function () { push.apply(this, arguments); view(); };
  w.addEventListener("popstate", view);
  d.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("a,button,[data-luister-action]");
    if (!el) return;
    var name = act(el), h = el.getAttribute("href") || "";
    if (!name && el.href) {
      if (/^tel:/i.test(h)) name = "contact:phone";
      else if (/^mailto:/i.test(h)) name = "contact:email";
      else if (/\.(pdf|docx?|xlsx?|odt|ods|zip)$/i.test(el.pathname)) name = "download";
      else if (el.host !== L.host && /^https?:$/.test(el.protocol)) name = "outlink";
    }
    if (name) send({ type: "action", name: name, target: el.href || h || null });
  }, true);
  d.addEventListener("submit", function (e) {
    var f = e.target, name = act(f);
    if (!name && !f.querySelector("[name='" + (C.search_param || "q") + "']") && f.getAttribute("role") !== "search") name = "contact:form";
    if (name) send({ type: "action", name: name, target: f.getAttribute("action") || L.pathname });
  }, true);
  view();
})(window, document, navigator);
