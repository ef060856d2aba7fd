// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", function () {
  // Confirm destructive buttons: <button data-confirm="Are you sure?">
  document.body.addEventListener("click", function (event) {
    var target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
});
