// The console works without JavaScript; this only helps the rule-set editor:
// a problem's "Line N" link puts the cursor on that line of the YAML.
(function () {
  "use strict";
  function lineStart(text, line) {
    var index = 0;
    for (var n = 1; n < line; n += 1) {
      var next = text.indexOf("\n", index);
      if (next < 0) { return text.length; }
      index = next + 1;
    }
    return index;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-line]") : null;
    var area = document.getElementById("yaml");
    if (!link || !area) { return; }
    event.preventDefault();
    var start = lineStart(area.value, parseInt(link.dataset.line, 10));
    var end = area.value.indexOf("\n", start);
    area.focus();
    area.setSelectionRange(start, end < 0 ? area.value.length : end);
    var lineHeight = parseFloat(window.getComputedStyle(area).lineHeight) || 18;
    var top = area.getBoundingClientRect().top + window.scrollY;
    window.scrollTo(0, top + lineHeight * (parseInt(link.dataset.line, 10) - 4));
  });
}());
