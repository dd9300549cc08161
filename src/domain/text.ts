// Anything a person reads back later (an admin's reason, an actor) must say something: whitespace,
// control and invisible format characters (zero-width space, word joiner, BOM, direction marks) do not.
const VISIBLE = /[^\p{White_Space}\p{Cc}\p{Cf}]/u;

/** Whether `text` has at least one visible character. */
export function hasVisibleText(text: string | null | undefined): boolean {
  return typeof text === 'string' && VISIBLE.test(text);
}

// Postgres `text` and `jsonb` cannot hold U+0000 (the query fails), and a lone UTF-16 surrogate is not
// Unicode at all: pg would send it as U+FFFD (another string than the one checked, which could match
// another row) and jsonb refuses its \u escape. Strings from outside are checked before any query.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** What keeps `text` out of Postgres as is: a NUL character, a lone surrogate, or nothing (null). */
export function unstorableTextProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain a NUL character (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (a lone surrogate is not)';
  return null;
}

/** Whether `text` is well-formed Unicode that Postgres text and jsonb hold as is. */
export function isStorableText(text: string): boolean {
  return unstorableTextProblem(text) === null;
}
