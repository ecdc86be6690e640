import { gridSnippet, POST_SNIPPET } from '../snippet';

describe('gridSnippet', () => {
  it('loads a public BlockGrid', () => {
    expect(gridSnippet({ id: 'Xk9aQe', ipb_class: 'BlockGrid', secret: false })).toBe(
      [
        '%load_ext jupyter_blocks',
        'from ipythonblocks import BlockGrid',
        'grid = BlockGrid.from_web("Xk9aQe")',
        'grid'
      ].join('\n')
    );
  });

  it('loads an ImageGrid with its own class', () => {
    expect(gridSnippet({ id: 'Qe9aXk', ipb_class: 'ImageGrid', secret: false })).toBe(
      [
        '%load_ext jupyter_blocks',
        'from ipythonblocks import ImageGrid',
        'grid = ImageGrid.from_web("Qe9aXk")',
        'grid'
      ].join('\n')
    );
  });

  it('passes secret=True for a secret grid', () => {
    expect(gridSnippet({ id: 's3cr3tId42', ipb_class: 'BlockGrid', secret: true })).toBe(
      [
        '%load_ext jupyter_blocks',
        'from ipythonblocks import BlockGrid',
        'grid = BlockGrid.from_web("s3cr3tId42", secret=True)',
        'grid'
      ].join('\n')
    );
  });

  it('quotes the id as a Python string literal', () => {
    expect(gridSnippet({ id: 'a"b\\c', ipb_class: 'BlockGrid', secret: false })).toContain(
      'BlockGrid.from_web("a\\"b\\\\c")'
    );
  });
});

describe('POST_SNIPPET', () => {
  it('shows how to share a grid', () => {
    expect(POST_SNIPPET.split('\n')[0]).toBe('%load_ext jupyter_blocks');
    expect(POST_SNIPPET).toContain('grid.post_to_web()');
  });
});
