import type { IPBClass } from '../api';
import { gridSnippet, POST_SNIPPET } from '../snippet';

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
      [
        '%load_ext jupyter_blocks',
        `from ipythonblocks import ${ipbClass}`,
        `grid = ${load}`,
        'grid'
      ].join('\n')
    );
  });

  it('quotes the id as a Python string literal', () => {
    expect(
      gridSnippet({ id: 'a"b\\c', ipb_class: 'BlockGrid', secret: false })
    ).toContain('BlockGrid.from_web("a\\"b\\\\c")');
  });
});

describe('POST_SNIPPET', () => {
  it('shows how to share a grid', () => {
    expect(POST_SNIPPET.split('\n')[0]).toBe('%load_ext jupyter_blocks');
    expect(POST_SNIPPET).toContain('grid.post_to_web()');
  });
});
