// The console's shell: sign-in with the user's key, the three pages behind hash routes.
import { api, ApiError, clearKey, forgetCatalog, getKey, setKey } from "./api.js";
import { clear, errorBox, fmt, h } from "./dom.js";

const PAGES = {
  benchmarks: () => import("./benchmarks.js"),
  models: () => import("./models.js"),
  account: () => import("./account.js"),
};
const main = document.getElementById("main");
const signin = document.getElementById("signin");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const signout = document.getElementById("signout");
let rendering = 0;

function explain(error) {
  if (error.status === 401) {
    return "That key was not accepted: the gateway says it is invalid, revoked or expired. Check that you copied " +
      "the whole key (ug_ and 38 more characters).";
  }
  if (error.status === 403) return `The gateway refused this key: ${error.message}`;
  return error.message;
}

async function signIn(key) {
  const box = document.getElementById("signin-error");
  box.hidden = true;
  if (!/^ug_[A-Za-z0-9]{20,}$/.test(key)) {
    box.textContent = "A unigate key starts with ug_ followed by letters and digits.";
    box.hidden = false;
    return;
  }
  try {
    const credits = await api("/v0/credits", { key });
    setKey(key);
    who.textContent = `${credits.id} · ${fmt.balance(credits.credits)}`;
    route();
  } catch (error) {
    box.textContent = error instanceof ApiError ? explain(error) : String(error);
    box.hidden = false;
  }
}

function parseHash() {
  const [path, search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { page: PAGES[path] ? path : "benchmarks", params: new URLSearchParams(search) };
}

export function navigate(page, params = {}) {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
  location.hash = `#/${page}${search ? `?${search}` : ""}`;
}

async function route() {
  const token = ++rendering;
  if (!getKey()) {
    nav.hidden = true; signout.hidden = true; who.textContent = "";
    clear(main, signin);
    signin.hidden = false;
    document.getElementById("key").focus();
    return;
  }
  nav.hidden = false; signout.hidden = false;
  const { page, params } = parseHash();
  for (const link of nav.querySelectorAll("a")) link.classList.toggle("active", link.dataset.page === page);
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · unigate console`;
  const view = h("div", { class: "page", dataset: { page } });
  clear(main, view);
  try {
    const module = await PAGES[page]();
    if (token === rendering) await module.render(view, params);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      clearKey();
      route();
      document.getElementById("signin-error").textContent = explain(error);
      document.getElementById("signin-error").hidden = false;
      return;
    }
    view.append(errorBox(error));
  }
}

document.getElementById("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("key");
  signIn(input.value.trim());
  input.value = "";
});
signout.addEventListener("click", () => { clearKey(); forgetCatalog(); location.hash = ""; route(); });
window.addEventListener("hashchange", route);

if (getKey()) {
  api("/v0/credits").then((c) => { who.textContent = `${c.id} · ${fmt.balance(c.credits)}`; }).catch(() => {});
}
route();
