// Sign-up: preselect the browser's timezone in a `data-guess-zone` picker left unset.
// Without JavaScript the picker simply stays at "Not set (UTC)".
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  let zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
  document.querySelectorAll("select[data-guess-zone]").forEach(function (select) {
    if (!zone || select.value) return;
    if (select.querySelector('option[value="' + CSS.escape(zone) + '"]')) select.value = zone;
  });
});
