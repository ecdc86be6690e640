import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import {
  BlocksAPIError,
  BlocksClient,
  type IGridPage,
  type IGridSummary,
  type IListQuery,
  type IMe
} from '../api';
import { GalleryPanel } from '../gallery';
import { GalleryModel } from '../model';

function summary(
  id: string,
  author: string,
  title: string | null = `Grid ${id}`
): IGridSummary {
  return {
    id,
    secret: false,
    url: `http://localhost/blocks/${id}`,
    thumbnail_url: `/blocks/api/grids/${id}/thumbnail.svg`,
    author,
    title,
    created: new Date(Date.now() - 5 * 60 * 1000).toISOString(),
    ipb_class: 'BlockGrid',
    width: 4,
    height: 3,
    owned: author === 'alice',
    can_delete: author === 'alice',
    parent: null
  };
}

/** A client over an in-memory list of grids, newest first, paged by index. */
class FakeClient extends BlocksClient {
  grids: IGridSummary[] = [];
  queries: IListQuery[] = [];
  failure: Error | null = null;

  async me(): Promise<IMe> {
    this._fail();
    return { author: 'alice', moderator: false };
  }

  async authors(prefix: string): Promise<string[]> {
    return [...new Set(this.grids.map(g => g.author))].filter(a =>
      a.startsWith(prefix)
    );
  }

  async list(query: IListQuery = {}): Promise<IGridPage> {
    this.queries.push(query);
    this._fail();
    const q = (query.q ?? '').toLowerCase();
    const matching = this.grids.filter(
      g =>
        (!query.author || g.author === query.author) &&
        (!q || `${g.title} ${g.author}`.toLowerCase().includes(q))
    );
    const start = query.cursor ? Number(query.cursor) : 0;
    const end = start + (query.limit ?? 24);
    return {
      items: matching.slice(start, end),
      next: end < matching.length ? String(end) : null
    };
  }

  private _fail(): void {
    if (this.failure) {
      throw this.failure;
    }
  }
}

const extensionMissing = () =>
  new BlocksAPIError(
    new Response('', { status: 404 }),
    'extension-missing',
    'missing'
  );
const unreachable = () =>
  new ServerConnection.NetworkError(new TypeError('Failed to fetch'));

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await Promise.resolve();
  }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

