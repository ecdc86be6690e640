/**
 * Draw a grid's blocks as an HTML table, like ipythonblocks does in a notebook.
 */
import type { IGridData } from './api';

/** CSS class of a drawn grid; `jp-mod-lines` is added when grid lines are on. */
export const GRID_CLASS = 'jp-BlocksGrid';

/**
 * A table of `height` rows of `width` cells, top row first; each cell is a
 * square of the block's size in pixels, filled with its rgb colour.
 */
export function drawGrid(data: IGridData, doc: Document = document): HTMLTableElement {
  const table = doc.createElement('table');
  table.className = GRID_CLASS;
  table.classList.toggle('jp-mod-lines', data.lines_on);
  const body = doc.createElement('tbody');
  data.blocks.forEach((row, rowIndex) => {
    const tr = doc.createElement('tr');
    row.forEach(([red, green, blue, size], colIndex) => {
      const td = doc.createElement('td');
      const colour = `rgb(${red}, ${green}, ${blue})`;
      td.style.backgroundColor = colour;
      td.style.width = `${size}px`;
      td.style.height = `${size}px`;
      td.title = `Index: [${rowIndex}, ${colIndex}]\nColor: (${red}, ${green}, ${blue})`;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  table.appendChild(body);
  return table;
}
