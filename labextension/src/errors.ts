/**
 * What the views say when a request failed.
 */
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';

import { BlocksAPIError } from './api';

/** A sentence for the user about `error`. */
export function errorMessage(error: unknown, trans: TranslationBundle): string {
  if (error instanceof ServerConnection.NetworkError) {
    return trans.__('Cannot reach the server');
  }
  if (error instanceof BlocksAPIError) {
    switch (error.kind) {
      case 'extension-missing':
        return trans.__(
          'The jupyter-blocks server extension is not installed or not enabled'
        );
      case 'login-required':
        return trans.__('Log in to JupyterHub to see the gallery');
      case 'not-own-server':
        return trans.__(
          "The gallery opens in JupyterLab on your own server, not on someone else's"
        );
      default:
        return error.message;
    }
  }
  return trans.__('Unexpected error: %1', String(error));
}

/** An action offered beside an error message. */
export interface IErrorAction {
  label: string;
  onClick: () => void;
}

/** A box with the error's message and buttons for `actions`. */
export function errorBox(
  error: unknown,
  trans: TranslationBundle,
  className: string,
  actions: IErrorAction[]
): HTMLElement {
  const box = document.createElement('div');
  box.className = className;
  const message = document.createElement('p');
  message.className = `${className}Message`;
  message.textContent = errorMessage(error, trans);
  box.appendChild(message);
  for (const action of actions) {
    const button = document.createElement('button');
    button.className = 'jp-mod-styled jp-mod-accept';
    button.textContent = action.label;
    button.addEventListener('click', action.onClick);
    box.appendChild(button);
  }
  return box;
}
