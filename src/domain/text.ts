// Anything a person reads back later (an admin's reason, an actor) must say something: whitespace,
// control and invisible format characters (zero-width space, word joiner, BOM, direction marks) do not.
const VISIBLE = /[^\p{White_Space}\p{Cc}\p{Cf}]/u;

/** Whether `text` has at least one visible character. */
export function hasVisibleText(text: string | null | undefined): boolean {
  return typeof text === 'string' && VISIBLE.test(text);
}
