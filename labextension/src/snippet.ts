/**
 * The Python code that loads a shared grid back into a notebook, or keeps a
 * copy of one that was deleted. The kernel needs no `%load_ext`: the server
 * points ipythonblocks at itself in every kernel it starts.
 */
import type { IGridSummary } from './api';
import type { IPackedGrid } from './draw';

/** The ipythonblocks class of a grid. */
function className(grid: Pick<IGridSummary, 'ipb_class'>): string {
  return grid.ipb_class === 'ImageGrid' ? 'ImageGrid' : 'BlockGrid';
}

/**
 * Code that loads the grid `id` with its own ipythonblocks class, e.g.
 *
 *     from ipythonblocks import BlockGrid
 *     grid = BlockGrid.from_web("Xk9aQe")
 *     grid
 */
export function gridSnippet(
  grid: Pick<IGridSummary, 'id' | 'ipb_class' | 'secret'>
): string {
  const cls = className(grid);
  const args = grid.secret
    ? `${JSON.stringify(grid.id)}, secret=True`
    : JSON.stringify(grid.id);
  return [
    `from ipythonblocks import ${cls}`,
    `grid = ${cls}.from_web(${args})`,
    'grid'
  ].join('\n');
}

/** Most blocks a copy writes out as Python literals (bigger grids keep only their code). */
export const MAX_COPY_BLOCKS = 10_000;

/**
 * Code that makes the grid again from the blocks a tab still has (for a
 * grid deleted from the gallery), or null when it has more than
 * `MAX_COPY_BLOCKS` blocks, e.g.
 *
 *     from ipythonblocks import BlockGrid
 *     grid = BlockGrid(2, 1, lines_on=True)
 *     grid._load_simple_grid([
 *         [(255, 0, 0, 20), (0, 0, 255, 20)],
 *     ])
 *     grid
 */
export function copySnippet(
  grid: Pick<IGridSummary, 'ipb_class'>,
  drawing: IPackedGrid
): string | null {
  const { width, height, blocks } = drawing;
  if (width * height > MAX_COPY_BLOCKS) {
    return null;
  }
  const cls = className(grid);
  const origin = cls === 'ImageGrid' ? ", origin='upper-left'" : '';
  const lines = [
    `from ipythonblocks import ${cls}`,
    `grid = ${cls}(${width}, ${height}, lines_on=${drawing.lines_on ? 'True' : 'False'}${origin})`,
    'grid._load_simple_grid(['
  ];
  for (let row = 0; row < height; row++) {
    const cells: string[] = [];
    for (let col = 0; col < width; col++) {
      const at = (row * width + col) * 4;
      cells.push(`(${Array.from(blocks.subarray(at, at + 4)).join(', ')})`);
    }
    lines.push(`    [${cells.join(', ')}],`);
  }
  lines.push('])', 'grid');
  return lines.join('\n');
}

/** The code shown in the empty gallery: how to share a grid. */
export const POST_SNIPPET = [
  'from ipythonblocks import BlockGrid',
  'grid = BlockGrid(8, 8, fill=(123, 234, 123))',
  'grid.post_to_web()'
].join('\n');
