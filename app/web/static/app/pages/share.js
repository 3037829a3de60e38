// The web app manifest's share target (GET /share?title=&text=&url=): apps put the shared
// address in any of the three, often inside a sentence. The first http(s) URL found, from
// url, then text, then title, goes to the submit form.

const URL_PATTERN = /https?:\/\/[^\s<>"']+/i;

/** The first http(s) URL in a shared text, without trailing punctuation. */
export function sharedUrl(query) {
  for (const name of ["url", "text", "title"]) {
    const found = URL_PATTERN.exec(query.get(name) || "");
    if (found) return found[0].replace(/[.,;:!?)\]]+$/, "");
  }
  return "";
}

export async function render(root, ctx) {
  const url = sharedUrl(ctx.query);
  ctx.navigate(url ? `/submit?url=${encodeURIComponent(url)}` : "/submit", { replaceState: true });
  return undefined;
}
