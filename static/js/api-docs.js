// Starts Swagger UI on /api/docs/. A static file so the page needs no inline script.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }
  window.ui = SwaggerUIBundle({
    url: root.dataset.schemaUrl + "?format=json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    // The browser session signs the requests; Django wants the CSRF token on writes.
    requestInterceptor: function (request) {
      var token = cookie(root.dataset.csrfCookie || "csrftoken");
      if (token) {
        request.headers["X-CSRFToken"] = token;
      }
      return request;
    },
  });
})();
