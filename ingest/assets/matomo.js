/* Luister's tracker for Matomo snippets (served as matomo.js and piwik.js by luister-ingest).
   It reads the page's _paq commands and sends Matomo Tracking API requests to the
   tracker URL the snippet sets. No cookies and no storage, whatever the page asks. */
(function (w, d, n) {
  if (w.Matomo && w.Matomo.luister) return;
  var L = w.location;
  var DOWNLOADS = "7z|aac|apk|arc|arj|asf|asx|avi|azw3|bin|csv|deb|dmg|doc|docx|epub|exe|flv|gif|gz|gzip|hqx|ico|ics|jar|jpeg|jpg|js|md5|mobi|mov|movie|mp2|mp3|mp4|mpg|mpeg|msi|msp|odb|odf|odg|ods|odt|ogg|ogv|pdf|phps|png|ppt|pptx|qt|qtm|ra|ram|rar|rpm|rtf|sea|sha|sha1|sig|sit|tar|tbz|tgz|torrent|txt|wav|webm|wma|wmv|xls|xlsx|xml|xz|z|zip";
  // Commands that configure the tracker run before the others of the same queue, as in
  // Matomo, so a snippet may push trackPageView before setTrackerUrl.
  var FIRST = ["setTrackerUrl", "setSiteId", "setCustomUrl", "setDocumentTitle", "setReferrerUrl",
    "setDomains", "setDoNotTrack", "disableCookies", "requireConsent", "setConsentGiven",
    "rememberConsentGiven", "setDownloadExtensions", "addDownloadExtensions"];

  function text(v) { return v === undefined || v === null ? "" : String(v); }

  function Tracker(trackerUrl, siteId) {
    var t = this, c = {
      url: trackerUrl || "", site: siteId === undefined ? "" : text(siteId), customUrl: "", title: "",
      ref: d.referrer || "", domains: [L.hostname], downloads: DOWNLOADS, ignore: [], dims: {},
      dnt: false, consent: true, held: [], linkClicks: false, pv: "", links: false, content: false
    };
    function pageUrl() { return c.customUrl ? new URL(c.customUrl, L.href).href : L.href; }
    function local(host) {
      host = host.toLowerCase();
      return c.domains.some(function (dom) {
        dom = dom.toLowerCase().replace(/^\*\./, "").split("/")[0];
        return host === dom || host.slice(-dom.length - 1) === "." + dom;
      });
    }
    function send(params) {
      if (!c.url || c.site === "") return;
      if (c.dnt && (n.doNotTrack === "1" || w.doNotTrack === "1" || n.globalPrivacyControl)) return;
      if (!c.consent) { c.held.push(params); return; }
      var now = new Date(), q = ["idsite=" + encodeURIComponent(c.site), "rec=1",
        "r=" + String(Math.random()).slice(2, 8), "h=" + now.getHours(), "m=" + now.getMinutes(),
        "s=" + now.getSeconds(), "url=" + encodeURIComponent(pageUrl()), "send_image=0"];
      if (c.ref) q.push("urlref=" + encodeURIComponent(c.ref));
      if (c.pv) q.push("pv_id=" + c.pv);
      if (w.screen) q.push("res=" + w.screen.width + "x" + w.screen.height);
      Object.keys(c.dims).forEach(function (k) { q.push("dimension" + k + "=" + encodeURIComponent(c.dims[k])); });
      Object.keys(params).forEach(function (k) {
        if (params[k] !== undefined && params[k] !== null && params[k] !== "") q.push(k + "=" + encodeURIComponent(params[k]));
      });
      var body = q.join("&");
      // A beacon, else one fetch without credentials: never a second copy of a request.
      var blob = w.Blob ? new Blob([body], { type: "application/x-www-form-urlencoded; charset=UTF-8" }) : body;
      if (!(n.sendBeacon && n.sendBeacon(c.url, blob))) {
        fetch(c.url, { method: "POST", body: body, keepalive: true, credentials: "omit",
          headers: { "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8" } });
      }
    }
    function contentOf(node) {
      var name = node.getAttribute("data-content-name"), piece = node.getAttribute("data-content-piece"),
        target = node.getAttribute("data-content-target");
      var media = node.querySelector && node.querySelector("img,video,audio");
      if (!piece && media) piece = media.getAttribute("src");
      if (!target) { var a = node.closest("a") || (node.querySelector && node.querySelector("a")); if (a) target = a.href; }
      if (!name) name = piece || "Unknown";
      return { c_n: name, c_p: piece || "Unknown", c_t: target || "" };
    }
    function contentNodes(root) {
      return Array.prototype.slice.call((root || d).querySelectorAll("[data-track-content],.matomoTrackContent,.piwikTrackContent"));
    }
    function onClick(e) {
      var el = e.target && e.target.closest && e.target.closest("a,area");
      if (!el || !el.href) return;
      var block = el.closest && el.closest("[data-track-content],.matomoTrackContent,.piwikTrackContent");
      if (block && c.content) { var ct = contentOf(block); ct.c_i = "click"; ct.ca = 1; send(ct); }
      if (!c.links) return;
      var cls = " " + (el.className || "") + " ";
      if (/ (matomo|piwik)_ignore /.test(cls) || c.ignore.some(function (k) { return cls.indexOf(" " + k + " ") >= 0; })) return;
      if (!/^https?:$/.test(el.protocol)) return;
      var ext = (el.pathname.split(".").pop() || "").toLowerCase();
      if (/ (matomo|piwik)_download /.test(cls) || el.hasAttribute("download") || new RegExp("^(" + c.downloads + ")$").test(ext)) {
        send({ download: el.href, ca: 1 });
      } else if (/ (matomo|piwik)_link /.test(cls) || !local(el.hostname)) {
        send({ link: el.href, ca: 1 });
      }
    }
    var api = {
      setTrackerUrl: function (u) { c.url = text(u); },
      setSiteId: function (id) { c.site = text(id); },
      setCustomUrl: function (u) { c.customUrl = text(u); },
      setDocumentTitle: function (title) { c.title = text(title); },
      setReferrerUrl: function (u) { c.ref = text(u); },
      setDomains: function (list) { c.domains = [L.hostname].concat(typeof list === "string" ? [list] : list || []); },
      setDoNotTrack: function (on) { c.dnt = on !== false; },
      setCustomDimension: function (id, v) { c.dims[id] = text(v); },
      deleteCustomDimension: function (id) { delete c.dims[id]; },
      setDownloadExtensions: function (ext) { c.downloads = Array.isArray(ext) ? ext.join("|") : text(ext); },
      addDownloadExtensions: function (ext) { c.downloads += "|" + (Array.isArray(ext) ? ext.join("|") : text(ext)); },
      setIgnoreClasses: function (k) { c.ignore = typeof k === "string" ? [k] : k || []; },
      requireConsent: function () { c.consent = false; },
      setConsentGiven: function () { c.consent = true; var h = c.held; c.held = []; h.forEach(send); },
      forgetConsentGiven: function () { c.consent = false; },
      enableLinkTracking: function () {
        c.links = true;
        if (!c.linkClicks) { c.linkClicks = true; d.addEventListener("click", onClick, true); d.addEventListener("auxclick", onClick, true); }
      },
      trackPageView: function (title) {
        c.pv = Math.random().toString(36).slice(2, 8);
        send({ action_name: text(title) || c.title || d.title });
        if (!c.linkClicks) { c.linkClicks = true; d.addEventListener("click", onClick, true); }
      },
      trackSiteSearch: function (keyword, category, count) {
        send({ search: text(keyword), search_cat: category ? text(category) : "", search_count: typeof count === "number" ? count : "" });
      },
      trackEvent: function (category, action, name, value) {
        if (!text(category) || !text(action)) return;
        send({ e_c: text(category), e_a: text(action), e_n: text(name), e_v: typeof value === "number" ? value : "", ca: 1 });
      },
      trackLink: function (url, type) { var p = { ca: 1 }; p[type === "download" ? "download" : "link"] = text(url); send(p); },
      trackGoal: function (id, revenue) { send({ idgoal: text(id), revenue: typeof revenue === "number" ? revenue : "" }); },
      trackContentImpression: function (name, piece, target) { send({ c_n: text(name), c_p: text(piece), c_t: text(target) }); },
      trackContentInteraction: function (interaction, name, piece, target) {
        send({ c_i: text(interaction) || "click", c_n: text(name), c_p: text(piece), c_t: text(target), ca: 1 });
      },
      trackAllContentImpressions: function () { c.content = true; contentNodes().forEach(function (b) { send(contentOf(b)); }); },
      trackVisibleContentImpressions: function () { this.trackAllContentImpressions(); },
      trackContentImpressionsWithinNode: function (node) { c.content = true; contentNodes(node).forEach(function (b) { send(contentOf(b)); }); },
      trackContentInteractionNode: function (node, interaction) {
        var b = node && node.closest && node.closest("[data-track-content],.matomoTrackContent,.piwikTrackContent");
        if (b) { var ct = contentOf(b); ct.c_i = text(interaction) || "click"; ct.ca = 1; send(ct); }
      },
      getSiteId: function () { return c.site; },
      getTrackerUrl: function () { return c.url; },
      getCurrentUrl: function () { return pageUrl(); },
      getCustomDimension: function (id) { return c.dims[id]; },
      hasCookies: function () { return false; },
      areCookiesEnabled: function () { return false; }
    };
    // Accepted so that snippets work unchanged; Luister never sets cookies or keeps
    // anything in the browser, and always sends the same way.
    ["disableCookies", "setRequestMethod", "setRequestContentType", "alwaysUseSendBeacon",
      "disableAlwaysUseSendBeacon", "enableHeartBeatTimer", "disableBrowserFeatureDetection",
      "requireCookieConsent", "setCookieConsentGiven", "rememberCookieConsentGiven", "forgetCookieConsentGiven",
      "rememberConsentGiven", "setCookieDomain", "setCookiePath", "setCookieNamePrefix", "setSecureCookie",
      "setVisitorCookieTimeout", "setSessionCookieTimeout", "setReferralCookieTimeout", "setUserId",
      "resetUserId", "setVisitorId", "setLinkTrackingTimer", "enableJSErrorTracking", "disablePerformanceTracking",
      "setLinkClasses", "setDownloadClasses", "setExcludedQueryParams", "enableCrossDomainLinking",
      "setCustomVariable", "deleteCustomVariables", "setGenerationTimeMs", "setPagePerformanceTiming",
      "appendToTrackingUrl", "setApiUrl", "setAPIUrl", "ping", "enableFileTracking"].forEach(function (k) {
      if (!api[k]) api[k] = function () {};
    });
    api.rememberConsentGiven = api.setConsentGiven;
    Object.keys(api).forEach(function (k) { t[k] = api[k]; });
  }

  var trackers = [];
  function first() { return trackers[0] || (trackers[0] = new Tracker("", "")); }
  function run(cmds) {
    var rest = [];
    cmds.forEach(function (cmd) {
      if (cmd && typeof cmd[0] === "string" && FIRST.indexOf(cmd[0]) >= 0) apply(cmd);
      else rest.push(cmd);
    });
    rest.forEach(apply);
  }
  function apply(cmd) {
    if (typeof cmd === "function") { cmd.call(first()); return; }
    if (!cmd || !cmd.length) return;
    var name = cmd[0], args = Array.prototype.slice.call(cmd, 1);
    if (typeof name === "function") { name.apply(first(), args); return; }
    if (name === "addTracker") { trackers.push(new Tracker(args[0], args[1])); return; }
    var targets = trackers.length ? trackers : [first()];
    targets.forEach(function (tr) {
      if (typeof tr[name] === "function") tr[name].apply(tr, args);
      else if (w.console) w.console.warn("luister: the _paq command " + name + " is not supported; see docs/protocols.md");
    });
  }

  var queued = w._paq && w._paq.length !== undefined ? Array.prototype.slice.call(w._paq) : [];
  var M = {
    luister: true,
    getTracker: function (url, site) { return new Tracker(url, site); },
    getAsyncTracker: function (url, site) { return url ? new Tracker(url, site) : first(); },
    addTracker: function (url, site) { var tr = new Tracker(url, site); trackers.push(tr); return tr; }
  };
  w.Matomo = w.Piwik = M;
  w._paq = { push: function () { run(Array.prototype.slice.call(arguments)); return 0; } };
  run(queued);
  if (typeof w.matomoAsyncInit === "function") w.matomoAsyncInit();
  if (typeof w.piwikAsyncInit === "function") w.piwikAsyncInit();
})(window, document, navigator);
