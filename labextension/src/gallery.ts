/**
 * The "Blocks gallery" side panel: cards of shared grids, newest first.
 *
 * A view of a `GalleryModel`: it renders the model's state on each `changed`
 * signal and turns clicks and keys into calls on the model.
 */
import { Time } from '@jupyterlab/coreutils';
import {
  nullTranslator,
  type ITranslator,
  type TranslationBundle
} from '@jupyterlab/translation';
import {
  deleteIcon,
  refreshIcon,
  SidePanel,
  Toolbar,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { UUID } from '@lumino/coreutils';
import type { Message } from '@lumino/messaging';
import { Debouncer } from '@lumino/polling';
import { Panel, Widget } from '@lumino/widgets';

import type { IGridSummary } from './api';
import { errorBox } from './errors';
import { blocksIcon } from './icon';
import type { GalleryFilter, GalleryModel } from './model';
import { POST_SNIPPET } from './snippet';

export interface IGalleryOptions {
  model: GalleryModel;
  /** Called when the user opens a card. */
  openGrid: (summary: IGridSummary) => void;
  /**
   * Called when the user deletes a card's grid (offered on the cards whose
   * `can_delete` is true); it confirms and deletes.
   */
  deleteGrid?: (summary: IGridSummary) => void;
  /** Called by the toolbar's "Open class wall" button (no button without it). */
  openWall?: () => void;
  translator?: ITranslator;
}

/** Wait after the last keystroke in the search box before searching. */
const SEARCH_DELAY = 300;

/** The gallery panel. */
export class GalleryPanel extends SidePanel {
  constructor(options: IGalleryOptions) {
    const translator = options.translator ?? nullTranslator;
    super({ content: new Panel(), translator });
    this.model = options.model;
    this._openGrid = options.openGrid;
    this._deleteGrid = options.deleteGrid ?? null;
    this.trans = translator.load('jupyter_blocks');
    const trans = this.trans;

    this.id = 'jupyter-blocks-gallery';
    this.title.icon = blocksIcon;
    this.title.caption = trans.__('Blocks gallery');
    this.addClass('jp-BlocksGallery');

    const heading = new Widget({ node: document.createElement('h2') });
    heading.node.textContent = trans.__('Blocks gallery');
    heading.addClass('jp-BlocksGallery-heading');
    this.header.addWidget(heading);
    this.toolbar.addItem('filter', this._createFilterSelect());
    this.toolbar.addItem('spacer', Toolbar.createSpacerItem());
    const openWall = options.openWall;
    if (openWall) {
      this.toolbar.addItem(
        'wall',
        new ToolbarButton({
          icon: blocksIcon,
          tooltip: trans.__('Open class wall'),
          className: 'jp-BlocksGallery-wall',
          onClick: () => openWall()
        })
      );
    }
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Refresh the gallery'),
        className: 'jp-BlocksGallery-refresh',
        onClick: () => void this.model.refresh()
      })
    );
    this.addWidget(this._createSearchBar());
    this._body.addClass('jp-BlocksGallery-body');
    this.addWidget(this._body);

    this._cardList.className = 'jp-BlocksGallery-cards';
    this._cardList.setAttribute('role', 'listbox');
    this._cardList.setAttribute('aria-label', trans.__('Shared grids'));
    this._cardList.addEventListener('keydown', event => this._onCardKey(event));
    this._moreButton.className = 'jp-mod-styled jp-BlocksGallery-more';
    this._moreButton.addEventListener(
      'click',
      () => void this.model.loadMore()
    );

    this.model.changed.connect(this._render, this);
    this._render();
  }

  readonly model: GalleryModel;

  /** List `filter` grids. */
  setFilter(filter: GalleryFilter): Promise<void> {
    this._filterSelect.value = filter;
    return this.model.setFilter(filter);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._searchDebouncer.dispose();
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.active = true;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.model.active = this.isVisible;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.active = false;
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.active = false;
    super.onBeforeDetach(msg);
  }

  /** "All grids" or "My grids". */
  private _createFilterSelect(): Widget {
    const trans = this.trans;
    const select = this._filterSelect;
    select.className = 'jp-BlocksGallery-filter';
    select.setAttribute('aria-label', trans.__('Show grids'));
    for (const [value, label] of [
      ['all', trans.__('All grids')],
      ['mine', trans.__('My grids')]
    ]) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      select.appendChild(option);
    }
    select.addEventListener('change', () => {
      void this.model.setFilter(select.value as GalleryFilter);
    });
    return new Widget({ node: select });
  }

  /** The search box, with author names as suggestions. */
  private _createSearchBar(): Widget {
    const trans = this.trans;
    const bar = new Widget();
    bar.addClass('jp-BlocksGallery-searchBar');

    const input = this._searchInput;
    const suggestions = this._authorList;
    suggestions.id = `jp-BlocksGallery-authors-${UUID.uuid4()}`;
    input.type = 'search';
    input.className = 'jp-mod-styled jp-BlocksGallery-search';
    input.placeholder = trans.__('Search titles and authors');
    input.setAttribute('aria-label', trans.__('Search titles and authors'));
    input.setAttribute('list', suggestions.id);
    input.addEventListener('input', () => void this._searchDebouncer.invoke());
    input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        this._searchDebouncer.stop();
        void this.model.setSearch(input.value);
      } else if (event.key === 'ArrowDown' && !input.value) {
        event.preventDefault();
        this._focusCard(0);
      }
    });

    bar.node.append(input, suggestions);
    return bar;
  }

  /** Show the model's state. */
  private _render(): void {
    const model = this.model;
    const body = this._body.node;
    const suggestions = model.authorSuggestions.map(author => {
      const option = document.createElement('option');
      option.value = author;
      return option;
    });
    this._authorList.replaceChildren(...suggestions);

    if (model.status === 'error') {
      this._cards.clear();
      body.replaceChildren(this._errorBox(model.error));
      return;
    }
    if (model.status !== 'ready') {
      body.replaceChildren(this._loadingBox());
      return;
    }
    if (model.items.length === 0) {
      this._cards.clear();
      body.replaceChildren(this._emptyState());
      return;
    }
    this._renderCards(model.items);
    const children: HTMLElement[] = [this._cardList];
    if (model.hasMore) {
      this._moreButton.disabled = model.loadingMore;
      this._moreButton.textContent = model.loadingMore
        ? this.trans.__('Loading…')
        : this.trans.__('Load more');
      children.push(this._moreButton);
    }
    if (
      body.children.length !== children.length ||
      children.some((child, index) => body.children[index] !== child)
    ) {
      keepingFocus(() => body.replaceChildren(...children));
    }
  }

  /**
   * Cards for `items`, reusing the ones already drawn (their images and
   * focus stay): a card whose grid changed (a rename) gets new content, and
   * every card its age anew.
   */
  private _renderCards(items: readonly IGridSummary[]): void {
    const cards = new Map<string, HTMLElement>();
    for (const item of items) {
      let card = this._cards.get(item.id);
      if (!card) {
        card = this._card(item.id);
      }
      if (!sameCard(this._shown.get(card), item)) {
        this._fill(card, item);
      }
      const time = card.querySelector('time');
      if (time) {
        time.textContent = age(item.created);
      }
      cards.set(item.id, card);
    }
    this._cards = cards;
    const ordered = [...cards.values()];
    const list = this._cardList;
    if (
      list.children.length !== ordered.length ||
      ordered.some((card, index) => list.children[index] !== card)
    ) {
      keepingFocus(() => list.replaceChildren(...ordered));
    }
    const selected = ordered.find(
      card => card.dataset.gridId === this._selected
    );
    this._select(selected ?? ordered[0], false);
  }

  /** An empty card for the grid `id`; `_fill` shows the grid. */
  private _card(id: string): HTMLElement {
    const card = document.createElement('li');
    card.className = 'jp-BlocksGallery-card';
    card.dataset.gridId = id;
    card.tabIndex = -1;
    card.setAttribute('role', 'option');
    card.addEventListener('click', () => {
      const item = this._item(id);
      if (item) {
        this._select(card, true);
        this._openGrid(item);
      }
    });
    return card;
  }

  /** The listed grid `id`, as the model has it now. */
  private _item(id: string): IGridSummary | undefined {
    return this.model.items.find(grid => grid.id === id);
  }

  /** Show `item` in `card`: thumbnail, title (in full on hover), author, age, delete. */
  private _fill(card: HTMLElement, item: IGridSummary): void {
    const trans = this.trans;
    const title = item.title || trans.__('Untitled');
    card.title = trans.__(
      '%1 by %2 (%3 × %4)',
      title,
      item.author,
      item.width,
      item.height
    );

    // The same image element, so that a rename does not load it again.
    const thumbnail =
      card.querySelector<HTMLImageElement>('img') ??
      document.createElement('img');
    thumbnail.className = 'jp-BlocksGallery-thumbnail';
    thumbnail.setAttribute('loading', 'lazy');
    thumbnail.alt = title;
    const src = this.model.client.thumbnailURL(item);
    if (thumbnail.dataset.thumbnail !== src) {
      thumbnail.dataset.thumbnail = src;
      void this._showThumbnail(thumbnail, item);
    }

    const heading = document.createElement('div');
    heading.className = 'jp-BlocksGallery-cardTitle';
    heading.textContent = title;
    heading.title = title;
    heading.classList.toggle('jp-mod-untitled', !item.title);

    const author = document.createElement('span');
    author.className = 'jp-BlocksGallery-cardAuthor';
    author.textContent = item.author;
    const time = document.createElement('time');
    time.className = 'jp-BlocksGallery-cardTime';
    time.dateTime = item.created;
    time.title = Time.format(item.created);
    const meta = document.createElement('div');
    meta.className = 'jp-BlocksGallery-cardMeta';
    meta.append(author, ' · ', time);

    const parts: HTMLElement[] = [thumbnail, heading, meta];
    const deleteGrid = this._deleteGrid;
    if (item.can_delete && deleteGrid) {
      const button = document.createElement('button');
      button.className = 'jp-BlocksGallery-cardDelete';
      button.tabIndex = -1;
      button.title = trans.__('Delete this grid');
      button.setAttribute('aria-label', trans.__('Delete "%1"', title));
      deleteIcon.element({ container: button });
      button.addEventListener('click', event => {
        event.stopPropagation();
        const current = this._item(item.id);
        if (current) {
          deleteGrid(current);
        }
      });
      parts.push(button);
    }
    card.replaceChildren(...parts);
    this._shown.set(card, item);
  }

  /** Arrow keys move between cards (up and down by a row), Enter opens, as in the file browser. */
  private _onCardKey(event: KeyboardEvent): void {
    const cards = [...this._cards.values()];
    const current = (event.target as HTMLElement).closest<HTMLElement>(
      '.jp-BlocksGallery-card'
    );
    const index = current ? cards.indexOf(current) : -1;
    const columns = Private.columns(cards);
    const moves: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: columns,
      ArrowUp: -columns,
      Home: -cards.length,
      End: cards.length
    };
    if (event.key in moves) {
      event.preventDefault();
      const target = Math.max(
        0,
        Math.min(cards.length - 1, index + moves[event.key])
      );
      if (event.key === 'ArrowUp' && index < columns) {
        this._searchInput.focus();
        return;
      }
      this._focusCard(target);
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      const item = this._item(current?.dataset.gridId ?? '');
      if (item) {
        this._openGrid(item);
      }
    } else if (event.key === 'Delete' && this._deleteGrid) {
      const item = this._item(current?.dataset.gridId ?? '');
      if (item?.can_delete) {
        event.preventDefault();
        this._deleteGrid(item);
      }
    }
  }

  private _focusCard(index: number): void {
    const card = [...this._cards.values()][index];
    if (card) {
      this._select(card, true);
    }
  }

  /** Make `card` the one Tab reaches (and focus it); the others leave the tab order. */
  private _select(card: HTMLElement | undefined, focus: boolean): void {
    for (const other of this._cards.values()) {
      other.tabIndex = other === card ? 0 : -1;
      other.classList.toggle('jp-mod-selected', other === card && focus);
      other.setAttribute('aria-selected', String(other === card));
    }
    if (card && focus) {
      this._selected = card.dataset.gridId ?? null;
      card.focus();
    }
  }

  private _loadingBox(): HTMLElement {
    const box = document.createElement('div');
    box.className = 'jp-BlocksGallery-loading';
    box.textContent = this.trans.__('Loading grids…');
    return box;
  }

  /** Load a card's thumbnail (fetched first from a service on another origin). */
  private async _showThumbnail(
    thumbnail: HTMLImageElement,
    item: IGridSummary
  ): Promise<void> {
    let src: string;
    try {
      src = await this.model.client.thumbnail(item);
    } catch {
      return; // the card shows its title without a picture
    }
    if (src.startsWith('blob:')) {
      thumbnail.addEventListener('load', () => URL.revokeObjectURL(src), {
        once: true
      });
    }
    thumbnail.src = src;
  }

  private _errorBox(error: unknown): HTMLElement {
    const trans = this.trans;
    const actions = [
      { label: trans.__('Retry'), onClick: () => void this.model.refresh() }
    ];
    if (
      error instanceof Error &&
      'kind' in error &&
      error.kind === 'login-required'
    ) {
      actions.unshift({
        label: trans.__('Log in'),
        onClick: () =>
          void window.open(this.model.client.galleryPageURL(), '_blank')
      });
    }
    return errorBox(error, trans, 'jp-BlocksGallery-error', actions);
  }

  private _emptyState(): HTMLElement {
    const trans = this.trans;
    const box = document.createElement('div');
    box.className = 'jp-BlocksGallery-empty';
    const icon = blocksIcon.element({
      className: 'jp-BlocksGallery-emptyIcon'
    });
    const text = document.createElement('p');
    if (this.model.search) {
      text.textContent = trans.__('No grids match "%1".', this.model.search);
      box.append(icon, text);
      return box;
    }
    text.textContent =
      this.model.filter === 'mine'
        ? trans.__('You have not shared any grids yet.')
        : trans.__('No grids have been shared yet.');
    const howTo = document.createElement('p');
    howTo.textContent = trans.__('Share one from a notebook:');
    const code = document.createElement('pre');
    code.className = 'jp-BlocksGallery-snippet';
    code.textContent = POST_SNIPPET;
    box.append(icon, text, howTo, code);
    return box;
  }

  private readonly _openGrid: (summary: IGridSummary) => void;
  private readonly _deleteGrid: ((summary: IGridSummary) => void) | null;
  /** The grid each card shows. */
  private readonly _shown = new WeakMap<HTMLElement, IGridSummary>();
  /**
   * This extension's strings, named `trans` for the translation-string
   * extractor (SidePanel's own `_trans` holds JupyterLab's).
   */
  private readonly trans: TranslationBundle;
  private readonly _body = new Widget();
  private readonly _cardList = document.createElement('ul');
  private readonly _filterSelect = document.createElement('select');
  private readonly _searchInput = document.createElement('input');
  private readonly _authorList = document.createElement('datalist');
  private readonly _moreButton = document.createElement('button');
  private readonly _searchDebouncer = new Debouncer(
    () => this.model.setSearch(this._searchInput.value),
    SEARCH_DELAY
  );
  private _cards = new Map<string, HTMLElement>();
  private _selected: string | null = null;
}

/** Run `move` (which moves elements around) and give the focus back to the card that had it. */
function keepingFocus(move: () => void): void {
  const focused = document.activeElement;
  move();
  if (
    focused instanceof HTMLElement &&
    focused !== document.activeElement &&
    focused.isConnected
  ) {
    focused.focus();
  }
}

/** Whether a card drawn for `shown` shows `item` as it is. */
function sameCard(
  shown: IGridSummary | undefined,
  item: IGridSummary
): boolean {
  return (
    shown !== undefined &&
    shown.title === item.title &&
    shown.author === item.author &&
    shown.can_delete === item.can_delete &&
    shown.thumbnail_url === item.thumbnail_url &&
    shown.created === item.created
  );
}

/** How long ago a grid was created, short enough for a card ("5 min. ago"). */
function age(created: string): string {
  // A server clock slightly ahead of ours must not say "in 2 seconds".
  const time = Math.min(new Date(created).getTime(), Date.now());
  return Time.formatHuman(new Date(time), 'short');
}

namespace Private {
  /** How many cards the first row holds. */
  export function columns(cards: HTMLElement[]): number {
    const top = cards[0]?.offsetTop;
    const count = cards.filter(card => card.offsetTop === top).length;
    return Math.max(1, count);
  }
}
