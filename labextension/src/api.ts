/**
 * Client of the jupyter-blocks JSON API (see docs/api.md, the contract).
 *
 * One client, two transports for the blocks root it talks to:
 * - `LabTransport`: the Jupyter server JupyterLab runs on (`<baseUrl>blocks/`),
 *   through `ServerConnection` (token, XSRF cookie);
 * - `ServiceTransport`: the JupyterHub gallery service named by the PageConfig
 *   option `jupyterBlocksServiceUrl` (the Hub's OAuth cookie, the XSRF token its
 *   session page hands out, no Lab token): on the page's origin, or on a Hub
 *   with subdomains on a host of its own, which answers cross-origin requests
 *   (CORS with credentials) from the user's own server's origin alone.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The URL namespace of every jupyter-blocks route, under the server's base URL. */
export const NAMESPACE = 'blocks';

/** The PageConfig option holding the path of the gallery service's blocks root. */
export const SERVICE_URL_OPTION = 'jupyterBlocksServiceUrl';

/** `[red, green, blue, size]`: colour values 0..255, size in pixels. */
export type Block = [number, number, number, number];

/** A grid's size and grid lines: its data without the blocks (`?blocks=false`). */
export interface IGridShape {
  lines_on: boolean;
  width: number;
  height: number;
}

/** The drawable part of a grid, as posted by ipythonblocks. */
export interface IGridData extends IGridShape {
  /** `height` rows of `width` blocks, top row first. */
  blocks: Block[][];
  origin?: 'upper-left' | 'lower-left';
}

/** The ipythonblocks class that posted a grid. */
export type IPBClass = 'BlockGrid' | 'ImageGrid';

/** One item of `GET blocks/api/grids`. */
export interface IGridSummary {
  id: string;
  secret: boolean;
  /** Absolute URL of the grid's HTML page. */
  url: string;
  /** Absolute path (no host, base URL included) of the SVG thumbnail. */
  thumbnail_url: string;
  author: string;
  title: string | null;
  /** ISO 8601 timestamp with time zone. */
  created: string;
  ipb_class: IPBClass;
  width: number;
  height: number;
  /** True when the requesting user is the author. */
  owned: boolean;
  /** True when the requesting user may delete the grid (its author or a moderator). */
  can_delete: boolean;
  /** The grid this one was remixed from, or null. */
  parent: string | null;
}

/** A grid remixed from another one, as listed in the other one's record. */
export interface IRemix {
  id: string;
  title: string | null;
  author: string;
  url: string;
}

/**
 * `GET blocks/api/grids/<id>`: a summary plus the grid itself; with
 * `?blocks=false`, an `IGrid<IGridShape>` (the blocks are then drawn from
 * `pixels`).
 */
export interface IGrid<
  Data extends IGridShape = IGridData
> extends IGridSummary {
  grid_data: Data;
  code_cells: string[] | null;
  ipb_version: string | null;
  /** `sys.version_info` of the kernel that posted, e.g. `[3, 11, 7, 'final', 0]`. */
  python_version: (number | string)[] | null;
  /** Grids remixed from this one, newest first (at most 50). */
  remixes: IRemix[];
}

/** `GET blocks/api/grids`: one page, newest first. */
export interface IGridPage {
  items: IGridSummary[];
  /** Cursor of the next page, or null on the last page. */
  next: string | null;
}

/** `GET blocks/api/me`. */
export interface IMe {
  author: string;
  /** Whether the user may delete anyone's grids. */
  moderator: boolean;
}

/**
 * What the gallery service's `blocks/session` page posts to the page that
 * framed it: who the user is, and the service's XSRF token.
 */
export interface ISession extends IMe {
  /** Sent as `X-XSRFToken` with every `fetch` to the service. */
  xsrf_token: string;
}

/** Path of the event stream, relative to the blocks root. */
export const EVENTS_PATH = 'api/events';

/** A change the event stream announces (never of a secret grid). */
export type GridChange =
  | {
      kind: 'posted';
      /** As an item of `GET blocks/api/grids`. */
      grid: IGridSummary;
    }
  | { kind: 'renamed'; id: string; title: string | null }
  | { kind: 'deleted'; id: string };

/**
 * A frame of the event stream: `hello` when connected (after the first one:
 * resync what is shown), then batches of changes, oldest first.
 */
