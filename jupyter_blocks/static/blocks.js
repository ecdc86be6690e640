// The pages' only script (served as a static file: pages allow no inline script).
// - <time class="jb-local" datetime="..."> shows the moment in the viewer's local time;
// - <button class="jb-copy" data-copy="<element id>"> copies that element's text;
// - the gallery's cards and a grid's page stay live (JupyterBlocksLive, first below).

// JupyterBlocksLive: the live connection and the helpers that the pages (below) and the class
// wall (wall.js, loaded after this file) share. One websocket to blocks/api/events
// (docs/api.md) per page.
// JupyterBlocksLive.connect(path, {changes(events), resync()}): `changes` gets each frame's
// events; `resync` is called for every hello after the first (also after a reconnect), when
// the page should refetch what it shows. Reconnects with a growing delay; never throws.
(function () {
  'use strict';

  function gridTitle(title) {
    return title || 'Untitled';
  }

  function element(tag, className, text) {
    var made = document.createElement(tag);
    if (className) {
      made.className = className;
    }
    if (text !== undefined) {
      made.textContent = text;
    }
    return made;
  }

  // Whether a posted grid belongs on a page filtered by a search `q` (titles and authors, any
  // case) and an `author` (exactly); empty ones filter nothing.
  function matches(grid, q, author) {
    if (author && grid.author !== author) {
      return false;
    }
    if (q) {
      q = q.toLowerCase();
      var title = (grid.title || '').toLowerCase();
      return title.indexOf(q) >= 0 || grid.author.toLowerCase().indexOf(q) >= 0;
    }
    return true;
  }

  function connect(path, handlers) {
    var greeted = false;
    var delay = 1000;
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;

    function open() {
      var socket;
      try {
        socket = new WebSocket(url);
      } catch (error) {
        retry();
        return;
      }
      socket.addEventListener('message', function (message) {
        var frame;
        try {
          frame = JSON.parse(message.data);
        } catch (error) {
          return;
        }
        if (frame.type === 'hello') {
          delay = 1000;
          if (greeted) {
            handlers.resync();
          }
          greeted = true;
        } else if (frame.type === 'changes' && Array.isArray(frame.events)) {
          handlers.changes(frame.events);
        }
      });
      socket.addEventListener('close', retry);
    }

    function retry() {
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    }

    open();
  }

  window.JupyterBlocksLive = {
    connect: connect,
    gridTitle: gridTitle,
    element: element,
    matches: matches
  };
})();

(function () {
  'use strict';

  function showLocalTimes() {
    var format = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    document.querySelectorAll('time.jb-local[datetime]:not([title])').forEach(function (element) {
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

  // Live pages (JupyterBlocksLive, above): the gallery's cards and a grid's page follow posts,
  // renames and deletes made anywhere, without a reload.
  var live = window.JupyterBlocksLive;
  var gridTitle = live.gridTitle;
  var element = live.element;

  function newCard(grid, galleryUrl) {
    var card = element('li', 'jb-card jb-new');
    card.dataset.id = grid.id;
    var link = element('a');
    link.href = grid.url;
    link.title = gridTitle(grid.title);
    var image = element('img', 'jb-thumb');
    image.src = grid.thumbnail_url;
    image.alt = gridTitle(grid.title);
    link.append(image, element('span', 'jb-card-title', gridTitle(grid.title)));
    var meta = element('span', 'jb-card-meta');
    var author = element('a', 'jb-author', grid.author);
    author.href = galleryUrl + '?author=' + encodeURIComponent(grid.author);
    meta.append(author, ' \u00b7 ' + grid.width + '\u00d7' + grid.height);
    var time = element('time', 'jb-local', grid.created);
    time.setAttribute('datetime', grid.created);
    card.append(link, meta, time);
    return card;
  }

  function findCard(list, id) {
    var found = null;
    list.querySelectorAll('li.jb-card').forEach(function (card) {
      if (card.dataset.id === id) {
        found = card;
      }
    });
    return found;
  }

  function liveGallery(list, eventsPath, galleryUrl) {
    var empty = document.querySelector('.jb-empty');
    live.connect(eventsPath, {
      changes: function (events) {
        events.forEach(function (event) {
          if (event.kind === 'posted') {
            var grid = event.grid;
            if (list.dataset.firstPage === 'true' && live.matches(grid, list.dataset.q || '', list.dataset.author || '') && !findCard(list, grid.id)) {
              list.prepend(newCard(grid, galleryUrl));
              list.hidden = false;
              if (empty) {
                empty.hidden = true;
              }
            }
          } else {
            var card = findCard(list, event.id);
            if (!card) {
              return;
            }
            if (event.kind === 'deleted') {
              card.remove();
            } else if (event.kind === 'renamed') {
              var title = gridTitle(event.title);
              card.querySelector('.jb-card-title').textContent = title;
              card.querySelector('a').title = title;
              card.querySelector('img').alt = title;
            }
          }
        });
        showLocalTimes();
      },
      resync: function () {
        // the page as the server renders it now (escaped there), its cards taken over
        fetch(location.href, { credentials: 'same-origin' })
          .then(function (response) {
            return response.ok ? response.text() : Promise.reject(response.status);
          })
          .then(function (html) {
            var fresh = new DOMParser().parseFromString(html, 'text/html');
            var cards = fresh.querySelector('ul.jb-cards');
            list.replaceChildren.apply(
              list,
              cards ? Array.from(cards.children).map(function (card) {
                return document.importNode(card, true);
              }) : []
            );
            showLocalTimes();
          })
          .catch(function () {});
      }
    });
  }

  function liveGridPage(article, eventsPath) {
    var id = article.dataset.gridId;
    var heading = article.querySelector('.jb-title');

    function renamed(title) {
      heading.textContent = gridTitle(title);
      document.title = gridTitle(title) + ' \u00b7 jupyter-blocks';
    }

    function deleted() {
      if (article.querySelector('.jb-deleted')) {
        return;
      }
      var notice = element('p', 'jb-deleted', 'This grid was deleted.');
      notice.setAttribute('role', 'status');
      article.classList.add('jb-was-deleted');
      article.prepend(notice);
    }

    live.connect(eventsPath, {
      changes: function (events) {
        events.forEach(function (event) {
          if (event.id !== id) {
            return;
          }
          if (event.kind === 'renamed') {
            renamed(event.title);
          } else if (event.kind === 'deleted') {
            deleted();
          }
        });
      },
      resync: function () {
        fetch(article.dataset.recordUrl + '?blocks=false', { credentials: 'same-origin' })
          .then(function (response) {
            if (response.status === 404) {
              deleted();
              return null;
            }
            return response.ok ? response.json() : null;
          })
          .then(function (record) {
            if (record) {
              renamed(record.title);
            }
          })
          .catch(function () {});
      }
    });
  }

  function goLive() {
    var body = document.body;
    var eventsPath = body.dataset.eventsUrl;
    if (!eventsPath) {
      return;
    }
    var list = document.querySelector('ul.jb-cards[data-live]');
    if (list) {
      liveGallery(list, eventsPath, body.dataset.galleryUrl);
    }
    var article = document.querySelector('article.jb-grid-page[data-grid-id]');
    if (article && !article.dataset.secret) {
      liveGridPage(article, eventsPath);
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    showLocalTimes();
    enableCopyButtons();
    goLive();
  });
})();

