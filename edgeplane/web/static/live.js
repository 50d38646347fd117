// The dashboard's live glue: the SSE extension delivers every event named by an
// `sse-swap`; the HTML ones are swapped by htmx itself, the two JSON ones are handled
// here. `phases` ([{name, phase}] or {reload: true}) goes to the map as `site-phase`
// events; `signed-out` sends the browser to the sign-in page.
(function () {
  'use strict';
  // When the stream is open the page is live: tests and the page-load benchmark wait
  // for data-live (milliseconds since navigation started).
  document.addEventListener('htmx:sseOpen', function () {
    document.body.dataset.live = String(Math.round(performance.now()));
  });
  document.addEventListener('htmx:sseBeforeMessage', function (e) {
    var message = e.detail;
    if (!message || (message.type !== 'phases' && message.type !== 'signed-out')) return;
    e.preventDefault();
    if (message.type === 'signed-out') {
      window.location.href = document.querySelector('.brand').getAttribute('href') + 'login';
      return;
    }
    var changes;
    try { changes = JSON.parse(message.data); } catch (_) { return; }
    if (!Array.isArray(changes)) {
      if (changes && changes.reload && window.edgeplaneMap) window.edgeplaneMap.reload();
      return;
    }
    changes.forEach(function (change) {
      document.body.dispatchEvent(new CustomEvent('site-phase', { detail: change }));
    });
  });
})();
