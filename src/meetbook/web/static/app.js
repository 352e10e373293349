// meetbook: progressive enhancement only. Every form works without this file.
(function () {
  "use strict";

  // Text in the page's language: the template puts the translation in a data attribute
  // (`data-text-on="..."`); English is the fallback. `%(name)s` is filled from `values`.
  function say(element, key, english, values) {
    const text = (element && element.dataset["text" + key]) || english;
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && name in values ? values[name] : whole;
    });
  }

  // Answer a request without a full page load: POST the form, then swap in <main> from
  // the page the server redirects to (the same POST-redirect-GET the plain form does).
  async function submitInPlace(form, submitter) {
    const button = submitter || form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    let response, html;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      html = await response.text();
    } catch (error) {
      form.submit(); // the network failed: fall back to the plain form
      return;
    }
    const url = new URL(response.url);
    const page = new DOMParser().parseFromString(html, "text/html");
    const main = page.querySelector("main");
    if (url.pathname === "/login" || !main) {
      window.location.assign(response.url);
      return;
    }
    document.querySelector("main").replaceWith(main);
    document.title = page.title;
    if (url.href !== window.location.href) history.pushState(null, "", url.href);
    const message = main.querySelector(".alert") || main;
    if (!message.hasAttribute("tabindex")) message.setAttribute("tabindex", "-1");
    message.focus();
    enhance(main);
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
    if (!window.fetch || !window.DOMParser) return;
    event.preventDefault();
    submitInPlace(form, event.submitter);
  });

  function enhance(root) {
    // "Request a meeting": choosing a team reloads the member list at once.
    root.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
      form.querySelectorAll("[data-js-hide]").forEach(function (el) { el.hidden = true; });
      form.addEventListener("change", function () { form.requestSubmit(); });
    });

    // Say in whose clock the date is entered as soon as the teammate is picked.
    root.querySelectorAll("select[data-zone-select]").forEach(function (select) {
      const hint = root.querySelector("[data-zone-hint]");
      if (!hint) return;
      select.addEventListener("change", function () {
        const option = select.selectedOptions[0];
        if (!option || !option.dataset.zone) return;
        hint.textContent = say(hint, "Template", "Enter it as %(name)s\u2019s clock shows it: %(zone)s (%(offset)s).", {
          name: option.dataset.name, zone: option.dataset.zone, offset: option.dataset.offset,
        });
      });
    });

    // Settings: offer the zone this device is in.
    root.querySelectorAll("[data-detect-zone]").forEach(function (button) {
      const select = document.getElementById(button.dataset.detectZone);
      let zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
      if (!select || !zone || select.value === zone) return;
      if (!select.querySelector('option[value="' + CSS.escape(zone) + '"]')) return;
      button.textContent = say(button, "Template", "Use this device\u2019s timezone (%(zone)s)", { zone: zone });
      button.hidden = false;
      button.addEventListener("click", function () { select.value = zone; select.focus(); });
    });

    // A new API token: copy it in one click.
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      const input = document.getElementById(button.dataset.copy);
      if (!input || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(input.value).then(function () { button.textContent = say(button, "Done", "Copied"); });
      });
    });

    root.querySelectorAll("[data-push]").forEach(setUpPush);
  }

  function base64UrlToBytes(text) {
    const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), function (c) { return c.charCodeAt(0); });
  }

  async function saveSubscription(box, subscription) {
    const response = await fetch("/settings/push-subscription", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf },
      body: JSON.stringify(subscription.toJSON()),
    });
    if (!response.ok) {
      throw new Error(say(box, "Refused", "The server refused the subscription (%(status)s).", { status: response.status }));
    }
  }

  async function setUpPush(box) {
    const button = box.querySelector("[data-push-button]");
    const status = box.querySelector("[data-push-status]");
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      status.textContent = say(box, "Unsupported", "This browser cannot show meetbook notifications.");
      return;
    }
    const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    const existing = await registration.pushManager.getSubscription();
    if (existing && Notification.permission === "granted") {
      status.textContent = say(box, "On", "Notifications are on in this browser.");
      saveSubscription(box, existing).catch(function () {});
      return;
    }
    if (Notification.permission === "denied") {
      status.textContent = say(box, "Blocked", "Notifications are blocked for this site; allow them in the browser's site settings.");
      return;
    }
    status.textContent = "";
    button.hidden = false;
    button.addEventListener("click", async function () {
      button.disabled = true;
      try {
        if ((await Notification.requestPermission()) !== "granted") {
          status.textContent = say(box, "Denied", "Notifications were not allowed.");
          return;
        }
        const subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: base64UrlToBytes(box.dataset.vapidKey),
        });
        await saveSubscription(box, subscription);
        button.hidden = true;
        status.textContent = say(box, "On", "Notifications are on in this browser.");
      } catch (error) {
        status.textContent = say(box, "Failed", "Could not turn on notifications: %(error)s", { error: error.message });
      } finally {
        button.disabled = false;
      }
    });
  }

  // Keep the service worker current once the person has allowed notifications.
  if ("serviceWorker" in navigator && "Notification" in window && Notification.permission === "granted") {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }

  window.addEventListener("popstate", function () { window.location.reload(); });
  enhance(document);
})();
