// The browser's part of a WebAuthn ceremony (WebAuthn Level 3 §5.1.3, §5.1.4): a button with
// data-passkey="register|signin|factor" asks the server for options, runs the ceremony, and
// posts the result in the page's #passkey-form, so that the server's answer is a normal
// navigation. Pages work without this script; only the passkey buttons need it.
(function () {
  "use strict";
  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }
  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creation(options) {
    var o = options.publicKey;
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: o };
  }
  function request(options) {
    var o = options.publicKey;
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: o, mediation: options.mediation || undefined };
  }
  function registered(c) {
    return {
      id: c.id, rawId: toText(c.rawId), type: c.type, extensions: {},
      response: {
        attestationObject: toText(c.response.attestationObject),
        clientDataJSON: toText(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : undefined
      }
    };
  }
  function asserted(c) {
    return {
      id: c.id, rawId: toText(c.rawId), type: c.type, extensions: {},
      response: {
        authenticatorData: toText(c.response.authenticatorData),
        clientDataJSON: toText(c.response.clientDataJSON),
        signature: toText(c.response.signature),
        userHandle: c.response.userHandle ? toText(c.response.userHandle) : null
      }
    };
  }
  function show(message) {
    var el = document.getElementById("passkey-error");
    if (el) { el.textContent = message; el.hidden = false; }
  }
  function start(button) {
    var form = document.getElementById("passkey-form");
    var purpose = button.getAttribute("data-passkey");
    var body = new URLSearchParams();
    body.set("purpose", purpose);
    body.set("csrf", button.getAttribute("data-csrf"));
    if (button.getAttribute("data-interaction")) body.set("interaction", button.getAttribute("data-interaction"));
    fetch(form.getAttribute("data-options"), { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || "refused"); return j; }); })
      .then(function (started) {
        var ceremony = purpose === "register"
          ? navigator.credentials.create(creation(started.options)).then(registered)
          : navigator.credentials.get(request(started.options)).then(asserted);
        return ceremony.then(function (credential) {
          form.elements.ceremony.value = started.ceremony;
          form.elements.csrf.value = started.csrf;
          form.elements.credential.value = JSON.stringify(credential);
          form.submit();
        });
      })
      .catch(function (e) { show("The passkey could not be used: " + e.message); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("[data-passkey]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = !window.PublicKeyCredential;
      buttons[i].addEventListener("click", function (e) { e.preventDefault(); start(e.currentTarget); });
    }
  });
})();
