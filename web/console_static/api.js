// Talking to the worker's JSON API. Errors carry the API's own sentence ({"error": "..."}).

/** A failed request: HTTP status (0 when the worker did not answer) and a sentence for people. */
export class ApiError extends Error {
  constructor(status, sentence) {
    super(sentence);
    this.status = status;
  }
}

/** The query string of ``params``, leaving out empty values (the API rejects unknown names, not blanks). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** GET ``path`` (e.g. /api/overview) with ``params``; the JSON body, or an ApiError. */
export async function getJson(path, params = {}, { signal } = {}) {
  let response;
  try {
    response = await fetch(path + query(params), {
      credentials: "same-origin", // the token cookie set when the page was opened with ?token=
      headers: { Accept: "application/json" },
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const sentence = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, sentence);
  }
  return body;
}
