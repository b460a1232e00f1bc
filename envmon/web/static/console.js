// envmon staff console: small progressive enhancement, written here (no asset from the
// internet). Every page works without it.
(function () {
  "use strict";
  // a form being sent shows that it is saving and is not sent twice by a second tap
  document.querySelectorAll("form[data-saving]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = "保存中… Saving…";
      }
    });
  });
  // a file larger than the console accepts is refused before it is sent
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      input.setCustomValidity(file && file.size > max ? input.getAttribute("data-too-big") : "");
      input.reportValidity();
    });
  });
  // the state filter applies when chosen
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // the deadline fields only for a rectification order
  document.querySelectorAll("select[data-deadline-toggle]").forEach(function (select) {
    var fields = select.form.querySelector("fieldset.deadline");
    function show() { if (fields) { fields.hidden = select.value !== "rectification_ordered"; } }
    select.addEventListener("change", show);
    show();
  });
})();
