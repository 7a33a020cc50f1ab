/**
 * The admin UI's only script (served at /admin/assets/admin.js): the dashboard's live update
 * and the copy buttons. Everything works without it, minus those two.
 */
export const ADMIN_JS = `
(function () {
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('[data-copy]');
    if (!button) return;
    var input = document.getElementById(button.getAttribute('data-copy'));
    if (!input) return;
    var done = function () { button.textContent = 'Copied'; setTimeout(function () { button.textContent = 'Copy'; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
    else { input.select(); try { document.execCommand('copy'); done(); } catch (e) {} }
  });

  var live = document.querySelector('[data-live]');
  if (!live) return;
  var url = live.getAttribute('data-live');
  function refresh() {
    fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { if (r.status === 401) { location.href = '/admin/sign-in'; throw new Error('signed out'); } return r.json(); })
      .then(function (data) {
        Object.keys(data.stats).forEach(function (key) {
          var el = live.querySelector('[data-stat="' + key + '"]');
          if (el) el.textContent = data.stats[key];
        });
        var chart = live.querySelector('[data-chart]');
        if (chart) chart.innerHTML = data.chart;
        live.setAttribute('data-updated', data.at);
      })
      .catch(function () {});
  }
  setInterval(refresh, Number(live.getAttribute('data-every') || 3000));
})();
`;
