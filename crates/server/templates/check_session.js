// OpenID Connect Session Management 1.0 §3.2: the OP iframe. A client posts
// "client_id session_state"; the answer is "unchanged", "changed" or "error".
(function () {
  "use strict";
  var cookieName = document.documentElement.getAttribute("data-cookie");
  function browserState() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === cookieName) return parts[i].slice(eq + 1);
    }
    return "";
  }
  function base64url(buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  window.addEventListener("message", function (e) {
    // §3.2: only the page that frames this iframe may ask.
    if (e.source !== window.parent || typeof e.data !== "string") return;
    var space = e.data.lastIndexOf(" ");
    var clientId = e.data.slice(0, space), sessionState = e.data.slice(space + 1);
    var dot = sessionState.lastIndexOf(".");
    if (space < 1 || dot < 1 || !window.crypto || !window.crypto.subtle) {
      e.source.postMessage("error", e.origin);
      return;
    }
    var salt = sessionState.slice(dot + 1), state = browserState();
    // No browser state: no session here, whatever was sent.
    if (!state) {
      e.source.postMessage("changed", e.origin);
      return;
    }
    var input = new TextEncoder().encode(clientId + " " + e.origin + " " + state + " " + salt);
    window.crypto.subtle.digest("SHA-256", input).then(function (digest) {
      var expected = base64url(digest) + "." + salt;
      e.source.postMessage(expected === sessionState ? "unchanged" : "changed", e.origin);
    }, function () {
      e.source.postMessage("error", e.origin);
    });
  });
})();
