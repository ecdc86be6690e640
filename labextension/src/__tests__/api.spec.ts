import { ServerConnection } from '@jupyterlab/services';

import {
  BlocksAPIError,
  BlocksClient,
  EXTENSION_MISSING_MESSAGE,
  type IGridSummary,
  listPath,
  NETWORK_ERROR_MESSAGE,
  requestAPI
} from '../api';

const BASE_URL = 'http://127.0.0.1:8888/user/a%40b/';

type FakeFetch = jest.Mock<Promise<Response>, [RequestInfo, RequestInit?]>;

/** A client whose fetch answers `response` and records the requests. */
function fakeServer(response: () => Response | Promise<Response>): {
  fetch: FakeFetch;
  settings: ServerConnection.ISettings;
} {
  const fetch: FakeFetch = jest.fn(async (_input: RequestInfo, _init?: RequestInit) =>
    response()
  );
  const settings = ServerConnection.makeSettings({ baseUrl: BASE_URL, fetch });
  return { fetch, settings };
}

function requestOf(fetch: FakeFetch, index = 0): Request {
  return fetch.mock.calls[index][0] as Request;
}

/** The URL requested, without the cache buster `makeRequest` adds for `no-store`. */
function urlOf(fetch: FakeFetch, index = 0): string {
  return requestOf(fetch, index).url.replace(/[?&]\d+$/, '');
}

/** The BlocksAPIError a call rejects with. */
async function failure(call: Promise<unknown>): Promise<BlocksAPIError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof BlocksAPIError) {
      return error;
    }
    throw error;
  }
  throw new Error('The call did not fail');
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

const summary: IGridSummary = {
  id: 'Xk9aQe',
  secret: false,
  url: 'http://127.0.0.1:8888/user/a%40b/blocks/Xk9aQe',
  thumbnail_url: '/user/a%40b/blocks/api/grids/Xk9aQe/thumbnail.svg',
  author: 'alice',
  title: 'Sunset',
  created: '2026-11-25T13:05:00.123456+00:00',
  ipb_class: 'BlockGrid',
  width: 3,
  height: 2,
  owned: true
};

describe('listPath', () => {
  it.each([
    [{}, 'api/grids'],
    [{ limit: 1 }, 'api/grids?limit=1'],
    [{ limit: 24, cursor: 'abc', author: 'alice' }, 'api/grids?limit=24&cursor=abc&author=alice'],
    [{ cursor: null, author: null }, 'api/grids'],
    [{ author: '' }, 'api/grids'],
    [{ author: 'Anne Marie&co=1' }, 'api/grids?author=Anne+Marie%26co%3D1'],
    [{ cursor: 'a/b+c=' }, 'api/grids?cursor=a%2Fb%2Bc%3D']
  ])('builds %j as %s', (query, expected) => {
    expect(listPath(query)).toBe(expected);
  });
});

