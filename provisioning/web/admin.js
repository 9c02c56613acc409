// pi-ata web admin: live refresh and virtual-phone buttons. Served as a static file because the
// Content-Security-Policy forbids inline script. Values are written with textContent only, never
// as HTML. Every page works without this script (plain forms, manual reload).
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function applyDisplay(display) {
    for (const [key, text] of Object.entries(display)) {
      for (const el of document.querySelectorAll('[data-key="' + CSS.escape(key) + '"]')) {
        if (el.textContent !== text) el.textContent = text;
        if (el.hasAttribute("data-state")) el.setAttribute("data-state", text);
      }
    }
  }

  function startRefresh(live) {
    const src = live.getAttribute("data-src");
    const period = parseInt(live.getAttribute("data-refresh-ms"), 10) || 2000;
    let busy = false;
    async function tick() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(src, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (response.status === 401) {
          window.location.assign("/login");
          return;
        }
        if (!response.ok) return;
        const data = await response.json();
        const ports = live.getAttribute("data-ports");
        if (ports !== null && data.display["lines.ports"] !== ports) {
          window.location.reload(); // the set of ports changed: re-render the page
          return;
        }
        applyDisplay(data.display);
        live.classList.remove("stale");
      } catch (err) {
        live.classList.add("stale");
      } finally {
        busy = false;
      }
    }
    live.refreshNow = tick;
    window.setInterval(tick, period);
  }

  function asyncForms(live) {
    for (const form of document.querySelectorAll("form.async")) {
      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        const body = new FormData(form, event.submitter);
        const card = form.closest("[data-port]");
        const errorBox = card ? card.querySelector(".sim-error") : null;
        try {
          const response = await fetch(form.action, {
            method: "POST",
            body: body,
            headers: { Accept: "application/json", "X-CSRF-Token": csrf },
            credentials: "same-origin",
          });
          const data = await response.json().catch(function () {
            return { ok: false, error: "HTTP " + response.status };
          });
          if (errorBox) errorBox.textContent = data.ok ? "" : data.error || "failed";
        } catch (err) {
          if (errorBox) errorBox.textContent = "no answer from the device";
        }
        if (live && live.refreshNow) live.refreshNow();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const live = document.getElementById("live");
    if (live) startRefresh(live);
    asyncForms(live);
  });
})();
