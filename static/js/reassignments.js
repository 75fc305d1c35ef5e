// The reassignment board: select-all for the bulk form, and let htmx show a refused row edit.
// Loaded as a static file (no inline scripts); the page works without it.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var box = event.target.closest("[data-select-all]");
    if (!box) {
      return;
    }
    var selector = 'input[type="checkbox"][name="agent_ids"][form="' + box.dataset.selectAll + '"]';
    document.querySelectorAll(selector).forEach(function (other) {
      other.checked = box.checked;
    });
  });

  // A row edit the server refused comes back as 422 with the row and its error: show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
