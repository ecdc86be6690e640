/**
 * Client of the jupyter-blocks JSON API (see docs/api.md, the contract).
 *
 * Every call goes through `requestAPI`, which knows the URL namespace
 * shared with the Python routes and maps failures to `BlocksAPIError`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The URL namespace of every jupyter-blocks route, under the server's base URL. */
export const NAMESPACE = 'blocks';

/** `[red, green, blue, size]`: colour values 0..255, size in pixels. */
export type Block = [number, number, number, number];

/** The drawable part of a grid, as posted by ipythonblocks. */
export interface IGridData {
  lines_on: boolean;
  width: number;
  height: number;
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
  /** True when the requesting user may delete the grid. */
  owned: boolean;
}

/** `GET blocks/api/grids/<id>`: a summary plus the grid itself. */
export interface IGrid extends IGridSummary {
  grid_data: IGridData;
  code_cells: string[] | null;
  ipb_version: string;
  python_version: [number, number, number, string, number];
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
}

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
}

/**
 * Why a request failed:
 * - `extension-missing`: the server has no jupyter-blocks routes (a 404 that is not ours);
 * - `network`: the Jupyter server could not be reached;
 * - `http`: the API answered an error status (see `status` and `body`).
 */
export type APIErrorKind = 'extension-missing' | 'network' | 'http';

/** Message shown when the server extension is not there. */
export const EXTENSION_MISSING_MESSAGE =
  'The jupyter-blocks server extension is not installed or not enabled';

/** Message shown when the server cannot be reached. */
export const NETWORK_ERROR_MESSAGE = 'Cannot reach the Jupyter server';

/** A failed API request. */
export class BlocksAPIError extends Error {
  constructor(
    readonly kind: APIErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly body: IErrorBody | null = null
  ) {
    super(message);
    this.name = 'BlocksAPIError';
  }
}

/**
 * Call the API at `<baseUrl>blocks/<endPoint>` and return the decoded JSON
 * (`undefined` for an empty answer such as `204`).
 *
 * @throws BlocksAPIError
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch {
    throw new BlocksAPIError('network', NETWORK_ERROR_MESSAGE);
  }
  const text = await response.text();
  const data = parseJSON(text);
  if (response.ok) {
    return data as T;
  }
  const body = isErrorBody(data) ? data : null;
  if (response.status === 404 && body === null) {
    throw new BlocksAPIError('extension-missing', EXTENSION_MISSING_MESSAGE, 404);
  }
  const message = body?.message ?? `${response.status} ${response.statusText}`.trim();
  throw new BlocksAPIError('http', message, response.status, body);
}

/** Path and query of a list request, relative to the namespace. */
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
  const search = params.toString();
  return search ? `api/grids?${search}` : 'api/grids';
}

/** Path of one grid, relative to the namespace. */
export function gridPath(id: string): string {
  return `api/grids/${encodeURIComponent(id)}`;
}

/** The typed operations of the API, bound to one server. */
export class BlocksClient {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  /** Who the server says the current user is. */
  me(): Promise<IMe> {
    return requestAPI<IMe>('api/me', {}, this.serverSettings);
  }

  /** One page of public grids, newest first. */
  list(query: IListQuery = {}): Promise<IGridPage> {
    return requestAPI<IGridPage>(listPath(query), {}, this.serverSettings);
  }

  /** One grid with its data and code cells. */
  get(id: string): Promise<IGrid> {
    return requestAPI<IGrid>(gridPath(id), {}, this.serverSettings);
  }

  /** Delete a grid the current user owns. */
  async remove(id: string): Promise<void> {
    await requestAPI<void>(gridPath(id), { method: 'DELETE' }, this.serverSettings);
  }

  /**
   * Absolute URL of a thumbnail: the `thumbnail_url` path of a summary,
   * resolved against the server's base URL (the path already holds the base
   * path, e.g. `/user/alice/blocks/...` on a JupyterHub).
   */
  thumbnailURL(summary: IGridSummary): string {
    return new URL(summary.thumbnail_url, this.serverSettings.baseUrl).href;
  }

  /** Absolute URL of the HTML gallery page of the server. */
  galleryPageURL(): string {
    return URLExt.join(this.serverSettings.baseUrl, NAMESPACE, '/');
  }
}

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
  return typeof candidate.message === 'string' && Array.isArray(candidate.errors);
}
