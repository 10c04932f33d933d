/* Luister's tracker for Plausible snippets (served as /js/script*.js, /js/plausible*.js and
   /js/pa-*.js by luister-ingest). It implements Plausible's public interface: data-domain,
   data-api, window.plausible(name, {props, callback, u}), the script variants named in the
   file name, and plausible.init(options) of the newer snippet, and sends Plausible's
   engagement event (time in view, deepest scroll) when a page is hidden or left. No cookies,
   no storage. */
(function (w, d, n) {
  if (w.plausible && w.plausible.luister) return;
  var V = __LUISTER_VARIANTS__, s = d.currentScript, L = w.location;
  var queued = (w.plausible && w.plausible.q) || [], prior = w.plausible && w.plausible.o;
  var started = false, last, o = {}, eng = null;
  var FILES = ["pdf", "xlsx", "docx", "txt", "rtf", "csv", "exe", "key", "pps", "ppt", "pptx", "7z", "pkg", "rar",
    "gz", "zip", "avi", "mov", "mp4", "mpeg", "wmv", "midi", "mp3", "wav", "wma", "dmg", "odt", "ods"];

  function attr(k) { return s && s.getAttribute(k); }
  function endpoint() {
    return o.endpoint || attr("data-api") || (s ? new URL(s.src).origin + "/api/event" : "/api/event");
  }
  function domain() { return o.domain || attr("data-domain") || L.hostname; }
  function wildcard(p) {
    return new RegExp("^" + p.trim().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*/g, "\u0000").replace(/\*/g, "[^/]*").replace(/\u0000/g, ".*") + "/?$");
  }
  function excluded() {
    var path = L.pathname, inc = attr("data-include"), exc = attr("data-exclude");
    if (V.exclusions && inc && !inc.split(",").some(function (p) { return wildcard(p).test(path); })) return true;
    if (V.exclusions && exc && exc.split(",").some(function (p) { return wildcard(p).test(path); })) return true;
    return false;
  }
  function scriptProps() {
    var p = {};
    if (!s || !(V.pageview_props || V.init)) return p;
    Array.prototype.forEach.call(s.attributes, function (a) {
      if (a.name.indexOf("event-") === 0) p[a.name.slice(6).replace(/\+/g, " ")] = a.value;
    });
    if (o.customProperties) {
      var c = typeof o.customProperties === "function" ? o.customProperties() : o.customProperties;
      Object.keys(c || {}).forEach(function (k) { p[k] = c[k]; });
    }
    return p;
  }
  function trigger(name, options) {
    options = options || {};
    var done = function (r) { if (typeof options.callback === "function") options.callback(r); };
    var localHost = /^localhost$|^127(\.[0-9]+){0,2}\.[0-9]+$|^\[::1?\]$/.test(L.hostname) || L.protocol === "file:";
    if ((localHost && !(V.local || o.captureOnLocalhost)) || excluded()) { done({ status: 0 }); return; }
    var props = scriptProps();
    Object.keys(options.props || {}).forEach(function (k) { props[k] = options.props[k]; });
    var body = { n: name, u: options.u || L.href, d: domain(), r: d.referrer || null, w: w.innerWidth };
    if (Object.keys(props).length) body.p = props;
    if (V.hash || o.hashBasedRouting) body.h = 1;
    if (options.revenue) body.$ = options.revenue;
    if (options.interactive === false) body.i = false;
    if (name === "engagement") { body.sd = options.sd; body.e = options.e; delete body.w; delete body.p; }
    fetch(endpoint(), { method: "POST", headers: { "Content-Type": "text/plain" }, body: JSON.stringify(body),
      keepalive: true, credentials: "omit" })
      .then(function (r) { done({ status: r.status }); }, function () { done({ status: 0 }); });
  }
  // Engagement: the visible time since the last report and the deepest scroll of this page
  // view, reported like Plausible's script when the page is hidden, left, or replaced.
  function depth() {
    var h = Math.max(d.body ? d.body.scrollHeight : 0, d.documentElement.scrollHeight);
    return h > 0 ? Math.min(100, Math.round(100 * (w.scrollY + w.innerHeight) / h)) : 0;
  }
  function visible() { return d.visibilityState === "visible"; }
  function report() {
    if (!eng) return;
    if (eng.since) eng.ms += Date.now() - eng.since;
    eng.since = visible() ? Date.now() : 0;
    if (eng.ms >= 3000 || eng.sd > eng.sent) {
      trigger("engagement", { u: eng.u, sd: eng.sd, e: eng.ms });
      eng.sent = eng.sd; eng.ms = 0;
    }
  }
  function pageview() {
    var here = L.href;
    if (!(V.hash || o.hashBasedRouting) && last === here.split("#")[0]) return;
    if ((V.hash || o.hashBasedRouting) && last === here) return;
    last = (V.hash || o.hashBasedRouting) ? here : here.split("#")[0];
    report();
    eng = { u: here, ms: 0, since: visible() ? Date.now() : 0, sd: depth(), sent: -1 };
    trigger("pageview");
  }
  function tagged(el) {
    var props = {}, name;
    for (var e = el, depth = 0; e && e.classList && depth < 4 && !name; e = e.parentElement, depth++) {
      Array.prototype.forEach.call(e.classList, function (k) {
        var m = /^plausible-event-(.+)=(.+)$/.exec(k);
        if (!m) return;
        var key = m[1], val = m[2].replace(/\+/g, " ");
        if (key === "name") name = val; else props[key] = val;
      });
    }
    return name ? { name: name, props: props } : null;
  }
  function onClick(e) {
    if (e.type === "auxclick" && e.button !== 1) return;
    var el = e.target && e.target.closest && e.target.closest("a,button");
    if (!el) return;
    var t = (V.tagged_events || o.taggedEvents) && tagged(el);
    if (t) { trigger(t.name, { props: t.props }); return; }
    if (el.tagName !== "A" || !el.href) return;
    var ext = (el.pathname.split(".").pop() || "").toLowerCase();
    var extra = (attr("file-types") || attr("add-file-types") || "").split(",").map(function (x) { return x.trim(); });
    var types = attr("file-types") ? extra : FILES.concat(extra);
    if ((V.file_downloads || o.fileDownloads) && types.indexOf(ext) >= 0) {
      trigger("File Download", { props: { url: el.href.split("?")[0] } });
    } else if ((V.outbound_links || o.outboundLinks) && el.host && el.host !== L.host && /^https?:$/.test(el.protocol)) {
      trigger("Outbound Link: Click", { props: { url: el.href } });
    }
  }
  function onSubmit(e) {
    var t = (V.tagged_events || o.taggedEvents) && e.target && tagged(e.target);
    if (t) trigger(t.name, { props: t.props });
    else if (o.formSubmissions) trigger("Form: Submission");
  }
  function start() {
    if (started) return;
    started = true;
    d.addEventListener("click", onClick, true);
    d.addEventListener("auxclick", onClick, true);
    d.addEventListener("submit", onSubmit, true);
    w.addEventListener("scroll", function () { if (eng) eng.sd = Math.max(eng.sd, depth()); }, { passive: true });
    d.addEventListener("visibilitychange", function () { if (!visible()) report(); else if (eng) eng.since = Date.now(); });
    w.addEventListener("pagehide", report);
    if (!(V.manual || o.autoCapturePageviews === false)) {
      var push = w.history.pushState;
      if (push) {
        w.history.pushState = function () { push.apply(this, arguments); pageview(); };
        w.addEventListener("popstate", pageview);
      }
      if (V.hash || o.hashBasedRouting) w.addEventListener("hashchange", pageview);
      if (d.visibilityState === "prerender") {
        d.addEventListener("visibilitychange", function once() {
          if (d.visibilityState === "visible") { d.removeEventListener("visibilitychange", once); pageview(); }
        });
      } else pageview();
    }
    queued.forEach(function (args) { trigger.apply(null, args); });
    queued = [];
  }
  var api = function (name, options) { if (started) trigger(name, options); else queued.push([name, options]); };
  api.luister = true;
  api.init = function (options) { o = options || {}; start(); };
  w.plausible = api;
  // The newer snippet calls plausible.init() itself, possibly before this script ran
  // (its stand-in left the options in plausible.o); the classic script starts at once.
  if (!V.init) start();
  else if (prior) api.init(prior);
})(window, document, navigator);
