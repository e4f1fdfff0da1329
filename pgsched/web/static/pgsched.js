// pgsched dashboard: live refresh with ETags, the refresh / time zone / theme
// pickers, and a few keys. Served as a file (no inline script, see the CSP).
(function () {
  "use strict";

  var REFRESH_KEY = "pgsched.refresh";
  var YEAR = 60 * 60 * 24 * 365;
  var timer = null;

  function setCookie(name, value) {
    document.cookie = name + "=" + encodeURIComponent(value) + "; path=/; max-age=" + YEAR + "; SameSite=Strict";
  }

  function live() { return document.querySelector("[data-live]"); }

  function busy() {
    // Never swap the page under someone typing or choosing in it.
    var active = document.activeElement;
    var region = live();
    return !!(region && active && region.contains(active) &&
      /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName));
  }

  function refresh() {
    var region = live();
    if (region && window.htmx && !document.hidden && !busy()) {
      window.htmx.trigger(region, "pgsched:refresh");
    }
  }

  function schedule() {
    var picker = document.querySelector("[data-refresh-picker]");
    var seconds = picker ? parseInt(picker.value, 10) : 0;
    if (timer) { clearInterval(timer); timer = null; }
    // Paused, or the tab is hidden: no request at all until it shows again.
    if (seconds > 0 && !document.hidden) { timer = setInterval(refresh, seconds * 1000); }
  }

  function setUpRefresh() {
    var picker = document.querySelector("[data-refresh-picker]");
    if (!picker) { return; }
    var saved = window.localStorage.getItem(REFRESH_KEY);
    if (saved !== null && picker.querySelector('option[value="' + saved + '"]')) { picker.value = saved; }
    picker.addEventListener("change", function () {
      window.localStorage.setItem(REFRESH_KEY, picker.value);
      schedule();
    });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); }
      schedule();
    });
    schedule();
  }

  function setUpEtags() {
    document.body.addEventListener("htmx:configRequest", function (event) {
      var region = live();
      if (event.detail.elt === region && region.dataset.etag) {
        event.detail.headers["If-None-Match"] = region.dataset.etag;
      }
    });
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var region = live();
      if (event.detail.elt !== region) { return; }
      var xhr = event.detail.xhr;
      if (xhr.status === 304) {
        event.detail.shouldSwap = false;
        event.detail.isError = false;
        return;
      }
      var etag = xhr.getResponseHeader("ETag");
      if (etag) { region.dataset.etag = etag; }
      // Keep the "Show SQL" boxes someone opened open.
      region.dataset.open = Array.prototype.map.call(
        region.querySelectorAll("details[open][id]"), function (d) { return d.id; }).join(" ");
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var region = live();
      if (event.detail.elt !== region || !region.dataset.open) { return; }
      region.dataset.open.split(" ").forEach(function (id) {
        var details = document.getElementById(id);
        if (details) { details.open = true; }
      });
    });
  }

  function setUpZone() {
    var picker = document.querySelector("[data-zone-picker]");
    if (!picker) { return; }
    var browser = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (browser && !picker.querySelector('option[value="' + browser + '"]')) {
      var option = document.createElement("option");
      option.value = browser;
      option.textContent = browser + " (this browser)";
      picker.insertBefore(option, picker.firstChild);
    }
    picker.addEventListener("change", function () {
      setCookie("pgsched_tz", picker.value);
      window.location.reload();
    });
  }

  function dark() {
    var chosen = document.documentElement.getAttribute("data-theme");
    if (chosen) { return chosen === "dark"; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function setUpTheme() {
    var button = document.querySelector("[data-theme-toggle]");
    if (!button) { return; }
    button.setAttribute("aria-pressed", dark() ? "true" : "false");
    button.addEventListener("click", function () {
      var theme = dark() ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", theme);
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
      setCookie("pgsched_theme", theme);
    });
  }

  function setUpConfirmations() {
    document.addEventListener("submit", function (event) {
      var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
      if (question && !window.confirm(question)) { event.preventDefault(); }
    }, true);
  }

  function setUpKeys() {
    document.addEventListener("keydown", function (event) {
      var typing = /^(INPUT|SELECT|TEXTAREA)$/.test((document.activeElement || {}).tagName || "");
      if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
      if (event.key === "/") {
        var search = document.querySelector('[data-shortcut="/"]');
        if (search) { event.preventDefault(); search.focus(); }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpEtags();
    setUpRefresh();
    setUpZone();
    setUpTheme();
    setUpConfirmations();
    setUpKeys();
  });
})();
