import { PageConfig } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { DecompressionStream } from 'stream/web';
import { deflateSync } from 'zlib';

import {
  BlocksAPIError,
  BlocksClient,
  defaultTransport,
  type IGridSummary,
  LabTransport,
  listPath,
  readSession,
  SERVICE_URL_OPTION,
  ServiceTransport
} from '../api';

// jsdom lacks the Compression Streams API of browsers: Node.js's, as the test
// environment takes Node.js's fetch and Response.
Object.assign(globalThis, { DecompressionStream });

const BASE_URL = 'http://127.0.0.1:8888/user/a%40b/';
const ORIGIN = 'http://127.0.0.1:8000';
const SERVICE_ROOT = '/services/blocks/blocks/';

type FakeFetch = jest.Mock<
  Promise<Response>,
  [RequestInfo | URL, RequestInit?]
>;

/** A fetch that answers with `respond(url, init)` and records the calls. */
function fakeFetch(
  respond: (url: string, init: RequestInit) => Response | Promise<Response>
): FakeFetch {
  return jest.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    return respond(url, init ?? {});
  });
}

/** A client of the Lab server at BASE_URL whose fetch answers `respond()`. */
function labClient(respond: () => Response | Promise<Response>): {
  client: BlocksClient;
  fetch: FakeFetch;
} {
  const fetch = fakeFetch(respond);
  const settings = ServerConnection.makeSettings({ baseUrl: BASE_URL, fetch });
  return { client: new BlocksClient(new LabTransport(settings)), fetch };
}

/** What a `blocks/session` page posts to the page that framed it. */
function sessionMessage(fields: Record<string, unknown> = {}): unknown {
  return {
    type: 'jupyter-blocks-session',
    author: 'bob',
    moderator: false,
    xsrf_token: 'xsrf-123',
    ...fields
  };
}

/**
 * A client of the gallery service at `root` whose fetch answers
 * `respond(url, init)` and whose hidden frame gets `message` from the page it
 * loads (recording the URLs it loads and the origins it listens to).
 */
function serviceClient(
  respond: (url: string, init: RequestInit) => Response,
  message: () => unknown = () => sessionMessage(),
  root = SERVICE_ROOT,
  notOwnServer = false
): {
  client: BlocksClient;
  fetch: FakeFetch;
  loaded: string[];
  origins: string[];
} {
  const fetch = fakeFetch(respond);
  const loaded: string[] = [];
  const origins: string[] = [];
  const loadSession = async (url: string, origin: string) => {
    loaded.push(url);
    origins.push(origin);
    return message();
  };
  return {
    client: new BlocksClient(
      new ServiceTransport(root, ORIGIN, fetch, loadSession, notOwnServer)
    ),
    fetch,
    loaded,
    origins
  };
}

/** The gallery service on a host of its own (a Hub with subdomains). */
const SERVICE_URL =
  'http://blocks--service.hub.test:8000/services/blocks/blocks/';

/** The Request a Lab-transport call made (ServerConnection builds one). */
function labRequest(fetch: FakeFetch, index = 0): Request {
  return fetch.mock.calls[index][0] as Request;
}

/** The URL requested, without the cache buster `makeRequest` adds for `no-store`. */
function labURL(fetch: FakeFetch, index = 0): string {
  return labRequest(fetch, index).url.replace(/[?&]\d+$/, '');
}

async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
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
  owned: true,
  can_delete: true,
  parent: null
};

describe('listPath', () => {
  it.each([
    [{}, 'api/grids'],
    [{ limit: 1 }, 'api/grids?limit=1'],
    [
      { limit: 24, cursor: 'abc', author: 'alice' },
      'api/grids?limit=24&cursor=abc&author=alice'
    ],
    [{ cursor: null, author: null, q: null }, 'api/grids'],
    [{ author: '', q: '' }, 'api/grids'],
    [{ author: 'Anne Marie&co=1' }, 'api/grids?author=Anne+Marie%26co%3D1'],
    [{ cursor: 'a/b+c=' }, 'api/grids?cursor=a%2Fb%2Bc%3D'],
    [{ q: 'neon rings', author: 'bob' }, 'api/grids?author=bob&q=neon+rings']
  ])('builds %j as %s', (query, expected) => {
    expect(listPath(query)).toBe(expected);
  });
});

