import type { Block, IGridData } from '../api';
import { drawGrid, type IPackedGrid, layoutGrid } from '../draw';

/** `data` with its blocks packed as the server's pixels are. */
function packed(data: IGridData): IPackedGrid {
  return { ...data, blocks: new Uint8Array(data.blocks.flat(2)) };
}

const data = packed({
  lines_on: true,
  width: 3,
  height: 2,
  blocks: [
    [
      [255, 0, 0, 20],
      [0, 255, 0, 20],
      [0, 0, 255, 20]
    ],
    [
      [9, 9, 9, 10],
      [8, 8, 8, 10],
      [7, 7, 7, 12]
    ]
  ]
});

describe('layoutGrid', () => {
  it('makes columns as wide as their widest block and rows as tall as their tallest', () => {
    const layout = layoutGrid(data);
    expect(layout.columnWidths).toEqual([20, 20, 20]);
    expect(layout.rowHeights).toEqual([20, 12]);
  });

  it('puts a 1 px line around every block when lines are on', () => {
    const layout = layoutGrid(data);
    expect(layout.x).toEqual([1, 22, 43]);
    expect(layout.y).toEqual([1, 22]);
    expect([layout.width, layout.height]).toEqual([64, 35]);
  });

  it('packs blocks edge to edge when lines are off', () => {
    const layout = layoutGrid({ ...data, lines_on: false });
    expect(layout.x).toEqual([0, 20, 40]);
    expect([layout.width, layout.height]).toEqual([60, 32]);
  });
});

/**
 * A 2D context that records what is drawn: jsdom has no canvas (its
 * `getContext` logs "Not implemented" and returns null).
 */
class FakeContext {
  scales: [number, number][] = [];
  fills: [string, number, number, number, number][] = [];
  fillStyle = '';
  scale(x: number, y: number): void {
    this.scales.push([x, y]);
  }
  fillRect(x: number, y: number, width: number, height: number): void {
    this.fills.push([this.fillStyle, x, y, width, height]);
  }
}

describe('drawGrid', () => {
  let contexts: FakeContext[];
  let getContext: jest.SpyInstance;

  beforeEach(() => {
    contexts = [];
    getContext = jest
      .spyOn(HTMLCanvasElement.prototype, 'getContext')
      .mockImplementation(() => {
        const context = new FakeContext();
        contexts.push(context);
        return context as unknown as CanvasRenderingContext2D;
      });
  });

  afterEach(() => {
    getContext.mockRestore();
  });

  it('is one canvas of the natural size, however many blocks', () => {
    const canvas = drawGrid(data);
    expect(canvas.tagName).toBe('CANVAS');
    expect(canvas.style.width).toBe('64px');
    expect([canvas.width, canvas.height]).toEqual([64, 35]);
    expect([canvas.dataset.width, canvas.dataset.height]).toEqual(['3', '2']);
    expect(canvas.children).toHaveLength(0);
  });

  it('fills each block in its colour at its place in the layout', () => {
    drawGrid(data);
    expect(getContext).toHaveBeenCalledWith('2d');
    expect(contexts).toHaveLength(1);
    expect(contexts[0].scales).toEqual([[1, 1]]);
    expect(contexts[0].fills).toEqual([
      ['rgb(255, 0, 0)', 1, 1, 20, 20],
      ['rgb(0, 255, 0)', 22, 1, 20, 20],
      ['rgb(0, 0, 255)', 43, 1, 20, 20],
      ['rgb(9, 9, 9)', 1, 22, 20, 12],
      ['rgb(8, 8, 8)', 22, 22, 20, 12],
      ['rgb(7, 7, 7)', 43, 22, 20, 12]
    ]);
  });

  it('draws a grid past the largest canvas scaled down, keeping its shape', () => {
    const row: Block[] = new Array(500).fill([1, 2, 3, 20]);
    const big = drawGrid(
      packed({
        lines_on: true,
        width: 500,
        height: 250,
        blocks: new Array(250).fill(row)
      })
    );
    expect(big.style.width).toBe('10501px');
    expect(big.width).toBe(2048);
    expect(big.height).toBe(Math.round((5251 * 2048) / 10501));
    expect(contexts[0].scales).toEqual([[2048 / 10501, 2048 / 10501]]);
  });

  it('marks grid lines on or off', () => {
    expect(drawGrid(data).classList.contains('jp-mod-lines')).toBe(true);
    expect(
      drawGrid({ ...data, lines_on: false }).classList.contains('jp-mod-lines')
    ).toBe(false);
  });

  it('names the block under the pointer with its index and colour, like ipythonblocks', () => {
    const canvas = drawGrid(data);
    canvas.dispatchEvent(
      new MouseEvent('mousemove', { clientX: 50, clientY: 25 })
    );
    expect(canvas.title).toBe('Index: [1, 2]\nColor: (7, 7, 7)');
    canvas.dispatchEvent(
      new MouseEvent('mousemove', { clientX: 21, clientY: 5 })
    );
    expect(canvas.title).toBe(''); // on a line
  });
});
