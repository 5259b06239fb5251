// The console's entry: log in, the frame (navigation, shop, role), the router.
// Plain JavaScript modules, no build step, no library. The key lives in this tab's
// sessionStorage only and is never written anywhere else.

import { KEY, ROLE, SHOP, view, state, h, apiKey, role, can, shop, ApiError, resultLine, act, loadAccounts, hooks, append } from "./lib.js";
import { renderShops, renderCallback } from "./shops.js";
import { renderCatalogue } from "./catalogue.js";
import { renderProduct } from "./product.js";
import { renderPricing } from "./pricing.js";
import { renderPublication } from "./publication.js";
import { renderOrders } from "./orders.js";
import { renderDeadLetters, renderKeys } from "./admin.js";

// --- log in ---------------------------------------------------------------------------------

function renderLogin(message) {
  document.getElementById("top").hidden = true;
  const input = h("input", { type: "password", id: "api-key", autocomplete: "off", required: true });
  const line = resultLine();
  if (message) {
    line.hidden = false;
    line.className = "result error";
    line.textContent = message;
  }
  const form = h(
    "form",
    { class: "login" },
    h("h1", {}, "mci console"),
    h("p", {}, "Log in with your operator API key (mcik_…). It is kept in this tab only."),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", {}, h("button", { type: "submit" }, "Log in")),
    line,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    await act(line, async () => {
      // The key's role, from auth (which also checks that the key is valid).
      const response = await fetch("/api/auth/auth/tokens", {
        method: "POST",
        headers: { Authorization: `Bearer ${candidate}`, Accept: "application/json" },
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        const e = (data && data.error) || {};
        throw new ApiError("auth", response.status, e.code || "refused", e.message || "refused");
      }
      sessionStorage.setItem(KEY, candidate);
      sessionStorage.setItem(ROLE, data.role);
      return `Logged in as ${data.role}.`;
    });
    if (apiKey()) start();
  });
  view.replaceChildren(form);
  input.focus();
}

// --- the frame: navigation, shop, role ------------------------------------------------------

const PAGES = [
  { id: "shops", title: "Shops", render: renderShops },
  { id: "catalogue", title: "Catalogue", render: renderCatalogue },
  { id: "product", title: "Product", render: renderProduct },
  { id: "pricing", title: "Pricing", render: renderPricing },
  { id: "publication", title: "Publication", render: renderPublication },
  { id: "orders", title: "Orders", render: renderOrders },
  { id: "dead-letters", title: "Dead letters", render: renderDeadLetters, minimum: "admin" },
  { id: "keys", title: "API keys", render: renderKeys, minimum: "admin" },
];

async function start() {
  try {
    state.config = await (await fetch("/config.json")).json();
    await loadAccounts();
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) {
      logout(exc.words());
      return;
    }
    view.replaceChildren(h("p", { class: "result error", role: "alert" }, exc.words ? exc.words() : exc.message));
  }
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = `role: ${role()}`;
  route();
}

function logout(message) {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ROLE);
  renderLogin(message);
}

function route() {
  if (!apiKey()) {
    renderLogin();
    return;
  }
  const wanted = (location.hash.replace(/^#\/?/, "") || "shops").split("?")[0];
  const pages = PAGES.filter((p) => !p.minimum || can(p.minimum));
  const page = pages.find((p) => p.id === wanted) || pages[0];
  document.getElementById("nav").replaceChildren(
    ...pages.map((p) =>
      h("a", { href: `#/${p.id}`, "aria-current": p.id === page.id ? "page" : null }, p.title),
    ),
  );
  const container = h("div", { id: `page-${page.id}` });
  view.replaceChildren(h("h1", {}, page.title), container);
  document.title = `${page.title} - mci console`;
  page.render(container).catch((exc) => {
    append(container,
      h("p", { class: "result error", role: "alert" }, exc instanceof ApiError ? exc.words() : exc.message),
    );
  });
}

// --- start ----------------------------------------------------------------------------------

hooks.route = route;

document.getElementById("logout").addEventListener("click", () => logout("Logged out."));
document.getElementById("shop").addEventListener("change", (event) => {
  sessionStorage.setItem(SHOP, event.target.value);
  route();
});
window.addEventListener("hashchange", route);
if (location.pathname === "/oauth/callback") renderCallback();
else if (apiKey()) start();
else renderLogin();
