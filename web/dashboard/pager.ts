/**
 * Previous / next buttons over a Relay connection. The API pages forward only (`after`), so the
 * cursors of the pages already seen are kept to go back.
 */
import type { PageInfo } from './api.js';
import { el } from './dom.js';

export class Pager {
  readonly element: HTMLElement;
  readonly #previous = el('button', { type: 'button' }, 'Previous page');
  readonly #next = el('button', { type: 'button' }, 'Next page');
  readonly #position = el('span');
  #seen: Array<string | null> = [];
  #after: string | null = null;
  #endCursor: string | null = null;

  constructor(
    label: string,
    private readonly load: (after: string | null) => void,
  ) {
    this.element = el('nav', { 'aria-label': label, class: 'pager' }, this.#previous, this.#position, this.#next);
    this.#previous.addEventListener('click', () => {
      this.#after = this.#seen.pop() ?? null;
      this.load(this.#after);
    });
    this.#next.addEventListener('click', () => {
      this.#seen.push(this.#after);
      this.#after = this.#endCursor;
      this.load(this.#after);
    });
    this.update({ hasNextPage: false, endCursor: null });
  }

  /** The cursor the current page starts after (null: the first page). */
  get after(): string | null {
    return this.#after;
  }

  /** Back to the first page (a new list). */
  reset(): void {
    this.#seen = [];
    this.#after = null;
  }

  /** Shows where the page that was just loaded stands. */
  update(pageInfo: PageInfo): void {
    this.#endCursor = pageInfo.endCursor;
    this.#previous.disabled = this.#after === null;
    this.#next.disabled = !pageInfo.hasNextPage;
    this.#position.textContent = `Page ${this.#seen.length + 1}`;
    this.element.hidden = this.#after === null && !pageInfo.hasNextPage;
  }
}
