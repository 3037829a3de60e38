// Starts Swagger UI on /api/docs. A file, not an inline script, so the page's CSP can
// keep script-src to 'self'; the OpenAPI URL comes from the page's data-openapi-url.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    // deep links put a link inside each operation's toggle button: nested controls that
    // screen readers and keyboards cannot tell apart (axe-core: nested-interactive)
    deepLinking: false,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    // the default would fetch a validity badge from validator.swagger.io
    validatorUrl: null,
    persistAuthorization: true,
    displayRequestDuration: true,
    showExtensions: true,
    tryItOutEnabled: false,
  });
})();