describe('BlocksClient on the Lab server', () => {
  it('calls <baseUrl>blocks/<endPoint> and decodes the JSON answer', async () => {
    const { client, fetch } = labClient(() => json({ author: 'alice' }));
    await expect(client.me()).resolves.toEqual({ author: 'alice' });
    expect(labURL(fetch)).toBe(`${BASE_URL}blocks/api/me`);
    expect(labRequest(fetch).method).toBe('GET');
  });

  it('maps a 404 that is not a jupyter-blocks error to "extension missing"', async () => {
    const { client } = labClient(
      () => new Response('<html>404 : Not Found</html>', { status: 404 })
    );
    const error = await failure(client.list());
    expect(error).toBeInstanceOf(BlocksAPIError);
    expect(error).toBeInstanceOf(ServerConnection.ResponseError);
    expect(error).toMatchObject({
      kind: 'extension-missing',
      response: { status: 404 }
    });
  });

  it('keeps a jupyter-blocks 404 (unknown grid) as an HTTP error', async () => {
    const { client } = labClient(() =>
      json({ message: 'No grid Xk9aQe', errors: [] }, 404)
    );
    const error = await failure(client.get('Xk9aQe'));
    expect(error).toMatchObject({
      kind: 'http',
      message: 'No grid Xk9aQe',
      response: { status: 404 }
    });
  });

  it('rejects with a NetworkError when the server cannot be reached', async () => {
    const { client } = labClient(() =>
      Promise.reject(new TypeError('Failed to fetch'))
    );
    expect(await failure(client.list())).toBeInstanceOf(
      ServerConnection.NetworkError
    );
  });

  it('passes the message and errors of an API error answer', async () => {
    const body = {
      message: 'Invalid title',
      errors: [{ path: 'title', message: 'at most 200 characters' }]
    };
    const { client } = labClient(() => json(body, 400));
    const error = await failure(client.rename('Xk9aQe', 'x'.repeat(201)));
    expect(error).toMatchObject({
      kind: 'http',
      message: 'Invalid title',
      body
    });
  });

  it('describes an error answer without a JSON body by its status', async () => {
    const { client } = labClient(
      () => new Response('nope', { status: 403, statusText: 'Forbidden' })
    );
    const error = await failure(client.remove('x'));
    expect(error).toMatchObject({ kind: 'http', message: '403 Forbidden' });
  });

  it('lists grids with the query in the URL', async () => {
    const page = { items: [summary], next: 'c2' };
    const { client, fetch } = labClient(() => json(page));
    await expect(
      client.list({ limit: 2, cursor: 'c1', q: 'sun' })
    ).resolves.toEqual(page);
    expect(labURL(fetch)).toBe(
      `${BASE_URL}blocks/api/grids?limit=2&cursor=c1&q=sun`
    );
  });

  it('asks for author suggestions by prefix', async () => {
    const { client, fetch } = labClient(() =>
      json({ items: ['alice', 'alan'] })
    );
    await expect(client.authors('al', 5)).resolves.toEqual(['alice', 'alan']);
    expect(labURL(fetch)).toBe(`${BASE_URL}blocks/api/authors?q=al&limit=5`);
  });

  it('gets one grid by its escaped id, without its blocks', async () => {
    const { client, fetch } = labClient(() => json({ ...summary, id: 'a b' }));
    await client.get('a b');
    expect(labURL(fetch)).toBe(
      `${BASE_URL}blocks/api/grids/a%20b?blocks=false`
    );
  });

  it('gets the blocks of a grid from its packed pixels, unzipped', async () => {
    const blocks = new Uint8Array([255, 0, 0, 20, 1, 2, 3, 20]);
    const { client, fetch } = labClient(
      () =>
        new Response(deflateSync(blocks), {
          headers: { 'Content-Type': 'application/octet-stream' }
        })
    );
    await expect(client.pixels('Xk9aQe')).resolves.toEqual(blocks);
    expect(labURL(fetch)).toBe(`${BASE_URL}blocks/api/grids/Xk9aQe/pixels`);
  });

  it('keeps a 404 of the pixels of an unknown grid as an HTTP error', async () => {
    const { client } = labClient(() =>
      json({ message: 'No grid Xk9aQe', errors: [] }, 404)
    );
    expect(await failure(client.pixels('Xk9aQe'))).toMatchObject({
      kind: 'http',
      response: { status: 404 }
    });
  });

  it('renames with PATCH {"title"}', async () => {
    const { client, fetch } = labClient(() =>
      json({ ...summary, title: 'Dawn' })
    );
    await expect(client.rename('Xk9aQe', 'Dawn')).resolves.toMatchObject({
      title: 'Dawn'
    });
    const request = labRequest(fetch);
    expect(request.method).toBe('PATCH');
    expect(labURL(fetch)).toBe(
      `${BASE_URL}blocks/api/grids/Xk9aQe?blocks=false`
    );
    expect(await request.text()).toBe('{"title":"Dawn"}');
  });

  it('deletes with DELETE and accepts an empty 204', async () => {
    const { client, fetch } = labClient(
      () => new Response(null, { status: 204 })
    );
    await expect(client.remove('Xk9aQe')).resolves.toBeUndefined();
    expect(labRequest(fetch).method).toBe('DELETE');
    expect(labURL(fetch)).toBe(`${BASE_URL}blocks/api/grids/Xk9aQe`);
  });

  it('fetches the PNG image of a grid', async () => {
    const png = new Uint8Array([137, 80, 78, 71]);
    const { client, fetch } = labClient(
      () => new Response(png, { headers: { 'Content-Type': 'image/png' } })
    );
    const image = await client.image('Xk9aQe');
    expect(new Uint8Array(await image.arrayBuffer())).toEqual(png);
    expect(labURL(fetch)).toBe(`${BASE_URL}blocks/api/grids/Xk9aQe/image.png`);
  });

  it('puts thumbnails and the web gallery on the server, under its base URL', () => {
    const { client } = labClient(() => json({}));
    expect(client.thumbnailURL(summary)).toBe(
      `${BASE_URL}blocks/api/grids/Xk9aQe/thumbnail.svg`
    );
    expect(client.galleryPageURL()).toBe(`${BASE_URL}blocks/`);
  });
});