describe('GalleryPanel over a GalleryModel', () => {
  let client: FakeClient;
  let model: GalleryModel;
  let opened: IGridSummary[];
  let panel: GalleryPanel;

  function show(pollInterval = 60_000): void {
    model = new GalleryModel({ client, pageSize: 2, pollInterval });
    panel = new GalleryPanel({ model, openGrid: s => opened.push(s) });
    Widget.attach(panel, document.body);
  }

  beforeEach(() => {
    client = new FakeClient();
    client.grids = [
      summary('g5', 'bob'),
      summary('g4', 'alice', null),
      summary('g3', 'bob'),
      summary('g2', 'alice'),
      summary('g1', 'alice')
    ];
    opened = [];
  });

  afterEach(() => {
    panel.dispose();
    model.dispose();
  });

  const cards = () =>
    Array.from(
      panel.node.querySelectorAll<HTMLElement>('.jp-BlocksGallery-card')
    );
  const ids = () => cards().map(card => card.dataset.gridId);
  const text = (selector: string) =>
    cards().map(card => card.querySelector(selector)?.textContent);
  const key = (target: HTMLElement, name: string) =>
    target.dispatchEvent(
      new KeyboardEvent('keydown', { key: name, bubbles: true })
    );

  it('loads the first page when shown, newest first', async () => {
    show();
    await settle();
    expect(ids()).toEqual(['g5', 'g4']);
    expect(text('.jp-BlocksGallery-cardTitle')).toEqual([
      'Grid g5',
      'Untitled'
    ]);
    expect(text('.jp-BlocksGallery-cardTime')).toEqual([
      '5 min. ago',
      '5 min. ago'
    ]);
    expect(text('.jp-BlocksGallery-cardAuthor')).toEqual(['bob', 'alice']);
  });

  it('gives each card its full title on hover and a lazy thumbnail', async () => {
    client.grids[0] = summary(
      'g5',
      'bob',
      'A very long title that a narrow card cuts short'
    );
    show();
    await settle();
    const title = cards()[0].querySelector<HTMLElement>(
      '.jp-BlocksGallery-cardTitle'
    );
    expect(title?.title).toBe(
      'A very long title that a narrow card cuts short'
    );
    const img = cards()[0].querySelector('img') as HTMLImageElement;
    expect(img.getAttribute('loading')).toBe('lazy');
    expect(img.src).toBe(client.thumbnailURL(client.grids[0]));
  });

  it('pages further with "Load more" until the last page', async () => {
    show();
    await settle();
    const more = () =>
      panel.node.querySelector<HTMLButtonElement>('.jp-BlocksGallery-more');
    more()?.click();
    await settle();
    expect(cards()).toHaveLength(4);
    more()?.click();
    await settle();
    expect(ids()).toEqual(['g5', 'g4', 'g3', 'g2', 'g1']);
    expect(more()).toBeNull();
  });

  it('lists my grids by the author the server names', async () => {
    show();
    await settle();
    await panel.setFilter('mine');
    expect(ids()).toEqual(['g4', 'g2']);
    expect(client.queries[client.queries.length - 1]).toEqual({
      author: 'alice',
      q: null,
      limit: 2
    });
  });

  it('searches titles and authors and suggests authors', async () => {
    show();
    await settle();
    await model.setSearch(' B ');
    expect(ids()).toEqual(['g5', 'g3']);
    expect(client.queries[client.queries.length - 1]).toMatchObject({ q: 'B' });
    const input = panel.node.querySelector(
      'input.jp-BlocksGallery-search'
    ) as HTMLInputElement;
    const list = panel.node.querySelector(
      `datalist#${input.getAttribute('list')}`
    );
    expect(
      Array.from(list?.querySelectorAll('option') ?? []).map(o => o.value)
    ).toEqual([]);
    await model.setSearch('bo');
    expect(
      Array.from(list?.querySelectorAll('option') ?? []).map(o => o.value)
    ).toEqual(['bob']);
    await model.setSearch('nothing like it');
    expect(
      panel.node.querySelector('.jp-BlocksGallery-empty')?.textContent
    ).toContain('No grids match "nothing like it".');
  });

  it('searches when Enter is pressed in the search box', async () => {
    show();
    await settle();
    const input = panel.node.querySelector(
      'input.jp-BlocksGallery-search'
    ) as HTMLInputElement;
    input.value = 'g3';
    key(input, 'Enter');
    await settle();
    expect(ids()).toEqual(['g3']);
  });

  it('opens a card on click', async () => {
    show();
    await settle();
    cards()[1].click();
    expect(opened.map(s => s.id)).toEqual(['g4']);
  });

  it('moves between cards with arrow keys and opens with Enter', async () => {
    show();
    await settle();
    await model.loadMore();
    expect(cards()[0].tabIndex).toBe(0);
    expect(cards()[1].tabIndex).toBe(-1);
    cards()[0].focus();
    key(cards()[0], 'ArrowRight');
    key(cards()[1], 'ArrowRight');
    expect(document.activeElement).toBe(cards()[2]);
    expect(cards().map(card => card.tabIndex)).toEqual([-1, -1, 0, -1]);
    key(cards()[2], 'ArrowLeft');
    key(cards()[1], 'Enter');
    key(cards()[1], 'End');
    key(cards()[3], 'Enter');
    expect(opened.map(s => s.id)).toEqual(['g4', 'g2']);
  });

  it('keeps the cards it drew (and the focus) when a poll finds nothing new', async () => {
    show(20);
    await settle();
    const first = cards()[0];
    first.focus();
    await sleep(80);
    expect(cards()[0]).toBe(first);
    expect(document.activeElement).toBe(first);
  });

  it('explains how to post a grid when there is none', async () => {
    client.grids = [];
    show();
    await settle();
    const empty = panel.node.querySelector('.jp-BlocksGallery-empty');
    expect(empty?.textContent).toContain('No grids have been shared yet.');
    expect(empty?.textContent).not.toContain('%load_ext');
    expect(empty?.textContent).toContain('grid.post_to_web()');
  });

  it.each([
    [
      'a missing server extension',
      extensionMissing,
      'The jupyter-blocks server extension is not installed or not enabled'
    ],
    ['an unreachable server', unreachable, 'Cannot reach the server']
  ])('shows %s with a retry button', async (_, failure, message) => {
    show();
    await settle();
    client.failure = failure();
    await panel.setFilter('mine');
    expect(
      panel.node.querySelector('.jp-BlocksGallery-errorMessage')?.textContent
    ).toBe(message);
    expect(cards()).toHaveLength(0);
    client.failure = null;
    panel.node
      .querySelector<HTMLButtonElement>('.jp-BlocksGallery-error button')
      ?.click();
    await settle();
    expect(ids()).toEqual(['g4', 'g2']);
  });

  it('offers to log in when the gallery service answers with a login page', async () => {
    show();
    await settle();
    client.failure = new BlocksAPIError(
      new Response(''),
      'login-required',
      'log in'
    );
    await model.refresh();
    expect(
      panel.node.querySelector('.jp-BlocksGallery-errorMessage')?.textContent
    ).toBe('Log in to JupyterHub to see the gallery');
    const buttons = panel.node.querySelectorAll(
      '.jp-BlocksGallery-error button'
    );
    expect(Array.from(buttons).map(b => b.textContent)).toEqual([
      'Log in',
      'Retry'
    ]);
  });

  it('reloads when the page size changes', async () => {
    show();
    await settle();
    model.pageSize = 3;
    await settle();
    expect(cards()).toHaveLength(3);
  });

  it('polls while visible and shows a new grid without a loading flash', async () => {
    show(20);
    await settle();
    expect(ids()).toEqual(['g5', 'g4']);
    const seen: string[] = [];
    const observer = new MutationObserver(() => {
      if (panel.node.querySelector('.jp-BlocksGallery-loading')) {
        seen.push('loading');
      }
    });
    observer.observe(panel.node, { childList: true, subtree: true });
    client.grids.unshift(summary('g6', 'bob'));
    await sleep(100);
    observer.disconnect();
    expect(ids()).toEqual(['g6', 'g5']);
    expect(seen).toEqual([]);
    expect(client.queries.some(query => query.limit === 1)).toBe(true);
  });

  it('says so at the next poll when the server goes away, instead of stale cards', async () => {
    show(20);
    await settle();
    expect(cards()).toHaveLength(2);
    client.failure = unreachable();
    await sleep(60);
    expect(cards()).toHaveLength(0);
    expect(
      panel.node.querySelector('.jp-BlocksGallery-errorMessage')?.textContent
    ).toBe('Cannot reach the server');
  });

  it('does not poll with autoRefresh off, or while hidden', async () => {
    show(10);
    model.autoRefresh = false;
    await settle();
    const before = client.queries.length;
    await sleep(50);
    expect(client.queries.length).toBe(before);

    model.autoRefresh = true;
    panel.hide();
    await settle();
    const hidden = client.queries.length;
    await sleep(50);
    expect(client.queries.length).toBe(hidden);
  });
});
