// Building DOM nodes without HTML strings: text always goes in as text (textContent or a
// Text node), so a title like "<script>" shows as those characters and never runs.

/**
 * h("a", {href: "/x", class: "link", onclick: fn, dataset: {id: 1}}, "text", child, [more])
 * Attributes: "class", "dataset" (object), "style" is refused (the CSP has no inline styles;
 * use classes), on* keys take functions, true/false toggle boolean attributes, null/undefined
 * skip. Children: strings/numbers become text nodes, arrays are flattened, null is skipped.
 */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** svg("rect", {x: 0, width: 4, class: "bar"}, svg("title", {}, "3 jobs")): an SVG element,
 * with h()'s rules for attributes and children (a chart drawn without HTML strings). */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") {
      for (const [key, v] of Object.entries(value)) node.dataset[key] = String(v);
    } else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "style") {
      throw new Error("inline styles are not allowed by the CSP; use a class");
    } else if (value === true) {
      node.setAttribute(name, "");
    } else if (name === "href" || name === "src") {
      node.setAttribute(name, safeUrl(value));
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** Only http(s), same-origin paths, blob: and data:image URLs; anything else becomes "#". */
export function safeUrl(value) {
  const text = String(value);
  if (text.startsWith("/") && !text.startsWith("//")) return text;
  try {
    const url = new URL(text, location.origin);
    if (["http:", "https:", "blob:"].includes(url.protocol)) return url.href;
    if (url.protocol === "data:" && text.startsWith("data:image/")) return text;
  } catch {
    /* fall through */
  }
  return "#";
}

/** Text with every case-insensitive match of a term wrapped in <mark> (as nodes). */
export function highlighted(text, terms) {
  const words = (terms || []).filter((t) => t && t.length > 0);
  if (!words.length) return [document.createTextNode(text)];
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(${escaped.join("|")})`, "giu");
  // split() with one capturing group puts the matches at the odd indices.
  return String(text)
    .split(pattern)
    .map((part, i) => (i % 2 === 1 ? h("mark", {}, part) : document.createTextNode(part)))
    .filter((node) => node.textContent !== "");
}

/** Announce a short message to everyone (screen readers included). */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}
