/**
 * The Python code that loads a shared grid back into a notebook.
 */
import type { IGridSummary } from './api';

/**
 * Code that loads the grid `id` with its own ipythonblocks class, e.g.
 *
 *     %load_ext jupyter_blocks
 *     from ipythonblocks import BlockGrid
 *     grid = BlockGrid.from_web("Xk9aQe")
 *     grid
 */
export function gridSnippet(
  grid: Pick<IGridSummary, 'id' | 'ipb_class' | 'secret'>
): string {
  const cls = grid.ipb_class === 'ImageGrid' ? 'ImageGrid' : 'BlockGrid';
  const args = grid.secret
    ? `${JSON.stringify(grid.id)}, secret=True`
    : JSON.stringify(grid.id);
  return [
    '%load_ext jupyter_blocks',
    `from ipythonblocks import ${cls}`,
    `grid = ${cls}.from_web(${args})`,
    'grid'
  ].join('\n');
}

/** The code shown in the empty gallery: how to share a grid. */
export const POST_SNIPPET = [
  '%load_ext jupyter_blocks',
  'from ipythonblocks import BlockGrid',
  'grid = BlockGrid(8, 8, fill=(123, 234, 123))',
  'grid.post_to_web()'
].join('\n');
