import Mustache from 'mustache';
import type { RecipientDoc } from './model.js';

/** The recipient fields a message may use. */
export const TEMPLATE_FIELDS = ['name', 'code', 'email', 'phone', 'segment'] as const;
const FIELDS: ReadonlySet<string> = new Set(TEMPLATE_FIELDS);

/**
 * Checks a message template: only `{{field}}` placeholders of TEMPLATE_FIELDS (HTML-escaped
 * when rendered) and comments; no raw `{{{…}}}`/`{{&…}}` output, sections or partials, so a
 * template can neither inject markup nor reach anything but these fields. Returns the
 * problem, or null when the template is fine.
 */
export function templateProblem(template: string): string | null {
  let tokens: ReturnType<typeof Mustache.parse>;
  try {
    tokens = Mustache.parse(template);
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
