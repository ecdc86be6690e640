/**
 * The live gallery: the event stream over a fake socket, and how the gallery
 * model, the panel and a grid's model apply what it announces.
 */
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import {
  BlocksAPIError,
  BlocksClient,
  LabTransport,
  ServiceTransport,
  type EventFrame,
  type GridChange,
  type IGridPage,
  type IGridSummary,
  type IListQuery,
  type IMe
} from '../api';
import { GalleryPanel } from '../gallery';
import { GridModel, type GridRecord } from '../gridmodel';
import { Clock, GalleryEvents, type ISocket } from '../live';
import { GalleryModel } from '../model';

/** A socket the test drives: frames from the server, and the server closing it. */
class FakeSocket implements ISocket {
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  closed = false;

  close(): void {
    this.closed = true;
  }

  /** The server sends `frame`. */
  send(frame: EventFrame | string): void {
    const data = typeof frame === 'string' ? frame : JSON.stringify(frame);
    this.onmessage?.(new MessageEvent('message', { data }));
  }

  hello(): void {
    this.send({ type: 'hello' });
  }

  changes(...events: GridChange[]): void {
    this.send({ type: 'changes', events });
  }

  /** The server (or the network) closes the socket. */
  drop(): void {
    this.onclose?.(new CloseEvent('close'));
  }
}

/** Event streams over fake sockets; `refuse` makes the next connections fail. */
class FakeServer {
  sockets: FakeSocket[] = [];
  connectedAt: number[] = [];
  refuse = false;

  events(): GalleryEvents {
    return new GalleryEvents({
      connect: () => this.connect(),
      retryDelay: 10,
      maxRetryDelay: 40
    });
  }

  connect(): ISocket {
    this.connectedAt.push(Date.now());
    const socket = new FakeSocket();
    this.sockets.push(socket);
    if (this.refuse) {
      // As a browser does: the socket closes without ever opening.
      setTimeout(() => socket.drop(), 0);
    }
    return socket;
  }

  get last(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }

  /** Close the current socket and wait until the page opens the next one. */
  async redial(): Promise<void> {
    const count = this.sockets.length;
    this.last.drop();
    await waitFor(() => this.sockets.length > count);
  }
}

function summary(
  id: string,
  author: string,
  title: string | null = `Grid ${id}`,
  secret = false
): IGridSummary {
  return {
    id,
    secret,
    url: `http://localhost/blocks/${id}`,
    thumbnail_url: `/blocks/api/grids/${id}/thumbnail.svg`,
    author,
    title,
    created: new Date(Date.now() - 5 * 60 * 1000).toISOString(),
    ipb_class: 'BlockGrid',
    width: 4,
    height: 3,
    owned: false,
    can_delete: false,
    parent: null
  };
}

/** A client over an in-memory list of grids, newest first; alice is asking. */
class FakeClient extends BlocksClient {
  grids: IGridSummary[] = [];
  queries: IListQuery[] = [];
  me_: IMe = { author: 'alice', moderator: false };
  /** Resolves the list requests it holds back, when set. */
  hold: Promise<void> | null = null;

  async me(): Promise<IMe> {
    return this.me_;
  }

  async list(query: IListQuery = {}): Promise<IGridPage> {
    this.queries.push(query);
    const matching = this.grids
      .filter(g => !query.author || g.author === query.author)
      .filter(
        g =>
          !query.q ||
          `${g.title} ${g.author}`.toLowerCase().includes(query.q.toLowerCase())
      )
      .map(g => ({
        ...g,
        owned: g.author === this.me_.author,
        can_delete: g.author === this.me_.author || this.me_.moderator
      }));
    const items = matching.slice(0, query.limit ?? 24);
    const answer = { items, next: null };
    if (this.hold) {
      await this.hold;
    }
    return answer;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await Promise.resolve();
  }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Wait until `check()` holds (timers run late on a busy machine), at most 2 s. */
async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check() && Date.now() < deadline) {
    await sleep(10);
  }
}

