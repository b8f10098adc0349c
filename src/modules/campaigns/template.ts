import { LRUCache } from 'lru-cache';
import Mustache from 'mustache';
import type { RecipientDoc } from './model.js';

/** The recipient fields a message may use. */
export const TEMPLATE_FIELDS = ['name', 'code', 'email', 'phone', 'segment'] as const;
const FIELDS: ReadonlySet<string> = new Set(TEMPLATE_FIELDS);

/**
 * How many parsed templates rendering keeps. Mustache caches every template it ever parsed,
 * forever, so each distinct message grew the heap for good; a send renders one template per
 * recipient in a row, so a few dozen recent ones keep every send hot, and a miss costs one parse.
 */
export const PARSED_TEMPLATES_MAX = 32;
const parsedTemplates = new LRUCache<string, string>({ max: PARSED_TEMPLATES_MAX });
Mustache.templateCache = {
  get: (key) => parsedTemplates.get(key),
  set: (key, tokens) => void parsedTemplates.set(key, tokens),
  clear: () => parsedTemplates.clear(),
};

/** How many parsed templates are held now (at most PARSED_TEMPLATES_MAX). */
export function parsedTemplateCount(): number {
  return parsedTemplates.size;
}

/** Parses without caching: a template checked (and perhaps refused) is not one being sent. */
const checkingWriter = Object.assign(new Mustache.Writer(), { templateCache: undefined });

/**
 * Checks a message template: only `{{field}}` placeholders of TEMPLATE_FIELDS (HTML-escaped
 * when rendered) and comments; no raw `{{{…}}}`/`{{&…}}` output, sections or partials, so a
 * template can neither inject markup nor reach anything but these fields. Returns the
 * problem, or null when the template is fine.
 */
export function templateProblem(template: string): string | null {
  let tokens: ReturnType<typeof Mustache.parse>;
  try {
    tokens = checkingWriter.parse(template);
  } catch (err) {
    return `the message template does not parse: ${(err as Error).message}`;
  }
  for (const [kind, value] of tokens) {
    if (kind === 'text' || kind === '!') continue;
    if (kind !== 'name') return `only {{field}} placeholders are allowed in a message (found "${kind}${value}")`;
    if (!FIELDS.has(value)) return `unknown placeholder {{${value}}}: use one of ${TEMPLATE_FIELDS.join(', ')}`;
  }
  return null;
}

/** The message for one recipient, each field HTML-escaped; a missing field renders empty. */
export function renderMessage(template: string, recipient: RecipientDoc): string {
  return Mustache.render(template, {
    name: recipient.name,
    code: recipient.code,
    email: recipient.email ?? '',
    phone: recipient.phone ?? '',
    segment: recipient.segment,
  });
}
