/** Small DOM builders: the page is plain DOM, no framework. */

type Child = Node | string;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** A message for the viewer in place of what could not be shown. */
export function alertText(text: string): HTMLElement {
  return el('p', { role: 'alert' }, text);
}

/** What a table cell or a term shows for a field the viewer's role may not read. */
export function hidden(): HTMLElement {
  return el('span', { class: 'hidden-field', title: 'not available to your role' }, 'hidden');
}

/** A table with a caption and column headers; each row a list of cells (the first a row header). */
export function dataTable(caption: string, columns: string[], rows: Child[][]): HTMLTableElement {
  const table = el('table');
  table.append(el('caption', {}, caption));
  const head = el('tr');
  for (const c of columns) head.append(el('th', { scope: 'col' }, c));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const row of rows) {
    const tr = el('tr');
    row.forEach((cell, i) => tr.append(i === 0 ? el('th', { scope: 'row' }, cell) : el('td', {}, cell)));
    body.append(tr);
  }
  table.append(body);
  return table;
}

/** Terms and their values, e.g. a customer's profile. */
export function definitions(rows: Array<[string, Child]>, attrs: Record<string, string> = {}): HTMLDListElement {
  const dl = el('dl', attrs);
  for (const [term, value] of rows) dl.append(el('dt', {}, term), el('dd', {}, value));
  return dl;
}
