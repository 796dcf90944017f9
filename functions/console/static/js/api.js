// The public JSON API, called with the user's own key. The key lives in sessionStorage only: never in a
// URL, a cookie or a log.
const KEY = "unigate.key";

// This module is served at <base>/console/v-<version>/js/api.js, so the API's base is three folders up
// (the API may sit under a stage such as /api/).
export const BASE = new URL("../../../", import.meta.url);
export const BASE_URL = BASE.href.replace(/\/$/, "");

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(key) { sessionStorage.setItem(KEY, key); }
export function clearKey() { sessionStorage.removeItem(KEY); }

function messageOf(body, status) {
  const error = body && (body.error ?? body.detail);
  if (typeof error === "string") return error;
  if (error && typeof error.message === "string") return error.message;
  return `The API answered ${status}.`;
}

export async function api(path, { method = "GET", query = {}, key = getKey() } = {}) {
  const url = new URL(path.replace(/^\//, ""), BASE);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  let response;
  try {
    response = await fetch(url, { method, headers: { Authorization: `Bearer ${key}` }, cache: "no-store" });
  } catch {
    throw new ApiError(0, "The gateway could not be reached. Is it running?");
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) throw new ApiError(response.status, messageOf(body, response.status));
  return body;
}

// Every page of a listing that pages with next_cursor, up to `max` records.
export async function allQueries(query, max = 2000) {
  const found = [];
  let cursor;
  do {
    const page = await api("/v0/queries", { query: { ...query, limit: 100, cursor } });
    found.push(...page.queries);
    cursor = page.next_cursor;
  } while (cursor && found.length < max);
  return { queries: found, truncated: Boolean(cursor) };
}

// The catalog as /v1/models lists it, read once per sign-in.
let models = null;
export function catalog() {
  models ??= api("/v1/models").then((list) => list.data).catch((error) => { models = null; throw error; });
  return models;
}
export function forgetCatalog() { models = null; }