describe('requestAPI', () => {
  it('calls <baseUrl>blocks/<endPoint> and decodes the JSON answer', async () => {
    const { fetch, settings } = fakeServer(() => json({ author: 'alice' }));
    const data = await requestAPI<{ author: string }>('api/me', {}, settings);
    expect(data).toEqual({ author: 'alice' });
    expect(fetch).toHaveBeenCalledTimes(1);
    const request = requestOf(fetch);
    expect(urlOf(fetch)).toBe(`${BASE_URL}blocks/api/me`);
    expect(request.method).toBe('GET');
  });

  it('maps a 404 that is not a jupyter-blocks error to "extension missing"', async () => {
    const { settings } = fakeServer(
      () => new Response('<html>404 : Not Found</html>', { status: 404 })
    );
    const error = await failure(requestAPI('api/grids', {}, settings));
    expect(error.kind).toBe('extension-missing');
    expect(error.status).toBe(404);
    expect(error.message).toBe(EXTENSION_MISSING_MESSAGE);
    expect(error.message).toBe(
      'The jupyter-blocks server extension is not installed or not enabled'
    );
  });

  it('keeps a jupyter-blocks 404 (unknown grid) as an HTTP error', async () => {
    const { settings } = fakeServer(() => json({ message: 'No grid Xk9aQe', errors: [] }, 404));
    const error = await failure(requestAPI('api/grids/Xk9aQe', {}, settings));
    expect(error.kind).toBe('http');
    expect(error.status).toBe(404);
    expect(error.message).toBe('No grid Xk9aQe');
  });

  it('maps a failed fetch to a network error', async () => {
    const { settings } = fakeServer(() => Promise.reject(new TypeError('Failed to fetch')));
    const error = await failure(requestAPI('api/me', {}, settings));
    expect(error.kind).toBe('network');
    expect(error.status).toBeNull();
    expect(error.message).toBe(NETWORK_ERROR_MESSAGE);
    expect(error.message).toBe('Cannot reach the Jupyter server');
  });

  it('passes the message and errors of an API error answer', async () => {
    const body = {
      message: 'Invalid grid payload',
      errors: [{ path: 'grid_data.blocks.2.3', message: 'colour value 256 is not an integer' }]
    };
    const { settings } = fakeServer(() => json(body, 400));
    const error = await failure(requestAPI('api/grids', { method: 'POST' }, settings));
    expect(error.kind).toBe('http');
    expect(error.status).toBe(400);
    expect(error.message).toBe('Invalid grid payload');
    expect(error.body).toEqual(body);
  });

  it('describes an error answer without a JSON body by its status', async () => {
    const { settings } = fakeServer(
      () => new Response('nope', { status: 403, statusText: 'Forbidden' })
    );
    const error = await failure(requestAPI('api/grids/x', { method: 'DELETE' }, settings));
    expect(error.kind).toBe('http');
    expect(error.status).toBe(403);
    expect(error.message).toBe('403 Forbidden');
  });
});

describe('BlocksClient', () => {
  it('lists grids with the query in the URL', async () => {
    const page = { items: [summary], next: 'c2' };
    const { fetch, settings } = fakeServer(() => json(page));
    const client = new BlocksClient(settings);
    await expect(client.list({ limit: 2, cursor: 'c1', author: 'alice' })).resolves.toEqual(page);
    expect(urlOf(fetch)).toBe(
      `${BASE_URL}blocks/api/grids?limit=2&cursor=c1&author=alice`
    );
  });

  it('asks who the user is', async () => {
    const { fetch, settings } = fakeServer(() => json({ author: 'alice' }));
    await expect(new BlocksClient(settings).me()).resolves.toEqual({ author: 'alice' });
    expect(urlOf(fetch)).toBe(`${BASE_URL}blocks/api/me`);
  });

  it('gets one grid by its escaped id', async () => {
    const { fetch, settings } = fakeServer(() => json({ ...summary, id: 'a b' }));
    await new BlocksClient(settings).get('a b');
    expect(urlOf(fetch)).toBe(`${BASE_URL}blocks/api/grids/a%20b`);
  });

  it('deletes with DELETE and accepts an empty 204', async () => {
    const { fetch, settings } = fakeServer(() => new Response(null, { status: 204 }));
    await expect(new BlocksClient(settings).remove('Xk9aQe')).resolves.toBeUndefined();
    const request = requestOf(fetch);
    expect(request.method).toBe('DELETE');
    expect(urlOf(fetch)).toBe(`${BASE_URL}blocks/api/grids/Xk9aQe`);
  });

  it('refuses to delete when the server says 403', async () => {
    const { settings } = fakeServer(() => json({ message: 'Not your grid', errors: [] }, 403));
    await expect(new BlocksClient(settings).remove('Xk9aQe')).rejects.toMatchObject({
      kind: 'http',
      status: 403,
      message: 'Not your grid'
    });
  });

  it('puts thumbnails and the web gallery on the server, under its base URL', () => {
    const client = new BlocksClient(ServerConnection.makeSettings({ baseUrl: BASE_URL }));
    expect(client.thumbnailURL(summary)).toBe(
      `${BASE_URL}blocks/api/grids/Xk9aQe/thumbnail.svg`
    );
    expect(client.galleryPageURL()).toBe(`${BASE_URL}blocks/`);
  });
});
