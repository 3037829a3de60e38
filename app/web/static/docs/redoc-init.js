// Starts ReDoc on /api/redoc. A file, not an inline script, so the page's CSP can keep
// script-src to 'self'; the OpenAPI URL comes from the page's data-openapi-url.
// ReDoc 3's standalone bundle is an ES module, hence the import (and type="module").
import { init } from "../vendor/redoc/bundles/redoc.standalone.js";

const root = document.getElementById("redoc");
// ReDoc 3 reports usage to Redocly unless told not to (the CSP would block it anyway)
init(root.dataset.openapiUrl, { disableTelemetry: true }, root);