export type EventFrame =
  { type: 'hello' } | { type: 'changes'; events: GridChange[] };

/** One precise error of an error answer. */
export interface IErrorDetail {
  path: string;
  message: string;
}

/** The body of every error answer of the API. */
export interface IErrorBody {
  message: string;
  errors: IErrorDetail[];
}

/** Query of `GET blocks/api/grids`; unset fields are left out of the URL. */
export interface IListQuery {
  limit?: number;
  cursor?: string | null;
  author?: string | null;
  /** Case-insensitive text searched in titles and author names. */
  q?: string | null;
}

/**
 * Why an answer was an error:
 * - `extension-missing`: the server has no jupyter-blocks routes (a 404 that is not ours);
 * - `login-required`: the gallery service answered something other than JSON
 *   (the Hub's login page): the user must log in to JupyterHub;
 * - `not-own-server`: JupyterLab runs on someone else's server (shared with
 *   the user) and the gallery service, on a host of its own, answers pages of
 *   the user's own server alone;
 * - `http`: the API answered an error status (see `status` and `body`).
 * A server that cannot be reached rejects with `ServerConnection.NetworkError`.
 */
export type APIErrorKind =
  'extension-missing' | 'login-required' | 'not-own-server' | 'http';

/** A request the API answered with an error. */
export class BlocksAPIError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    readonly kind: APIErrorKind,
    message: string,
    readonly body: IErrorBody | null = null
  ) {
    super(response, message);
    this.name = 'BlocksAPIError';
  }
}

/** How the client reaches a blocks root. */
export interface ITransport {
  /** True for the JupyterHub gallery service (requests carry the session's XSRF token). */
  readonly isService: boolean;
  /**
   * True when the blocks root is on another origin than the page's: images
   * are fetched (with the XSRF token) rather than linked.
   */
  readonly crossOrigin: boolean;
  /**
   * Who the user is, when the transport has its own way to ask (the gallery
   * service's session page); otherwise the client asks `api/me`.
   */
  session?(): Promise<ISession>;
  /** Absolute URL of `path` (relative to the blocks root). */
  url(path: string): string;
  /** Absolute URL of an absolute path the server handed out (thumbnails). */
  resolve(path: string): string;
  /**
   * Open a websocket to `path` (relative to the blocks root), authenticated
   * as the transport's requests are.
   */
  socket(path: string): WebSocket;
  /**
   * Send a request to `path` (relative to the blocks root).
   *
   * @throws ServerConnection.NetworkError when the server cannot be reached.
   */
  fetch(path: string, init: RequestInit): Promise<Response>;
}

/** The blocks root of the Jupyter server JupyterLab runs on. */
export class LabTransport implements ITransport {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  readonly isService = false;
  readonly crossOrigin = false;

  url(path: string): string {
    return URLExt.join(this.settings.baseUrl, NAMESPACE, path);
  }

  resolve(path: string): string {
    return new URL(path, this.settings.baseUrl).href;
  }

  /** The websocket URL of `path`, with the token as JupyterLab's own sockets carry it. */
  socketURL(path: string): string {
    const { appendToken, token, wsUrl } = this.settings;
    const url = URLExt.join(wsUrl, NAMESPACE, path);
    return appendToken && token
      ? `${url}?token=${encodeURIComponent(token)}`
      : url;
  }

  socket(path: string): WebSocket {
    return new this.settings.WebSocket(this.socketURL(path));
  }

  fetch(path: string, init: RequestInit): Promise<Response> {
    return ServerConnection.makeRequest(this.url(path), init, this.settings);
  }
}

/** Loads the session page in a hidden frame: what it posts, or null. */
export type SessionLoader = (url: string, origin: string) => Promise<unknown>;

/**
 * The blocks root of the JupyterHub gallery service: a path on the page's own
 * origin, or a URL on the service's own host (a Hub with subdomains), called
 * with the browser's cookies and no Lab token.
 */
