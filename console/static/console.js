// vasscm console: the only script. Refreshes the live monitor fragment without reloading the
// page; back to the login page when the session has ended.
(function () {
  'use strict';
  var live = document.getElementById('live');
  if (!live) { return; }
  var every = Math.max(1, parseInt(live.getAttribute('data-refresh'), 10) || 5) * 1000;
  var src = live.getAttribute('data-src');
  function tick() {
    fetch(src, { credentials: 'same-origin', headers: { 'Accept': 'text/html' }, cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) { window.location.assign('/login'); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { window.setTimeout(tick, every); });
  }
  window.setTimeout(tick, every);
}());
