import { BlocksAPIError, BlocksClient, type IGrid } from '../api';
import { GridModel } from '../gridmodel';

const record: IGrid = {
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
  grid_data: { lines_on: true, width: 1, height: 1, blocks: [[[1, 2, 3, 20]]] },
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
  async get(): Promise<IGrid> {
    if (this.failure) {
      throw this.failure;
    }
    return record;
  }
  async rename(_: string, title: string | null): Promise<IGrid> {
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
  });

  it('renames and deletes', async () => {
    const model = new GridModel('Xk9aQe', new FakeClient());
    await model.load();
    await model.rename('Dawn');
    expect(model.grid?.title).toBe('Dawn');
    await model.remove();
    expect(model.status).toBe('deleted');
  });
});
