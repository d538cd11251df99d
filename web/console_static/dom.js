// Building the page's elements. Text from posts and the API only ever goes in as textContent
// or attribute values, never parsed as HTML: a hostile post's markup shows as text.

/** A new element: ``el("li", {class: "x", dataset: {id}}, child, "text", ...)``. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, ...children);
  return node;
}

export function append(node, ...children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** The URL when it is a web address people can open (http or https), else null (no javascript: links). */
export function safeHttpUrl(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

const SENTIMENT_MARK = { positive: "+", neutral: "=", negative: "−" };

/** A sentiment badge told by its words and a sign, not only its colour. */
export function sentimentBadge(label, text) {
  const known = label in SENTIMENT_MARK ? label : "neutral";
  return el(
    "span",
    { class: `badge sent-${known}`, dataset: { sentiment: known } },
    el("span", { "aria-hidden": "true", class: "mark", text: SENTIMENT_MARK[known] }),
    el("span", { text }),
  );
}
