import { Widget } from '@lumino/widgets';

import {
  BlocksAPIError,
  BlocksClient,
  EXTENSION_MISSING_MESSAGE,
  type IGridPage,
  type IGridSummary,
  type IListQuery,
  NETWORK_ERROR_MESSAGE
} from '../api';
import { GalleryPanel } from '../gallery';

function summary(id: string, author: string, title: string | null = `Grid ${id}`): IGridSummary {
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
    owned: author === 'alice'
  };
}

/** A client over an in-memory list of grids, newest first, paged by index. */
class FakeClient extends BlocksClient {
  grids: IGridSummary[] = [];
  queries: IListQuery[] = [];
  failure: BlocksAPIError | null = null;

  async me(): Promise<{ author: string }> {
    if (this.failure) {
      throw this.failure;
    }
    return { author: 'alice' };
  }

  async list(query: IListQuery = {}): Promise<IGridPage> {
    this.queries.push(query);
    if (this.failure) {
      throw this.failure;
    }
    const matching = this.grids.filter(g => !query.author || g.author === query.author);
    const start = query.cursor ? Number(query.cursor) : 0;
    const end = start + (query.limit ?? 24);
    return {
      items: matching.slice(start, end),
      next: end < matching.length ? String(end) : null
    };
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await Promise.resolve();
  }
}

describe('GalleryPanel', () => {
  let client: FakeClient;
  let opened: IGridSummary[];
  let panel: GalleryPanel;

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
    panel = new GalleryPanel({
      client,
      openGrid: s => opened.push(s),
      pageSize: 2,
      autoRefresh: false
    });
    Widget.attach(panel, document.body);
  });

  afterEach(() => panel.dispose());

  const cards = () =>
    Array.from(panel.node.querySelectorAll<HTMLElement>('.jp-BlocksGallery-card'));
  const text = (selector: string) =>
    cards().map(card => card.querySelector(selector)?.textContent);

  it('loads the first page when shown, newest first', async () => {
    await settle();
    expect(cards().map(card => card.dataset.gridId)).toEqual(['g5', 'g4']);
    expect(text('.jp-BlocksGallery-cardTitle')).toEqual(['Grid g5', 'Untitled']);
    expect(text('.jp-BlocksGallery-cardTime')).toEqual(['5 minutes ago', '5 minutes ago']);
    expect(panel.node.querySelector('.jp-BlocksGallery-cardAuthor')?.textContent).toBe('bob');
  });

  it('shows lazy thumbnails under the base URL', async () => {
    await settle();
    const img = panel.node.querySelector('img') as HTMLImageElement;
    expect(img.getAttribute('loading')).toBe('lazy');
    expect(img.src).toBe(client.thumbnailURL(client.grids[0]));
  });

  it('pages further with "Load more" until the last page', async () => {
    await settle();
    const more = () => panel.node.querySelector<HTMLButtonElement>('.jp-BlocksGallery-more');
    more()?.click();
    await settle();
    expect(cards()).toHaveLength(4);
    more()?.click();
    await settle();
    expect(cards().map(card => card.dataset.gridId)).toEqual(['g5', 'g4', 'g3', 'g2', 'g1']);
    expect(more()).toBeNull();
  });

  it('lists my grids by the author the server names', async () => {
    await settle();
    await panel.setFilter('mine');
    expect(cards().map(card => card.dataset.gridId)).toEqual(['g4', 'g2']);
    expect(client.queries[client.queries.length - 1]).toEqual({ author: 'alice', limit: 2 });
  });

  it('filters by a typed author', async () => {
    await settle();
    await panel.setFilter('author', 'bob');
    expect(cards().map(card => card.dataset.gridId)).toEqual(['g5', 'g3']);
  });

  it('opens a card on click and on Enter', async () => {
    await settle();
    cards()[0].click();
    cards()[1].dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    expect(opened.map(s => s.id)).toEqual(['g5', 'g4']);
  });

  it('explains how to post a grid when there is none', async () => {
    client.grids = [];
    await panel.refresh();
    const empty = panel.node.querySelector('.jp-BlocksGallery-empty');
    expect(empty?.textContent).toContain('No grids have been shared yet.');
    expect(empty?.textContent).toContain('%load_ext jupyter_blocks');
    expect(empty?.textContent).toContain('grid.post_to_web()');
  });

  it.each([
    [new BlocksAPIError('extension-missing', EXTENSION_MISSING_MESSAGE, 404), EXTENSION_MISSING_MESSAGE],
    [new BlocksAPIError('network', NETWORK_ERROR_MESSAGE), NETWORK_ERROR_MESSAGE]
  ])('shows %s with a retry button', async (failure, message) => {
    await settle();
    client.failure = failure;
    await panel.setFilter('mine');
    expect(panel.node.querySelector('.jp-BlocksGallery-errorMessage')?.textContent).toBe(message);
    client.failure = null;
    panel.node.querySelector<HTMLButtonElement>('.jp-BlocksGallery-retry')?.click();
    await settle();
    expect(cards().map(card => card.dataset.gridId)).toEqual(['g4', 'g2']);
  });

  it('reloads when the page size changes', async () => {
    await settle();
    panel.pageSize = 3;
    await settle();
    expect(cards()).toHaveLength(3);
  });

  it('polls while visible and shows a new grid without a loading flash', async () => {
    panel.dispose();
    panel = new GalleryPanel({
      client,
      openGrid: s => opened.push(s),
      pageSize: 2,
      pollInterval: { min: 20, max: 80 }
    });
    Widget.attach(panel, document.body);
    await settle();
    expect(cards().map(card => card.dataset.gridId)).toEqual(['g5', 'g4']);
    const seen: string[] = [];
    const observer = new MutationObserver(() => {
      if (panel.node.querySelector('.jp-BlocksGallery-loading')) {
        seen.push('loading');
      }
    });
    observer.observe(panel.node, { childList: true, subtree: true });
    client.grids.unshift(summary('g6', 'bob'));
    await new Promise(resolve => setTimeout(resolve, 100));
    observer.disconnect();
    expect(cards().map(card => card.dataset.gridId)).toEqual(['g6', 'g5']);
    expect(seen).toEqual([]);
    expect(client.queries.some(query => query.limit === 1)).toBe(true);
  });

  it('does not poll with autoRefresh off, or while hidden', async () => {
    await settle();
    const before = client.queries.length;
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(client.queries.length).toBe(before);

    panel.dispose();
    panel = new GalleryPanel({
      client,
      openGrid: s => opened.push(s),
      pollInterval: { min: 10, max: 10 }
    });
    Widget.attach(panel, document.body);
    await settle();
    panel.hide();
    const hidden = client.queries.length;
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(client.queries.length).toBe(hidden);
  });
});
