import { BlocksAPIError, BlocksClient } from '../api';
import { GridModel, type GridRecord } from '../gridmodel';

const record: GridRecord = {
  id: 'Xk9aQe',
  secret: false,
  url: 'http://localhost/blocks/Xk9aQe',
  thumbnail_url: '/blocks/api/grids/Xk9aQe/thumbnail.svg',
  author: 'alice',
  title: 'Sunset',
  created: '2026-11-25T13:05:00+00:00',
  ipb_class: 'BlockGrid',
  width: 1,
  height: 1,
  owned: true,
  can_delete: true,
  parent: null,
  remixes: [],
  grid_data: { lines_on: true, width: 1, height: 1 },
  code_cells: null,
  ipb_version: '1.9.1',
  python_version: [3, 11, 7, 'final', 0]
};

function answer(
  status: number,
  body: unknown = { message: 'No such grid', errors: [] }
) {
  return new BlocksAPIError(
    new Response(JSON.stringify(body), { status }),
    'http',
    (body as { message: string }).message,
    body as BlocksAPIError['body']
  );
}

class FakeClient extends BlocksClient {
  failure: Error | null = null;
  blocks = new Uint8Array([1, 2, 3, 20]);
  async get(): Promise<GridRecord> {
    if (this.failure) {
      throw this.failure;
    }
    return record;
  }
  async pixels(): Promise<Uint8Array> {
    if (this.failure) {
      throw this.failure;
    }
    return this.blocks;
  }
  async rename(_: string, title: string | null): Promise<GridRecord> {
    return { ...record, title };
  }
  async remove(): Promise<void> {
    return;
  }
}

describe('GridModel', () => {
  it('loads the record', async () => {
    const model = new GridModel('Xk9aQe', new FakeClient());
    const seen: string[] = [];
    model.changed.connect(() => seen.push(model.status));
    await model.load();
    expect(seen).toEqual(['loading', 'ready']);
    expect(model.grid).toBe(record);
    expect(model.drawing).toEqual({
      lines_on: true,
      width: 1,
      height: 1,
      blocks: new Uint8Array([1, 2, 3, 20])
    });
    model.dispose();
  });

  it('is an error when the blocks do not match the size of the grid', async () => {
    const client = new FakeClient();
    client.blocks = new Uint8Array([1, 2, 3, 20, 4, 5, 6, 20]);
    const model = new GridModel('Xk9aQe', client);
    await model.load();
    expect(model.status).toBe('error');
    expect(String(model.error)).toContain('do not match its size, 1 × 1');
    expect(model.drawing).toBeNull();
    model.dispose();
  });

  it.each([
    [404, 'gone'],
    [500, 'error']
  ])('turns a %s into %s', async (status, expected) => {
    const client = new FakeClient();
    client.failure = answer(status);
    const model = new GridModel('Xk9aQe', client);
    await model.load();
    expect(model.status).toBe(expected);
    model.dispose();
  });

  it('is not gone when the server extension is missing', async () => {
    const client = new FakeClient();
    client.failure = new BlocksAPIError(
      new Response('', { status: 404 }),
      'extension-missing',
      ''
    );
    const model = new GridModel('Xk9aQe', client);
    await model.load();
    expect(model.status).toBe('error');
    model.dispose();
  });

  it('renames and deletes', async () => {
    const model = new GridModel('Xk9aQe', new FakeClient());
    await model.load();
    await model.rename('Dawn');
    expect(model.grid?.title).toBe('Dawn');
    expect(model.drawing?.blocks).toEqual(new Uint8Array([1, 2, 3, 20]));
    await model.remove();
    expect(model.status).toBe('deleted');
    model.dispose();
  });
});
