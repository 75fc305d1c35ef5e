// The landing page: phone hours also in the visitor's own time zone, when the browser knows it.
// The server writes today's opening and closing instants (UTC) on the element; nothing is sent back.
(function () {
  "use strict";
  function hm(date, zone) {
    return new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", timeZone: zone }).format(date);
  }
  function localise() {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      return;
    }
    if (!zone) return;
    document.querySelectorAll(".local-hours[data-opens][data-closes]").forEach(function (el) {
      var opens = new Date(el.dataset.opens);
      var closes = new Date(el.dataset.closes);
      if (isNaN(opens) || isNaN(closes)) return;
      var extra = document.createElement("span");
      extra.className = "local-hours-visitor";
      extra.textContent = " · " + hm(opens, zone) + "–" + hm(closes, zone) + " (" + el.dataset.zoneLabel + ", " + zone + ")";
      el.after(extra);
    });
  }
  // A choice that takes the reference as a form field submits straight to the target; the
  // portal is told of the choice by a beacon (a link choice is recorded by its redirect).
  function recordChoices() {
    document.querySelectorAll("form.landing-choice-form[data-record]").forEach(function (form) {
      form.addEventListener("submit", function () {
        if (!navigator.sendBeacon) return;
        var body = new FormData();
        body.append("csrfmiddlewaretoken", form.dataset.csrf || "");
        navigator.sendBeacon(form.dataset.record, body);
      });
    });
  }
  function start() {
    localise();
    recordChoices();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
