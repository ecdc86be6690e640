import type { IPBClass } from '../api';
import { copySnippet, gridSnippet, POST_SNIPPET } from '../snippet';

describe('gridSnippet', () => {
  it.each<[string, string, IPBClass, boolean, string]>([
    [
      'loads a public BlockGrid',
      'Xk9aQe',
      'BlockGrid',
      false,
      'BlockGrid.from_web("Xk9aQe")'
    ],
    [
      'loads an ImageGrid with its own class',
      'Qe9aXk',
      'ImageGrid',
      false,
      'ImageGrid.from_web("Qe9aXk")'
    ],
    [
      'passes secret=True for a secret grid',
      's3cr3tId42',
      'BlockGrid',
      true,
      'BlockGrid.from_web("s3cr3tId42", secret=True)'
    ]
  ])('%s', (_name, id, ipbClass, secret, load) => {
    expect(gridSnippet({ id, ipb_class: ipbClass, secret })).toBe(
      [`from ipythonblocks import ${ipbClass}`, `grid = ${load}`, 'grid'].join(
        '\n'
      )
    );
  });

  it('quotes the id as a Python string literal', () => {
    expect(
      gridSnippet({ id: 'a"b\\c', ipb_class: 'BlockGrid', secret: false })
    ).toContain('BlockGrid.from_web("a\\"b\\\\c")');
  });
});

describe('POST_SNIPPET', () => {
  it('shows how to share a grid, with no %load_ext (never needed)', () => {
    expect(POST_SNIPPET.split('\n')[0]).toBe(
      'from ipythonblocks import BlockGrid'
    );
    expect(POST_SNIPPET).not.toContain('%load_ext');
    expect(POST_SNIPPET).toContain('grid.post_to_web()');
  });
});

describe('copySnippet', () => {
  it('makes the grid again from its blocks, rows top first', () => {
    const drawing = {
      lines_on: false,
      width: 2,
      height: 2,
      blocks: new Uint8Array([
        255, 0, 0, 20, 0, 0, 255, 20, 1, 2, 3, 10, 4, 5, 6, 10
      ])
    };
    expect(copySnippet({ ipb_class: 'BlockGrid' }, drawing)).toBe(
      [
        'from ipythonblocks import BlockGrid',
        'grid = BlockGrid(2, 2, lines_on=False)',
        'grid._load_simple_grid([',
        '    [(255, 0, 0, 20), (0, 0, 255, 20)],',
        '    [(1, 2, 3, 10), (4, 5, 6, 10)],',
        '])',
        'grid'
      ].join('\n')
    );
    expect(
      copySnippet({ ipb_class: 'ImageGrid' }, { ...drawing, lines_on: true })
    ).toContain("grid = ImageGrid(2, 2, lines_on=True, origin='upper-left')");
  });

  it('gives up on grids too big to write out', () => {
    const drawing = {
      lines_on: true,
      width: 101,
      height: 100,
      blocks: new Uint8Array(101 * 100 * 4)
    };
    expect(copySnippet({ ipb_class: 'BlockGrid' }, drawing)).toBeNull();
  });
});