export class ServiceTransport implements ITransport {
  /**
   * @param root - The service's blocks root: an absolute path, e.g.
   *   `/services/blocks/blocks/`, or a URL on the service's own host.
   * @param origin - The page's origin, which a path is on.
   * @param fetchImpl - The `fetch` to use.
   * @param loadSession - Loads the session page in a hidden frame.
   * @param notOwnServer - JupyterLab runs on a server of someone else's.
   */
  constructor(
    readonly root: string,
    readonly origin: string = window.location.origin,
    private readonly _fetch: typeof fetch = (input, init) =>
      window.fetch(input, init),
    private readonly _loadSession: SessionLoader = sessionInHiddenFrame,
    readonly notOwnServer = false
  ) {
    this.serviceOrigin = new URL(root, origin).origin;
    this.crossOrigin = this.serviceOrigin !== origin;
  }

  readonly isService = true;
  readonly crossOrigin: boolean;
  /** The origin of the service's pages. */
  readonly serviceOrigin: string;

  /**
   * Who the user is, from the service's `session` page: loaded as a page (in a
   * hidden iframe), it takes the browser through the Hub's OAuth login when
   * there is no service cookie yet, and it posts the service's XSRF token
   * (which the Hub sets in a cookie under the service's path only) to this
   * page, if this page is on the origin the service hands it to.
   *
   * @throws BlocksAPIError `login-required` when the page posts nothing;
   *   `not-own-server` on someone else's server, where the service on its own
   *   host answers no request of this page.
   */
  async session(): Promise<ISession> {
    if (this.crossOrigin && this.notOwnServer) {
      throw new BlocksAPIError(
        new Response(null, { status: 403, statusText: 'Forbidden' }),
        'not-own-server',
        NOT_OWN_SERVER_MESSAGE
      );
    }
    const me = readSession(
      await this._loadSession(this.url('session'), this.serviceOrigin)
    );
    if (!me) {
      throw new BlocksAPIError(
        new Response(null, { status: 401, statusText: 'Unauthorized' }),
        'login-required',
        LOGIN_REQUIRED_MESSAGE
      );
    }
    return me;
  }

  url(path: string): string {
    return new URL(URLExt.join(this.root, path), this.origin).href;
  }

  resolve(path: string): string {
    return new URL(path, this.serviceOrigin).href;
  }

  /** The websocket URL of `path`: the service's, with the Hub's cookie and no token. */
  socketURL(path: string): string {
    const url = new URL(this.url(path));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.href;
  }

  socket(path: string): WebSocket {
    return new WebSocket(this.socketURL(path));
  }

  async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await this._fetch(this.url(path), {
        ...init,
        // the service's cookies, also from a user's server on another host
        credentials: 'include',
        redirect: 'follow'
      });
    } catch (error) {
      throw new ServerConnection.NetworkError(error as TypeError);
    }
  }
}

/** The session a `blocks/session` page posted (its message's data), or null. */
export function readSession(data: unknown): ISession | null {
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  const message = data as Partial<ISession> & { type?: unknown };
  if (
    message.type !== SESSION_MESSAGE ||
    typeof message.author !== 'string' ||
    !message.author ||
    typeof message.xsrf_token !== 'string'
  ) {
    return null;
  }
  return {
    author: message.author,
    moderator: message.moderator === true,
    xsrf_token: message.xsrf_token
  };
}

/** The `type` of the session page's message. */
const SESSION_MESSAGE = 'jupyter-blocks-session';

/** How long the Hub's login may take inside the hidden frame. */
const SESSION_TIMEOUT = 30 * 1000;
/** How long after the frame has loaded its message may still come. */
const MESSAGE_GRACE = 2 * 1000;

/**
 * Load `url` in a hidden iframe and give what the page there posts to this
 * window from `origin`, or null (a login page, a page that may not be framed
 * here, a timeout).
 */
function sessionInHiddenFrame(url: string, origin: string): Promise<unknown> {
  return new Promise(resolve => {
    const frame = document.createElement('iframe');
    frame.hidden = true;
    frame.className = 'jp-BlocksSessionFrame';
    let grace = 0;
    const done = (data: unknown): void => {
      window.clearTimeout(timer);
      window.clearTimeout(grace);
      window.removeEventListener('message', onMessage);
      frame.remove();
      resolve(data);
    };
    const onMessage = (event: MessageEvent): void => {
      if (event.source === frame.contentWindow && event.origin === origin) {
        done(event.data);
      }
    };
    const timer = window.setTimeout(() => done(null), SESSION_TIMEOUT);
    window.addEventListener('message', onMessage);
    frame.addEventListener('load', () => {
      window.clearTimeout(grace);
      grace = window.setTimeout(() => done(null), MESSAGE_GRACE);
    });
    frame.src = url;
    document.body.appendChild(frame);
  });
}