describe('BlocksClient on the JupyterHub gallery service', () => {
  it('opens the session page first, then calls the service root with cookies and its XSRF token', async () => {
    const { client, fetch, loaded } = serviceClient(() =>
      json({ items: [], next: null })
    );
    await client.list({ limit: 24 });
    expect(loaded).toEqual([`${ORIGIN}${SERVICE_ROOT}session`]);
    expect(fetch.mock.calls.map(([url]) => url)).toEqual([
      `${ORIGIN}${SERVICE_ROOT}api/grids?limit=24`
    ]);
    const init = fetch.mock.calls[0][1];
    expect(init).toMatchObject({
      credentials: 'include',
      redirect: 'follow'
    });
    expect(new Headers(init?.headers).has('Authorization')).toBe(false);
    expect(new Headers(init?.headers).get('X-XSRFToken')).toBe('xsrf-123'); // reads too
  });

  it('says who the user is from the session page', async () => {
    const { client, fetch } = serviceClient(() => json({}));
    await expect(client.me()).resolves.toEqual({
      author: 'bob',
      moderator: false,
      xsrf_token: 'xsrf-123'
    });
    expect(fetch).not.toHaveBeenCalled();
  });

  it.each([
    ['PATCH', (client: BlocksClient) => client.rename('Xk9aQe', 'Dawn')],
    ['DELETE', (client: BlocksClient) => client.remove('Xk9aQe')]
  ])('sends the session XSRF token on %s', async (method, call) => {
    const { client, fetch } = serviceClient(() =>
      method === 'DELETE' ? new Response(null, { status: 204 }) : json(summary)
    );
    await call(client);
    const [url, init] = fetch.mock.calls[0];
    expect(String(url).split('?')[0]).toBe(
      `${ORIGIN}${SERVICE_ROOT}api/grids/Xk9aQe`
    );
    expect(init?.method).toBe(method);
    expect(new Headers(init?.headers).get('X-XSRFToken')).toBe('xsrf-123');
  });

  it('opens the session page once for several calls', async () => {
    const { client, loaded } = serviceClient(
      () => new Response(null, { status: 204 })
    );
    await client.remove('a');
    await client.remove('b');
    expect(loaded).toHaveLength(1);
  });

  it.each([
    ['another message', () => ({ type: 'other', author: 'mallory' })],
    ['no XSRF token', () => sessionMessage({ xsrf_token: undefined })],
    ['nothing (a login page, a timeout)', () => null]
  ])('says "log in" when the frame posts %s', async (_, message) => {
    const { client, fetch } = serviceClient(() => json({}), message);
    expect(await failure(client.list())).toMatchObject({
      kind: 'login-required'
    });
    expect(fetch).not.toHaveBeenCalled();
  });

  it('says "log in" when the service answers with a page instead of JSON', async () => {
    const { client } = serviceClient(
      () =>
        new Response('<html>Sign in</html>', {
          headers: { 'Content-Type': 'text/html' }
        })
    );
    expect(await failure(client.list())).toMatchObject({
      kind: 'login-required'
    });
  });

  it('says "log in" when the service answers a page instead of pixels', async () => {
    const { client, fetch } = serviceClient(
      () =>
        new Response('<html>Sign in</html>', {
          headers: { 'Content-Type': 'text/html' }
        })
    );
    expect(await failure(client.pixels('Xk9aQe'))).toMatchObject({
      kind: 'login-required'
    });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe(`${ORIGIN}${SERVICE_ROOT}api/grids/Xk9aQe/pixels`);
    expect(new Headers(init?.headers).get('X-XSRFToken')).toBe('xsrf-123');
  });

  it('resolves thumbnails and the gallery page on the page origin', () => {
    const { client } = serviceClient(() => json({}));
    const thumbnail = {
      ...summary,
      thumbnail_url: `${SERVICE_ROOT}api/grids/Xk9aQe/thumbnail.svg`
    };
    expect(client.thumbnailURL(thumbnail)).toBe(
      `${ORIGIN}${SERVICE_ROOT}api/grids/Xk9aQe/thumbnail.svg`
    );
    expect(client.galleryPageURL()).toBe(`${ORIGIN}${SERVICE_ROOT}`);
  });

  it('maps a failed fetch to a NetworkError', async () => {
    const { client } = serviceClient(() => {
      throw new TypeError('Failed to fetch');
    });
    expect(await failure(client.list())).toBeInstanceOf(
      ServerConnection.NetworkError
    );
  });
});