describe('GalleryEvents', () => {
  let server: FakeServer;
  let events: GalleryEvents;

  beforeEach(() => {
    server = new FakeServer();
    events = server.events();
  });

  afterEach(() => events.dispose());

  it('opens one socket, once, and announces each batch of changes', () => {
    const batches: (readonly GridChange[])[] = [];
    events.changes.connect((_, changes) => batches.push(changes));
    let resyncs = 0;
    events.resync.connect(() => resyncs++);
    events.start();
    events.start();
    expect(server.sockets).toHaveLength(1);
    expect(events.connected).toBe(false);

    server.last.hello();
    expect(events.connected).toBe(true);
    expect(resyncs).toBe(0); // the first hello: nothing was missed
    server.last.changes(
      { kind: 'deleted', id: 'a' },
      { kind: 'renamed', id: 'b', title: 'B' }
    );
    server.last.send('not JSON');
    expect(batches).toEqual([
      [
        { kind: 'deleted', id: 'a' },
        { kind: 'renamed', id: 'b', title: 'B' }
      ]
    ]);
  });

  it('reconnects after the server closes the socket, and asks for a resync', async () => {
    let resyncs = 0;
    events.resync.connect(() => resyncs++);
    const states: boolean[] = [];
    events.connectedChanged.connect((_, connected) => states.push(connected));
    events.start();
    server.last.hello();
    server.last.drop(); // e.g. a slow reader, dropped
    expect(events.connected).toBe(false);
    await waitFor(() => server.sockets.length === 2);
    expect(server.sockets).toHaveLength(2);
    server.last.hello();
    expect(resyncs).toBe(1);
    expect(states).toEqual([true, false, true]);
  });

  it('backs off while the socket cannot open, then resyncs on its first hello', () => {
    jest.useFakeTimers();
    try {
      let resyncs = 0;
      events.resync.connect(() => resyncs++);
      server.refuse = true;
      events.start();
      jest.advanceTimersByTime(120);
      const gaps = server.connectedAt
        .slice(1)
        // (each refusal takes a timer tick of its own)
        .map(
          (time, index) =>
            Math.floor((time - server.connectedAt[index]) / 10) * 10
        );
      expect(gaps).toEqual([10, 20, 40, 40]); // doubled, up to the longest wait

      server.refuse = false;
      jest.advanceTimersByTime(40);
      server.last.hello();
      expect(events.connected).toBe(true);
      expect(resyncs).toBe(1); // changes made while it could not open were missed
    } finally {
      jest.useRealTimers();
    }
  });

  it('closes its socket and stops reconnecting when disposed', async () => {
    events.start();
    const socket = server.last;
    events.dispose();
    expect(socket.closed).toBe(true);
    socket.drop();
    await sleep(30);
    expect(server.sockets).toHaveLength(1);
  });
});

describe('The event stream URL', () => {
  it("is under the Lab server's websocket URL, with its token as JupyterLab's sockets carry it", () => {
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://127.0.0.1:8888/user/a%40b/',
      wsUrl: 'ws://127.0.0.1:8888/user/a%40b/',
      token: 'se cret',
      appendToken: true
    });
    expect(new LabTransport(settings).socketURL('api/events')).toBe(
      'ws://127.0.0.1:8888/user/a%40b/blocks/api/events?token=se%20cret'
    );
    const cookieOnly = ServerConnection.makeSettings({
      baseUrl: 'https://hub.example.org/user/a/',
      wsUrl: 'wss://hub.example.org/user/a/',
      token: 'se cret',
      appendToken: false
    });
    expect(new LabTransport(cookieOnly).socketURL('api/events')).toBe(
      'wss://hub.example.org/user/a/blocks/api/events'
    );
  });

  it("is the gallery service's on its origin, opened once the session logged in", async () => {
    const steps: string[] = [];
    const transport = new ServiceTransport(
      '/services/blocks/blocks/',
      'https://hub.example.org',
      async () => new Response('{}'),
      async url => {
        steps.push(`session ${url}`);
        return {
          type: 'jupyter-blocks-session',
          author: 'bob',
          moderator: false,
          xsrf_token: 'x'
        };
      }
    );
    expect(transport.socketURL('api/events')).toBe(
      'wss://hub.example.org/services/blocks/blocks/api/events'
    );
    const socket = {} as WebSocket;
    jest.spyOn(transport, 'socket').mockImplementation(path => {
      steps.push(`socket ${path}`);
      return socket;
    });
    expect(await new BlocksClient(transport).events()).toBe(socket);
    expect(steps).toEqual([
      'session https://hub.example.org/services/blocks/blocks/session',
      'socket api/events'
    ]);
  });

  it('is tried again later when the session cannot be had (login required)', async () => {
    const server = new FakeServer();
    let attempts = 0;
    const events = new GalleryEvents({
      connect: async () => {
        if (++attempts < 3) {
          throw new Error('log in first');
        }
        return server.connect();
      },
      retryDelay: 10
    });
    events.start();
    await waitFor(() => server.sockets.length === 1);
    server.last.hello();
    expect(attempts).toBe(3);
    expect(events.connected).toBe(true);
    events.dispose();
  });
});