/** The gallery service's transport when PageConfig names one, else the Lab server's. */
export function defaultTransport(
  settings: ServerConnection.ISettings
): ITransport {
  const service = PageConfig.getOption(SERVICE_URL_OPTION);
  if (!service) {
    return new LabTransport(settings);
  }
  // JupyterHub's page config: who is logged in, and whose server this is
  const viewer = PageConfig.getOption('hubUser');
  const owner = PageConfig.getOption('hubServerUser');
  return new ServiceTransport(
    service,
    window.location.origin,
    undefined,
    undefined,
    !!viewer && !!owner && viewer !== owner
  );
}

/** Path and query of a list request, relative to the blocks root. */
export function listPath(query: IListQuery = {}): string {
  const params = new URLSearchParams();
  if (query.limit !== undefined) {
    params.set('limit', String(query.limit));
  }
  if (query.cursor) {
    params.set('cursor', query.cursor);
  }
  if (query.author) {
    params.set('author', query.author);
  }
  if (query.q) {
    params.set('q', query.q);
  }
  const search = params.toString();
  return search ? `api/grids?${search}` : 'api/grids';
}

/** Path of one grid, relative to the blocks root. */
export function gridPath(id: string): string {
  return `api/grids/${encodeURIComponent(id)}`;
}

/** The typed operations of the API, over one transport. */
export class BlocksClient {
  constructor(readonly transport: ITransport = new LabTransport()) {}

