// HQ console: draws every [data-chart] with ECharts (on load and after each htmx swap), and says
// why an htmx request failed (htmx leaves the page as it was on an error, which looks like nothing).
(function () {
  function draw(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(el.getAttribute("data-chart")), true);
      el.dataset.drawn = "1";
    });
  }
  // hx-ext="json-body": the form's fields as a JSON object, for the API routes that take JSON.
  function jsonBody() {
    htmx.defineExtension("json-body", {
      onEvent: function (name, evt) {
        if (name === "htmx:configRequest") evt.detail.headers["Content-Type"] = "application/json";
      },
      encodeParameters: function (xhr, parameters) {
        var body = {};
        parameters.forEach(function (value, key) { body[key] = value; });
        return JSON.stringify(body);
      },
    });
  }
  if (window.htmx) jsonBody();
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
  function alertBox() {
    var box = document.getElementById("request-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "request-error";
      box.className = "error";
      box.setAttribute("role", "alert");
      var main = document.querySelector("main");
      main.insertBefore(box, main.firstChild);
    }
    return box;
  }
  function reason(xhr) {
    try {
      var answer = JSON.parse(xhr.responseText);
      // The server says why in the page's language; detail is the API's English (older answers).
      if (answer.message) return String(answer.message);
      var detail = answer.detail;
      if (Array.isArray(detail)) {
        return detail.map(function (d) { return (d.loc || []).slice(1).join(".") + ": " + d.msg; }).join("; ");
      }
      if (detail) return String(detail);
    } catch (err) { /* not JSON: fall through to the status line */ }
    return xhr.status + " " + xhr.statusText;
  }
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.getResponseHeader("HX-Redirect")) return; // signed out: the browser is on its way to sign in
    alertBox().textContent = document.body.dataset.msgFailed + " " + reason(xhr);
  });
  document.addEventListener("htmx:sendError", function () {
    alertBox().textContent = document.body.dataset.msgUnreachable;
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var box = document.getElementById("request-error");
    if (box && e.detail.successful) box.remove();
  });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts && echarts.getInstanceByDom(el); if (c) c.resize();
    });
  });
})();