describe('GalleryModel over the event stream', () => {
  let server: FakeServer;
  let events: GalleryEvents;
  let client: FakeClient;
  let model: GalleryModel;

  beforeEach(async () => {
    server = new FakeServer();
    events = server.events();
    client = new FakeClient();
    client.grids = [summary('g2', 'bob'), summary('g1', 'alice', 'Sunset')];
    model = new GalleryModel({ client, events, pollInterval: 20 });
    model.active = true;
    await settle();
    server.last.hello();
  });

  afterEach(() => {
    model.dispose();
    events.dispose();
  });

  const ids = () => model.items.map(item => item.id);
  const post = (grid: IGridSummary) => {
    client.grids.unshift(grid);
    server.last.changes({ kind: 'posted', grid });
  };

  it('puts a posted grid first, as its listing would, once', () => {
    let changed = 0;
    model.changed.connect(() => changed++);
    const grid = summary('g3', 'bob');
    post(grid);
    server.last.changes({ kind: 'posted', grid });
    expect(ids()).toEqual(['g3', 'g2', 'g1']);
    expect(changed).toBe(1);
  });

  it('sets owned and can_delete for the user of this page', () => {
    client.me_ = { author: 'alice', moderator: true };
    // (the model learns who it is from the listing's query)
    return model.refresh().then(() => {
      post({ ...summary('g3', 'bob'), owned: true, can_delete: false });
      post({ ...summary('g4', 'alice'), owned: false, can_delete: false });
      const [g4, g3] = model.items;
      expect([g4.owned, g4.can_delete]).toEqual([true, true]);
      expect([g3.owned, g3.can_delete]).toEqual([false, true]);
    });
  });

  it('never shows a secret grid', () => {
    server.last.changes({
      kind: 'posted',
      grid: summary('s3cr3t', 'bob', 'Hidden', true)
    });
    expect(ids()).toEqual(['g2', 'g1']);
  });

  it.each<[string, 'all' | 'mine', string, string[]]>([
    ['a title with the search text, in any case', 'all', 'SUN', ['g3', 'g1']],
    ['an author with the search text', 'all', 'ALI', ['g3', 'g1']],
    ['nothing that does not match the search', 'all', 'dawn', []],
    ['my grids, by exact author', 'mine', '', ['g3', 'g1']]
  ])('takes in %s', async (_, filter, search, expected) => {
    await model.setFilter(filter);
    await model.setSearch(search);
    post(summary('g3', 'alice', 'Sunrise'));
    post(summary('g4', 'bob', 'Bob at sundown'));
    post(summary('g5', 'alicia', 'Alicia'));
    const shown = ids().filter(id => id !== 'g4' && id !== 'g5');
    expect(shown).toEqual(expected);
    if (filter === 'mine') {
      expect(ids()).toEqual(['g3', 'g1']); // alicia is not alice
    } else if (search === 'SUN') {
      expect(ids()).toEqual(['g4', 'g3', 'g1']);
    } else if (search === 'ALI') {
      expect(ids()).toEqual(['g5', 'g3', 'g1']);
    }
  });

  it('renames and deletes the grids shown', () => {
    server.last.changes(
      { kind: 'renamed', id: 'g1', title: 'Sunset, again' },
      { kind: 'renamed', id: 'elsewhere', title: 'Not shown' },
      { kind: 'deleted', id: 'g2' }
    );
    expect(model.items.map(item => [item.id, item.title])).toEqual([
      ['g1', 'Sunset, again']
    ]);
    server.last.changes({ kind: 'renamed', id: 'g1', title: null });
    expect(model.items[0].title).toBeNull();
  });

  it('drops a renamed grid that no longer matches the search', async () => {
    await model.setSearch('sunset');
    expect(ids()).toEqual(['g1']);
    server.last.changes({ kind: 'renamed', id: 'g1', title: 'Dawn' });
    expect(ids()).toEqual([]);
  });

  it('fetches what it shows again on every hello after the first', async () => {
    const listings = () => client.queries.filter(q => q.limit !== 1);
    await server.redial();
    // Changed while the page was not connected: nobody told it.
    client.grids = [summary('g9', 'bob'), ...client.grids];
    client.grids = client.grids.filter(g => g.id !== 'g2');
    const before = listings().length;
    server.last.hello();
    await settle();
    expect(listings().length).toBe(before + 1);
    expect(listings()[before].limit).toBe(24);
    expect(ids()).toEqual(['g9', 'g1']);
  });

  it('applies changes announced while a listing was on its way', async () => {
    let release = () => {};
    client.hold = new Promise(resolve => (release = resolve));
    const refreshing = model.refresh(); // answers the grids as they are now
    await settle();
    post(summary('g3', 'bob'));
    server.last.changes({ kind: 'deleted', id: 'g1' });
    release();
    await refreshing;
    expect(ids()).toEqual(['g3', 'g2']);
  });

  it('polls only while the stream is not connected', async () => {
    const polls = () => client.queries.filter(q => q.limit === 1).length;
    const connected = polls();
    await sleep(80);
    expect(polls()).toBe(connected);
    server.refuse = true;
    server.last.drop();
    await waitFor(() => polls() > connected);
    expect(polls()).toBeGreaterThan(connected);
  });
});

