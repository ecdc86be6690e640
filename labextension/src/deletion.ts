/**
 * Deleting a grid, from its card or its tab: a confirmation first.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';

/**
 * Ask whether to delete the grid `id` titled `title`; Cancel is the default
 * button, so that Enter does not delete.
 */
export async function confirmDelete(
  trans: TranslationBundle,
  title: string | null,
  id: string
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Delete grid'),
    body: trans.__(
      'Delete "%1" (%2)? This cannot be undone.',
      title || trans.__('Untitled'),
      id
    ),
    buttons: [
      Dialog.cancelButton(),
      Dialog.warnButton({ label: trans.__('Delete') })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}
