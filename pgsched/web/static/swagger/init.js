// Starts Swagger UI on the page's OpenAPI document; a file, not an inline script,
// so the page's Content-Security-Policy can forbid inline scripts.
(function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
  });
})();
