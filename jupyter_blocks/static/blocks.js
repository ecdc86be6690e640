// The pages' only script (served as a static file: pages allow no inline script).
// - <time class="jb-local" datetime="..."> shows the moment in the viewer's local time;
// - <button class="jb-copy" data-copy="<element id>"> copies that element's text.
(function () {
  'use strict';

  function showLocalTimes() {
    var format = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    document.querySelectorAll('time.jb-local[datetime]').forEach(function (element) {
      var moment = new Date(element.getAttribute('datetime'));
      if (!isNaN(moment.getTime())) {
        element.title = element.textContent;
        element.textContent = format.format(moment);
      }
    });
  }

  function enableCopyButtons() {
    document.querySelectorAll('button.jb-copy[data-copy]').forEach(function (button) {
      var source = document.getElementById(button.getAttribute('data-copy'));
      if (!source || !navigator.clipboard) {
        button.hidden = true;
        return;
      }
      button.addEventListener('click', function () {
        navigator.clipboard.writeText(source.textContent).then(
          function () { button.textContent = 'Copied'; },
          function () { button.textContent = 'Copy failed'; }
        );
        setTimeout(function () { button.textContent = 'Copy'; }, 2000);
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    showLocalTimes();
    enableCopyButtons();
  });
})();
