import type { IGridData } from '../api';
import { drawGrid } from '../draw';

const data: IGridData = {
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
      [7, 7, 7, 10]
    ]
  ]
};

describe('drawGrid', () => {
  it('draws height rows of width cells, top row first', () => {
    const table = drawGrid(data);
    expect(table.tagName).toBe('TABLE');
    const rows = table.querySelectorAll('tr');
    expect(rows).toHaveLength(2);
    rows.forEach(row => expect(row.querySelectorAll('td')).toHaveLength(3));
    expect(table.querySelectorAll('td')).toHaveLength(6);
  });

  it('fills each cell with its rgb colour', () => {
    const cells = Array.from(drawGrid(data).querySelectorAll('td'));
    expect(cells.map(cell => cell.style.backgroundColor)).toEqual([
      'rgb(255, 0, 0)',
      'rgb(0, 255, 0)',
      'rgb(0, 0, 255)',
      'rgb(9, 9, 9)',
      'rgb(8, 8, 8)',
      'rgb(7, 7, 7)'
    ]);
  });

  it('sizes each cell as a square of the block size', () => {
    const cells = Array.from(drawGrid(data).querySelectorAll('td'));
    expect(cells.map(cell => [cell.style.width, cell.style.height])).toEqual([
      ['20px', '20px'],
      ['20px', '20px'],
      ['20px', '20px'],
      ['10px', '10px'],
      ['10px', '10px'],
      ['10px', '10px']
    ]);
  });

  it('marks grid lines on or off', () => {
    expect(drawGrid(data).classList.contains('jp-mod-lines')).toBe(true);
    expect(drawGrid({ ...data, lines_on: false }).classList.contains('jp-mod-lines')).toBe(false);
  });

  it('titles each cell with its index and colour, like ipythonblocks', () => {
    const cell = drawGrid(data).querySelectorAll('tr')[1].querySelectorAll('td')[2];
    expect(cell.title).toBe('Index: [1, 2]\nColor: (7, 7, 7)');
  });

  it('draws a one-block grid', () => {
    const table = drawGrid({ lines_on: false, width: 1, height: 1, blocks: [[[1, 2, 3, 1]]] });
    expect(table.querySelectorAll('td')).toHaveLength(1);
    expect(table.querySelector('td')?.style.width).toBe('1px');
  });
});
