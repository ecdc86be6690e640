// The gallery service's session page (blocks/session), loaded by the panel in a hidden frame:
// hands who the user is and the service's XSRF token to the page that framed it, if that page
// is on the one origin the service named (the user's own server's, or `self`: the page's own).
// The browser delivers the message to no other origin.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  const data = document.body.dataset;
  if (window.parent === window || !data.targetOrigin) {
    return;
  }
  window.parent.postMessage(
    {
      type: 'jupyter-blocks-session',
      author: data.author,
      moderator: data.moderator === 'true',
      xsrf_token: data.xsrfToken
    },
    data.targetOrigin === 'self' ? window.location.origin : data.targetOrigin
  );
});
