// HQ console: draws every [data-chart] with ECharts (on load and after each htmx swap).
(function () {
  function draw(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(el.getAttribute("data-chart")), true);
      el.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts && echarts.getInstanceByDom(el); if (c) c.resize();
    });
  });
})();