describe('BlocksClient on a gallery service on a host of its own', () => {
  it('listens to the session page from the service origin, calls it with cookies', async () => {
    const { client, fetch, loaded, origins } = serviceClient(
      () => json({ items: [], next: null }),
      undefined,
      SERVICE_URL
    );
    await client.list();
    expect(loaded).toEqual([`${SERVICE_URL}session`]);
    expect(origins).toEqual(['http://blocks--service.hub.test:8000']);
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe(`${SERVICE_URL}api/grids`);
    expect(init).toMatchObject({ credentials: 'include' });
    expect(new Headers(init?.headers).get('X-XSRFToken')).toBe('xsrf-123');
  });

  it('fetches thumbnails with the XSRF token, as object URLs', async () => {
    const created: Blob[] = [];
    Object.assign(URL, {
      createObjectURL: (blob: Blob) => {
        created.push(blob);
        return 'blob:thumbnail';
      }
    });
    const { client, fetch } = serviceClient(
      () =>
        new Response('<svg/>', {
          headers: { 'Content-Type': 'image/svg+xml' }
        }),
      undefined,
      SERVICE_URL
    );
    const thumbnail = {
      ...summary,
      thumbnail_url: '/services/blocks/blocks/api/grids/Xk9aQe/thumbnail.svg'
    };
    expect(await client.thumbnail(thumbnail)).toBe('blob:thumbnail');
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe(`${SERVICE_URL}api/grids/Xk9aQe/thumbnail.svg`);
    expect(new Headers(init?.headers).get('X-XSRFToken')).toBe('xsrf-123');
    expect(created).toHaveLength(1);
  });

  it('links thumbnails of a service on the page origin', async () => {
    const { client, fetch } = serviceClient(() => json({}));
    const thumbnail = {
      ...summary,
      thumbnail_url: `${SERVICE_ROOT}api/grids/Xk9aQe/thumbnail.svg`
    };
    expect(await client.thumbnail(thumbnail)).toBe(
      `${ORIGIN}${SERVICE_ROOT}api/grids/Xk9aQe/thumbnail.svg`
    );
    expect(fetch).not.toHaveBeenCalled();
  });

  it("says so on someone else's server, and asks the service nothing", async () => {
    const { client, fetch, loaded } = serviceClient(
      () => json({}),
      undefined,
      SERVICE_URL,
      true
    );
    expect(await failure(client.list())).toMatchObject({
      kind: 'not-own-server'
    });
    expect(loaded).toEqual([]);
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe('readSession', () => {
  it('reads the author, the moderator flag and the XSRF token', () => {
    expect(
      readSession(
        sessionMessage({ author: 'mod', moderator: true, xsrf_token: 't' })
      )
    ).toEqual({
      author: 'mod',
      moderator: true,
      xsrf_token: 't'
    });
  });

  it.each([null, 'text', { type: 'other' }, sessionMessage({ author: '' })])(
    'is null for any other message: %p',
    message => {
      expect(readSession(message)).toBeNull();
    }
  );
});

describe('defaultTransport', () => {
  afterEach(() => PageConfig.setOption(SERVICE_URL_OPTION, ''));

  it('is the Lab server without the PageConfig option', () => {
    const settings = ServerConnection.makeSettings({ baseUrl: BASE_URL });
    expect(defaultTransport(settings)).toBeInstanceOf(LabTransport);
  });

  it('is the gallery service the PageConfig option names', () => {
    PageConfig.setOption(SERVICE_URL_OPTION, SERVICE_ROOT);
    const transport = defaultTransport(
      ServerConnection.makeSettings({ baseUrl: BASE_URL })
    );
    expect(transport).toBeInstanceOf(ServiceTransport);
    expect(transport.url('api/me')).toBe(
      `${window.location.origin}${SERVICE_ROOT}api/me`
    );
  });
});