describe('GalleryPanel, live', () => {
  let server: FakeServer;
  let events: GalleryEvents;
  let client: FakeClient;
  let model: GalleryModel;
  let panel: GalleryPanel;
  let deleted: string[];
  let clock: Clock | null;

  async function show(me: IMe): Promise<void> {
    client.me_ = me;
    model = new GalleryModel({ client, events, clock });
    panel = new GalleryPanel({
      model,
      openGrid: () => undefined,
      deleteGrid: grid => deleted.push(grid.id)
    });
    Widget.attach(panel, document.body);
    await settle();
    server.last.hello();
  }

  beforeEach(() => {
    server = new FakeServer();
    events = server.events();
    client = new FakeClient();
    client.grids = [summary('g2', 'bob'), summary('g1', 'alice', 'Sunset')];
    deleted = [];
    clock = null;
  });

  afterEach(() => {
    panel.dispose();
    model.dispose();
    events.dispose();
    clock?.dispose();
  });

  const card = (id: string) =>
    panel.node.querySelector<HTMLElement>(
      `.jp-BlocksGallery-card[data-grid-id="${id}"]`
    );
  const ids = () =>
    Array.from(
      panel.node.querySelectorAll<HTMLElement>('.jp-BlocksGallery-card')
    ).map(c => c.dataset.gridId);

  it('shows a posted grid first, a new title, and no deleted card, without a click', async () => {
    await show({ author: 'alice', moderator: false });
    const drawn = card('g1');
    const image = drawn?.querySelector('img');
    server.last.changes(
      { kind: 'posted', grid: summary('g3', 'bob', 'Fresh') },
      {
        kind: 'renamed',
        id: 'g1',
        title: 'A title long enough to need two lines'
      },
      { kind: 'deleted', id: 'g2' }
    );
    expect(ids()).toEqual(['g3', 'g1']);
    const title = card('g1')?.querySelector<HTMLElement>(
      '.jp-BlocksGallery-cardTitle'
    );
    expect(title?.textContent).toBe('A title long enough to need two lines');
    expect(title?.title).toBe('A title long enough to need two lines');
    expect(card('g1')).toBe(drawn); // the same card, and the same image
    expect(card('g1')?.querySelector('img')).toBe(image);
    server.last.changes({ kind: 'renamed', id: 'g1', title: null });
    expect(
      card('g1')?.querySelector('.jp-BlocksGallery-cardTitle')?.classList
    ).toContain('jp-mod-untitled');
  });

  it('offers delete on my cards to an author', async () => {
    await show({ author: 'alice', moderator: false });
    expect(
      card('g1')?.querySelector('.jp-BlocksGallery-cardDelete')
    ).not.toBeNull();
    expect(
      card('g2')?.querySelector('.jp-BlocksGallery-cardDelete')
    ).toBeNull();
    card('g1')
      ?.querySelector<HTMLButtonElement>('.jp-BlocksGallery-cardDelete')
      ?.click();
    expect(deleted).toEqual(['g1']);
  });

  it('offers delete on every card to a moderator, posted ones too', async () => {
    await show({ author: 'teacher', moderator: true });
    server.last.changes({ kind: 'posted', grid: summary('g3', 'bob') });
    for (const id of ['g3', 'g2', 'g1']) {
      expect(
        card(id)?.querySelector('.jp-BlocksGallery-cardDelete')
      ).not.toBeNull();
    }
  });

  it('shows ages anew as the clock ticks', async () => {
    clock = new Clock(20);
    await show({ author: 'alice', moderator: false });
    const time = () => card('g1')?.querySelector('time');
    expect(time()?.textContent).toBe('5 min. ago');
    time()!.textContent = 'stale';
    await waitFor(() => time()?.textContent !== 'stale');
    expect(time()?.textContent).toBe('5 min. ago');
  });
});

