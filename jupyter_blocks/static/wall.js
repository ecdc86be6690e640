// The class wall (blocks/wall): the newest public grids as a live mosaic for a projector.
// New grids arrive at the front with a short highlight; renamed ones change their title,
// deleted ones go. Search and author filters, pause (changes wait, then arrive at once) and
// full screen. The live connection and the helpers shared with the other pages are
// JupyterBlocksLive's (blocks.js, loaded first); this file is static (no inline script).
(function () {
  'use strict';

  var HIGHLIGHT_MS = 6000;
  var live = window.JupyterBlocksLive;
  var gridTitle = live.gridTitle;
  var element = live.element;

  function start() {
    var body = document.body;
    var wall = document.querySelector('ul.jb-wall');
    var empty = document.querySelector('.jb-wall-empty');
    var status = document.querySelector('.jb-wall-status');
    var form = document.querySelector('.jb-wall-filters');
    var search = form.querySelector('input[name="q"]');
    var author = form.querySelector('input[name="author"]');
    var pause = document.querySelector('.jb-wall-pause');
    var fullscreen = document.querySelector('.jb-wall-fullscreen');
    var size = Number(body.dataset.wallSize) || 48;
    var paused = false;
    var waiting = [];
    var loading = 0;

    function tile(grid, arriving) {
      var item = element('li', 'jb-tile');
      item.dataset.id = grid.id;
      var link = element('a');
      link.href = grid.url;
      link.target = '_blank';
      link.rel = 'noopener';
      var image = element('img');
      image.src = grid.thumbnail_url;
      image.alt = gridTitle(grid.title);
      link.append(
        image,
        element('span', 'jb-tile-title', gridTitle(grid.title)),
        element('span', 'jb-tile-author', grid.author)
      );
      item.append(link);
      if (arriving) {
        item.classList.add('jb-wall-new');
        setTimeout(function () {
          item.classList.remove('jb-wall-new');
        }, HIGHLIGHT_MS);
      }
      return item;
    }

    function find(id) {
      var found = null;
      wall.querySelectorAll('li.jb-tile').forEach(function (item) {
        if (item.dataset.id === id) {
          found = item;
        }
      });
      return found;
    }

    function matches(grid) {
      return live.matches(grid, search.value.trim(), author.value.trim());
    }

    function shown() {
      var tiles = wall.querySelectorAll('li.jb-tile');
      for (var i = size; i < tiles.length; i++) {
        tiles[i].remove();
      }
      empty.hidden = tiles.length > 0;
      status.textContent = paused
        ? 'Paused' + (waiting.length ? ' \u00b7 ' + waiting.length + ' changes waiting' : '')
        : '';
    }

    function apply(events) {
      events.forEach(function (event) {
        if (event.kind === 'posted') {
          if (matches(event.grid) && !find(event.grid.id)) {
            wall.prepend(tile(event.grid, true));
          }
          return;
        }
        var item = find(event.id);
        if (!item) {
          return;
        }
        if (event.kind === 'deleted') {
          item.remove();
        } else if (event.kind === 'renamed') {
          item.querySelector('.jb-tile-title').textContent = gridTitle(event.title);
          item.querySelector('img').alt = gridTitle(event.title);
        }
      });
      shown();
    }

    function reload() {
      var params = new URLSearchParams({ limit: String(size) });
      var query = new URLSearchParams();
      if (search.value.trim()) {
        params.set('q', search.value.trim());
        query.set('q', search.value.trim());
      }
      if (author.value.trim()) {
        params.set('author', author.value.trim());
        query.set('author', author.value.trim());
      }
      var text = query.toString();
      history.replaceState(null, '', location.pathname + (text ? '?' + text : ''));
      var mine = ++loading;
      fetch(body.dataset.gridsUrl + '?' + params.toString(), { credentials: 'same-origin' })
        .then(function (response) {
          return response.ok ? response.json() : Promise.reject(response.status);
        })
        .then(function (page) {
          if (mine !== loading) {
            return; // a newer filter was typed meanwhile
          }
          wall.replaceChildren.apply(
            wall,
            page.items.map(function (grid) {
              return tile(grid, false);
            })
          );
          shown();
        })
        .catch(function () {});
    }

    var typing = null;
    function filtersChanged() {
      clearTimeout(typing);
      typing = setTimeout(reload, 300);
    }
    search.addEventListener('input', filtersChanged);
    author.addEventListener('input', filtersChanged);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      clearTimeout(typing);
      reload();
    });

    pause.addEventListener('click', function () {
      paused = !paused;
      pause.setAttribute('aria-pressed', String(paused));
      pause.textContent = paused ? 'Resume' : 'Pause';
      if (!paused) {
        var queued = waiting;
        waiting = [];
        apply(queued);
      }
      shown();
    });

    if (document.fullscreenEnabled) {
      fullscreen.addEventListener('click', function () {
        if (document.fullscreenElement) {
          document.exitFullscreen();
        } else {
          document.documentElement.requestFullscreen();
        }
      });
      document.addEventListener('fullscreenchange', function () {
        fullscreen.textContent = document.fullscreenElement ? 'Exit full screen' : 'Full screen';
      });
    } else {
      fullscreen.hidden = true;
    }

    if (body.dataset.eventsUrl) {
      live.connect(body.dataset.eventsUrl, {
        changes: function (events) {
          if (paused) {
            waiting = waiting.concat(events);
            shown();
          } else {
            apply(events);
          }
        },
        resync: function () {
          waiting = [];
          reload();
        }
      });
    }
    shown();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
