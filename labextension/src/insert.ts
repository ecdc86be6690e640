/**
 * Put code into a notebook as a new code cell.
 */
import { type Notebook, NotebookActions } from '@jupyterlab/notebook';

/**
 * Insert a code cell holding `source` below the notebook's active cell and
 * make it the active cell.
 */
export function insertCodeCell(notebook: Notebook, source: string): void {
  NotebookActions.insertBelow(notebook);
  if (notebook.activeCell?.model.type !== 'code') {
    NotebookActions.changeCellType(notebook, 'code');
  }
  notebook.activeCell?.model.sharedModel.setSource(source);
}
