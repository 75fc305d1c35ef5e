// The sunset wizard: the autosave status line tells the truth, and the time-zone fields get a
// searchable list. Loaded as a static file (no inline scripts); the wizard works without it.
(function () {
  "use strict";

  // --- autosave: a refused or failed save says so ----------------------------------------------

  function wizardForm() {
    return document.querySelector("form.wizard");
  }

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (all, name) {
      return name in values ? values[name] : all;
    });
  }

  // The status line, replaced by "Draft not saved: <why>".
  function showNotSaved(why) {
    var form = wizardForm();
    var line = document.getElementById("autosave");
    if (!form || !line) {
      return;
    }
    var span = document.createElement("span");
    span.className = "field-error";
    span.setAttribute("data-autosave-failed", "");
    span.textContent = format(form.dataset.autosaveFailed, { why: why });
    line.replaceChildren(span);
  }

  // Why the portal refused, from its answer: the status line it sent, the refusal of its 400
  // page, or a short plain-text answer; else its status code.
  function reasonOf(xhr) {
    var form = wizardForm();
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") === 0) {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var found = doc.querySelector("[data-refusal]");
      if (found && found.textContent.trim()) {
        return found.textContent.trim();
      }
    } else if (type.indexOf("text/plain") === 0 && xhr.responseText && xhr.responseText.length < 300) {
      return xhr.responseText.trim();
    }
    return format(form.dataset.autosaveStatus, { status: String(xhr.status) });
  }

  function isAutosave(detail) {
    return detail.target && detail.target.id === "autosave";
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (!isAutosave(detail)) {
      return;
    }
    var answer = detail.xhr.responseText || "";
    if (detail.xhr.status < 400) {
      if (answer.indexOf('<p id="autosave"') !== 0) {
        // Followed a redirect to the sign-in page: the session ended, nothing was kept.
        detail.shouldSwap = false;
        showNotSaved(wizardForm().dataset.autosaveSignedOut);
      }
      return;
    }
    if (answer.indexOf('<p id="autosave"') === 0) {
      // The wizard's own refusal (400 or 422): its status line says what and why.
      detail.shouldSwap = true;
      detail.isError = false;
    } else {
      detail.shouldSwap = false;
      detail.isError = false;
      showNotSaved(reasonOf(detail.xhr));
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    if (isAutosave(event.detail)) {
      showNotSaved(wizardForm().dataset.autosaveOffline);
    }
  });

  // --- time zones: type to search, arrows to move, Enter to choose, Escape to close -------------

  var zones = null; // every zone of <datalist id="zones">, read once

  function allZones() {
    if (zones === null) {
      var list = document.getElementById("zones");
      zones = list ? Array.prototype.map.call(list.options, function (o) { return o.value; }) : [];
    }
    return zones;
  }

  // Zones whose name holds every word typed, wherever it is ("paris", "york new", "jakarta").
  function matches(text) {
    var words = text.toLowerCase().replace(/[_/]/g, " ").split(/\s+/).filter(Boolean);
    if (!words.length) {
      return [];
    }
    return allZones().filter(function (zone) {
      var name = zone.toLowerCase().replace(/[_/]/g, " ");
      return words.every(function (w) { return name.indexOf(w) !== -1; });
    });
  }

  var LIMIT = 12;
  var counter = 0;

  function enhance(input) {
    if (input.dataset.zonePicker) {
      return;
    }
    input.dataset.zonePicker = "on";
    counter += 1;
    var listId = "zone-options-" + counter;
    var list = document.createElement("ul");
    list.id = listId;
    list.className = "zone-options";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", input.closest("form").dataset.zoneListLabel || "");
    list.hidden = true;
    input.insertAdjacentElement("afterend", list);
    // The searchable list replaces the browser's own datalist suggestions.
    input.removeAttribute("list");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("aria-expanded", "false");
    var active = -1;

    function options() {
      return list.querySelectorAll("[role=option]");
    }

    function close() {
      list.hidden = true;
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      var items = options();
      if (!items.length) {
        return;
      }
      active = (index + items.length) % items.length;
      items.forEach(function (item, i) {
        item.setAttribute("aria-selected", i === active ? "true" : "false");
      });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }

    function choose(zone) {
      input.value = zone;
      close();
      // The instant preview and the autosave listen for "change".
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function open() {
      var found = matches(input.value);
      list.replaceChildren();
      if (!found.length || (found.length === 1 && found[0] === input.value)) {
        close();
        return;
      }
      found.slice(0, LIMIT).forEach(function (zone, i) {
        var item = document.createElement("li");
        item.id = listId + "-" + i;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", "false");
        item.textContent = zone;
        item.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the focus in the field
          choose(zone);
        });
        list.appendChild(item);
      });
      if (found.length > LIMIT) {
        var more = document.createElement("li");
        more.className = "muted";
        more.setAttribute("aria-hidden", "true");
        more.textContent = format(input.closest("form").dataset.zoneMore || "", {
          count: String(found.length - LIMIT),
        });
        list.appendChild(more);
      }
      active = -1;
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    input.addEventListener("input", open);
    input.addEventListener("blur", close);
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (list.hidden) {
          open();
        }
        highlight(active + (event.key === "ArrowDown" ? 1 : -1));
        event.preventDefault();
      } else if (event.key === "Enter" && !list.hidden && active >= 0) {
        // Enter chooses the highlighted zone; with none highlighted it submits the step as before.
        choose(options()[active].textContent);
        event.preventDefault();
      } else if (event.key === "Escape" && !list.hidden) {
        close();
        event.preventDefault();
      }
    });
  }

  function enhanceAll(root) {
    (root || document).querySelectorAll('input[list="zones"]').forEach(enhance);
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhanceAll(document);
  });
  document.addEventListener("htmx:load", function (event) {
    enhanceAll(event.detail.elt);
  });
})();