  /**
   * Call `endPoint` and return the decoded JSON (`undefined` for an empty
   * answer such as `204`).
   *
   * @throws BlocksAPIError, ServerConnection.NetworkError
   */
  async request<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
    const response = await this._send(endPoint, init);
    const text = await response.text();
    const data = parseJSON(text);
    if (response.ok && (data !== undefined || !text)) {
      return data as T;
    }
    throw this._error(response, data);
  }

  /** Who the server says the current user is (asked once, again after a failure). */
  me(): Promise<IMe | ISession> {
    if (!this._me) {
      this._me = this.transport.session
        ? this.transport.session()
        : this.request<IMe>('api/me');
      this._me.catch(() => (this._me = null));
    }
    return this._me;
  }

  /** One page of public grids, newest first. */
  list(query: IListQuery = {}): Promise<IGridPage> {
    return this.request<IGridPage>(listPath(query));
  }

  /** Author names starting with `prefix`, for suggestions. */
  async authors(prefix: string, limit = 10): Promise<string[]> {
    const params = new URLSearchParams({ q: prefix, limit: String(limit) });
    const answer = await this.request<{ items: string[] }>(
      `api/authors?${params}`
    );
    return answer.items;
  }

  /**
   * One grid with its code cells, without its blocks (`pixels` has them,
   * ten times smaller): a big grid's JSON takes long to download and parse.
   */
  get(id: string): Promise<IGrid<IGridShape>> {
    return this.request<IGrid<IGridShape>>(`${gridPath(id)}?blocks=false`);
  }

  /**
   * A grid's blocks, four bytes each (red, green, blue, size), rows top
   * first: what `api/grids/<id>/pixels` serves, unzipped.
   */
  async pixels(id: string): Promise<Uint8Array> {
    const response = await this._send(`${gridPath(id)}/pixels`, {});
    const type = response.headers.get('Content-Type') ?? '';
    if (!response.ok || !type.startsWith('application/octet-stream')) {
      // An error, or (on the gallery service) the Hub's login page.
      throw this._error(response, parseJSON(await response.text()));
    }
    const unzipped = new Response(
      response.body?.pipeThrough(new DecompressionStream('deflate'))
    );
    return new Uint8Array(await unzipped.arrayBuffer());
  }

  /** Give a grid of the current user a new title (null: untitled). */
  rename(id: string, title: string | null): Promise<IGrid<IGridShape>> {
    return this.request<IGrid<IGridShape>>(`${gridPath(id)}?blocks=false`, {
      method: 'PATCH',
      body: JSON.stringify({ title }),
      headers: { 'Content-Type': 'application/json' }
    });
  }

  /** Delete a grid the current user may delete. */
  async remove(id: string): Promise<void> {
    await this.request<void>(gridPath(id), { method: 'DELETE' });
  }

  /** The grid drawn as a PNG image, as ipythonblocks draws it. */
  async image(id: string): Promise<Blob> {
    const response = await this._send(`${gridPath(id)}/image.png`, {});
    if (!response.ok) {
      throw this._error(response, parseJSON(await response.text()));
    }
    return response.blob();
  }

  /** Absolute URL of a summary's thumbnail. */
  thumbnailURL(summary: IGridSummary): string {
    return this.transport.resolve(summary.thumbnail_url);
  }

  /**
   * A URL an image element may load a summary's thumbnail from: its own, or,
   * from a service on another origin (whose images need the XSRF token), an
   * object URL of the fetched image, which the caller revokes once loaded.
   */
  async thumbnail(summary: IGridSummary): Promise<string> {
    if (!this.transport.crossOrigin) {
      return this.thumbnailURL(summary);
    }
    const path = new URL(this.thumbnailURL(summary)).pathname;
    const root = new URL(this.transport.url('')).pathname;
    const response = await this._send(path.slice(root.length), {});
    if (!response.ok) {
      throw this._error(response, parseJSON(await response.text()));
    }
    return URL.createObjectURL(await response.blob());
  }

  /** Absolute URL of the HTML gallery page. */
  galleryPageURL(): string {
    return this.transport.url('/');
  }

  /** Absolute URL of the class wall, the live mosaic of the newest grids. */
  wallURL(): string {
    return this.transport.url('wall');
  }

  /**
   * Open the event stream of the gallery (see `GalleryEvents`). On the
   * gallery service, once the session page has logged the browser in to it
   * (the socket's handshake carries the service's cookie).
   */
  async events(): Promise<WebSocket> {
    if (this.transport.isService) {
      await this.me();
    }
    return this.transport.socket(EVENTS_PATH);
  }

  /**
   * Send a request. On the gallery service, the session goes first: it logs
   * the browser in to the service through the Hub, and it hands out the XSRF
   * token that every `fetch` there carries (the Hub checks it on all
   * cookie-authenticated requests that are not page loads, reads included).
   */
  private async _send(endPoint: string, init: RequestInit): Promise<Response> {
    if (this.transport.isService) {
      const me = await this.me();
      if ('xsrf_token' in me) {
        const headers = new Headers(init.headers);
        headers.set('X-XSRFToken', me.xsrf_token);
        init = { ...init, headers };
      }
    }
    return this.transport.fetch(endPoint, init);
  }

  private _error(response: Response, data: unknown): BlocksAPIError {
    const body = isErrorBody(data) ? data : null;
    if (
      body === null &&
      this.transport.isService &&
      (response.ok || response.status === 401)
    ) {
      // Redirected through the Hub to something that is not our API: a login page.
      return new BlocksAPIError(
        response,
        'login-required',
        LOGIN_REQUIRED_MESSAGE
      );
    }
    if (response.status === 404 && body === null) {
      return new BlocksAPIError(
        response,
        'extension-missing',
        EXTENSION_MISSING_MESSAGE
      );
    }
    const message =
      body?.message ?? `${response.status} ${response.statusText}`.trim();
    return new BlocksAPIError(response, 'http', message, body);
  }

  private _me: Promise<IMe | ISession> | null = null;
}

/** Message of a 404 that is not ours. */
const EXTENSION_MISSING_MESSAGE =
  'The jupyter-blocks server extension is not installed or not enabled';

/** Message of a gallery service that answers with a login page. */
const LOGIN_REQUIRED_MESSAGE = 'Log in to JupyterHub to see the gallery';

/** Message of a gallery service that answers no page of someone else's server. */
const NOT_OWN_SERVER_MESSAGE =
  "The gallery opens in JupyterLab on your own server, not on someone else's";

function parseJSON(text: string): unknown {
  if (!text) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isErrorBody(data: unknown): data is IErrorBody {
  if (typeof data !== 'object' || data === null) {
    return false;
  }
  const candidate = data as Partial<IErrorBody>;
  return (
    typeof candidate.message === 'string' && Array.isArray(candidate.errors)
  );
}
