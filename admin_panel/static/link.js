// Moves the one-time token from the URL fragment into the form; the fragment never reached the server.
(function () {
  "use strict";
  var form = document.getElementById("link-form");
  if (!form) return;
  var token = window.location.hash.replace(/^#/, "");
  if (!token) {
    form.hidden = true;
    document.getElementById("link-missing").hidden = false;
    return;
  }
  document.getElementById("link-token").value = token;
  history.replaceState(null, "", window.location.pathname); // keep the token out of history
})();
