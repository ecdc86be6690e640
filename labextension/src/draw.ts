/**
 * Draw a grid's blocks on a `<canvas>`, laid out as ipythonblocks lays out
 * its table: each column as wide as its widest block, each row as tall as
 * its tallest, with 1 px lines between blocks when `lines_on` (the canvas's
 * background, the page's, shows through them).
 */
import type { IGridShape } from './api';

/** CSS class of a drawn grid; `jp-mod-lines` is added when grid lines are on. */
const GRID_CLASS = 'jp-BlocksGrid';

/**
 * Largest canvas side in device pixels. Bigger grids (a 500x500 grid of 20 px
 * blocks is 10,501 px wide) are drawn scaled down, and shown fitted to the
 * tab's width by the stylesheet (`max-width: 100%`).
 */
const MAX_CANVAS_SIDE = 2048;

/** Bytes per block in `IPackedGrid.blocks`. */
const BLOCK_BYTES = 4;

/**
 * A grid to draw: its shape and lines, and its blocks as the server packs
 * them (`api/grids/<id>/pixels`, unzipped): red, green, blue and size, one
 * byte each, block after block, rows top first.
 */
export interface IPackedGrid extends IGridShape {
  blocks: Uint8Array;
}

/** Where each block goes, in CSS pixels. */
export interface IGridLayout {
  /** Left edge of each column. */
  x: number[];
  /** Top edge of each row. */
  y: number[];
  columnWidths: number[];
  rowHeights: number[];
  width: number;
  height: number;
}

/** The table layout of `data`, in CSS pixels. */
export function layoutGrid(data: IPackedGrid): IGridLayout {
  const columnWidths = new Array<number>(data.width).fill(0);
  const rowHeights = new Array<number>(data.height).fill(0);
  for (let r = 0; r < data.height; r++) {
    for (let c = 0; c < data.width; c++) {
      const size = data.blocks[(r * data.width + c) * BLOCK_BYTES + 3];
      columnWidths[c] = Math.max(columnWidths[c], size);
      rowHeights[r] = Math.max(rowHeights[r], size);
    }
  }
  const line = data.lines_on ? 1 : 0;
  const edges = (sizes: number[]): number[] => {
    const starts: number[] = [];
    let position = line;
    for (const size of sizes) {
      starts.push(position);
      position += size + line;
    }
    return starts;
  };
  const x = edges(columnWidths);
  const y = edges(rowHeights);
  const total = (sizes: number[]): number =>
    sizes.reduce((sum, size) => sum + size + line, line);
  return {
    x,
    y,
    columnWidths,
    rowHeights,
    width: total(columnWidths),
    height: total(rowHeights)
  };
}

/**
 * A canvas showing `data` at its natural size (drawn scaled down past
 * `MAX_CANVAS_SIDE`); hovering a block names its index and colour.
 */
export function drawGrid(
  data: IPackedGrid,
  doc: Document = document
): HTMLCanvasElement {
  const layout = layoutGrid(data);
  const canvas = doc.createElement('canvas');
  canvas.className = GRID_CLASS;
  canvas.classList.toggle('jp-mod-lines', data.lines_on);
  const ratio = doc.defaultView?.devicePixelRatio ?? 1;
  const scale = Math.min(
    ratio,
    MAX_CANVAS_SIDE / Math.max(layout.width, 1),
    MAX_CANVAS_SIDE / Math.max(layout.height, 1)
  );
  canvas.width = Math.max(1, Math.round(layout.width * scale));
  canvas.height = Math.max(1, Math.round(layout.height * scale));
  canvas.style.width = `${layout.width}px`;
  canvas.dataset.width = String(data.width);
  canvas.dataset.height = String(data.height);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `${data.width} × ${data.height} blocks`);

  const context = canvas.getContext('2d');
  if (context) {
    context.scale(scale, scale);
    paint(context, data, layout);
  }
  canvas.addEventListener('mousemove', event => {
    const rect = canvas.getBoundingClientRect();
    // Shown at its natural size, or fitted (smaller) when it is wider than the tab.
    const shown = rect.width ? layout.width / rect.width : 1;
    const c = indexAt(
      layout.x,
      layout.columnWidths,
      (event.clientX - rect.left) * shown
    );
    const r = indexAt(
      layout.y,
      layout.rowHeights,
      (event.clientY - rect.top) * shown
    );
    if (r < 0 || c < 0) {
      canvas.title = '';
      return;
    }
    const offset = (r * data.width + c) * BLOCK_BYTES;
    const [red, green, blue] = data.blocks.subarray(offset, offset + 3);
    canvas.title = `Index: [${r}, ${c}]\nColor: (${red}, ${green}, ${blue})`;
  });
  return canvas;
}

/**
 * Fill every block. Grids whose blocks all have one size (every grid
 * ipythonblocks makes) are drawn as one image of a pixel per block, scaled up
 * without smoothing, with the lines cleared afterwards: a few thousand calls
 * instead of one per block.
 */
function paint(
  context: CanvasRenderingContext2D,
  data: IPackedGrid,
  layout: IGridLayout
): void {
  const blocks = data.blocks;
  const count = data.width * data.height;
  const size = blocks[3];
  let uniform = true;
  for (let i = 0; i < count && uniform; i++) {
    uniform = blocks[i * BLOCK_BYTES + 3] === size;
  }
  if (!uniform || typeof OffscreenCanvas === 'undefined') {
    for (let r = 0; r < data.height; r++) {
      for (let c = 0; c < data.width; c++) {
        const offset = (r * data.width + c) * BLOCK_BYTES;
        const [red, green, blue] = blocks.subarray(offset, offset + 3);
        context.fillStyle = `rgb(${red}, ${green}, ${blue})`;
        context.fillRect(
          layout.x[c],
          layout.y[r],
          layout.columnWidths[c],
          layout.rowHeights[r]
        );
      }
    }
    return;
  }
  // The packed blocks are already red, green, blue, size: the size byte
  // becomes an opaque alpha.
  const pixels = new ImageData(data.width, data.height);
  pixels.data.set(blocks.subarray(0, count * BLOCK_BYTES));
  for (let alpha = 3; alpha < pixels.data.length; alpha += BLOCK_BYTES) {
    pixels.data[alpha] = 255;
  }
  const source = new OffscreenCanvas(data.width, data.height);
  source.getContext('2d')?.putImageData(pixels, 0, 0);
  const line = data.lines_on ? 1 : 0;
  const pitch = size + line;
  context.imageSmoothingEnabled = false;
  context.drawImage(
    source,
    line,
    line,
    data.width * pitch,
    data.height * pitch
  );
  if (line) {
    for (let c = 0; c <= data.width; c++) {
      context.clearRect(c * pitch, 0, line, layout.height);
    }
    for (let r = 0; r <= data.height; r++) {
      context.clearRect(0, r * pitch, layout.width, line);
    }
  }
}

/** The index of the span holding `position`, or -1 (on a line or outside). */
function indexAt(starts: number[], sizes: number[], position: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (position < starts[middle]) {
      high = middle - 1;
    } else if (position >= starts[middle] + sizes[middle]) {
      low = middle + 1;
    } else {
      return middle;
    }
  }
  return -1;
}