describe('GridModel over the event stream', () => {
  const record: GridRecord = {
    ...summary('Xk9aQe', 'bob', 'Sunset'),
    remixes: [],
    grid_data: { lines_on: true, width: 1, height: 1 },
    code_cells: ['grid = BlockGrid(1, 1)'],
    ipb_version: '1.9.1',
    python_version: [3, 11, 7, 'final', 0]
  };

  class GridClient extends BlocksClient {
    current: GridRecord | null = record;
    gets = 0;
    async get(): Promise<GridRecord> {
      this.gets++;
      if (!this.current) {
        throw new BlocksAPIError(
          new Response('{}', { status: 404 }),
          'http',
          'No such grid',
          { message: 'No such grid', errors: [] }
        );
      }
      return this.current;
    }
    async pixels(): Promise<Uint8Array> {
      return new Uint8Array([1, 2, 3, 20]);
    }
  }

  let server: FakeServer;
  let events: GalleryEvents;
  let client: GridClient;
  let model: GridModel;

  beforeEach(async () => {
    server = new FakeServer();
    events = server.events();
    client = new GridClient();
    model = new GridModel('Xk9aQe', client, { events });
    await model.load();
    server.last.hello();
  });

  afterEach(() => {
    model.dispose();
    events.dispose();
  });

  it('takes a new title of its grid only', () => {
    server.last.changes(
      { kind: 'renamed', id: 'other', title: 'Not this one' },
      { kind: 'renamed', id: 'Xk9aQe', title: 'Sunrise' }
    );
    expect(model.status).toBe('ready');
    expect(model.grid?.title).toBe('Sunrise');
    expect(model.drawing?.blocks).toEqual(new Uint8Array([1, 2, 3, 20]));
  });

  it('asks its view to show the age anew as the clock ticks', async () => {
    const clock = new Clock(20);
    const ticking = new GridModel('Xk9aQe', client, { clock });
    let ticks = 0;
    ticking.ticked.connect(() => ticks++);
    await ticking.load();
    await waitFor(() => ticks >= 2);
    expect(ticks).toBeGreaterThanOrEqual(2);
    ticking.dispose();
    clock.dispose();
  });

  it('keeps what it shows when its grid is deleted elsewhere', () => {
    server.last.changes({ kind: 'deleted', id: 'Xk9aQe' });
    expect(model.status).toBe('removed');
    expect(model.grid?.code_cells).toEqual(['grid = BlockGrid(1, 1)']);
    expect(model.drawing?.blocks).toEqual(new Uint8Array([1, 2, 3, 20]));
  });

  it('fetches its record again on a later hello: a new title, or gone meanwhile', async () => {
    client.current = { ...record, title: 'Renamed while away' };
    await server.redial();
    server.last.hello();
    await settle();
    expect(model.grid?.title).toBe('Renamed while away');
    expect(model.status).toBe('ready');

    client.current = null;
    await server.redial();
    server.last.hello();
    await settle();
    expect(model.status).toBe('removed');
    expect(model.grid?.title).toBe('Renamed while away');
  });
});
