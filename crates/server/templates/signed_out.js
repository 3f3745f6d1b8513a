// Front-Channel Logout 1.0 §3: leave the signed-out page once every client's logout page in
// an iframe has loaded (or after five seconds), then go where the "Continue" link points.
(function () {
  "use strict";
  var link = document.getElementById("continue");
  if (!link) return;
  var frames = document.querySelectorAll("iframe.frontchannel");
  var waiting = frames.length, gone = false;
  function leave() {
    if (gone) return;
    gone = true;
    window.location.assign(link.href);
  }
  for (var i = 0; i < frames.length; i++) {
    frames[i].addEventListener("load", function () {
      waiting -= 1;
      if (waiting <= 0) leave();
    });
  }
  if (waiting === 0) leave();
  window.setTimeout(leave, 5000);
})();
