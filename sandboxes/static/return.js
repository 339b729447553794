// A real bank sends the payer back on its own; the button stays for browsers without JS.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("return-form");
  if (form) { form.submit(); }
});
