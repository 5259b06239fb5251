// Shops: auth's accounts, their connection to Allegro (both OAuth flows) and the callback.

import { ApiError, MARKETPLACES, SHOP, view, state, h, table, can, shop, when, call, get, post, getAll, resultLine, act, action, loadAccounts, append } from "./lib.js";

// --- Shops (auth; cap from catalog; import state from orders) -------------------------------

export function statusWords(account, importing) {
  const connection = account.connection;
  if (account.status === "connected") {
    if (importing && importing.status === "tokens_failed") {
      return [`Token failing: ${importing.status_reason || importing.last_error || "Allegro refused it"}`, false];
    }
    return ["Connected", true];
  }
  if (account.status === "refresh_failed") {
    return [`Token failing: ${account.status_reason || "the refresh was refused"} (reconnect it)`, false];
  }
  if (connection && connection.status === "pending") return ["Waiting for the seller to log in at Allegro", false];
  const why = account.status_reason || (connection && connection.error);
  return [`Not connected${why ? `: ${why}` : " yet"}`, false];
}

export async function renderShops(container) {
  const line = resultLine();
  const connectPanel = h("div", { id: "connect-panel" });
  const body = h("div", { id: "shops" });
  // The table is drawn again after each action; the result line and the panel stay.
  const renderAgain = () => shopsTable(body, line, connectPanel, renderAgain);
  append(container, body, line, connectPanel);
  await renderAgain();
  if (can("operator")) {
    const alias = h("input", { id: "new-alias", placeholder: "shop-pl-1" });
    const base = h("select", { id: "new-marketplace" }, MARKETPLACES.map((m) => h("option", {}, m)));
    append(container,
      h(
        "section",
        {},
        h("h2", {}, "Add a shop"),
        h("label", { for: "new-alias" }, "Name"),
        alias,
        h("label", { for: "new-marketplace" }, "Base marketplace"),
        base,
        h("button", {
          type: "button",
          onclick: () =>
            act(line, async () => {
              const made = await post("auth", "/accounts", { alias: alias.value.trim(), base_marketplace: base.value });
              await renderAgain();
              return `Shop ${made.alias} added (id ${made.id}): connect it at Allegro.`;
            }),
        }, "Add shop"),
      ),
    );
  }
  append(container,
    h("p", { class: "muted" }, "A shop's readiness in detail, pausing and resuming its publication: its Publication page."),
  );
}

// A shop's readiness to publish (offers), in words.
const READINESS_ITEMS = {
  return_policy: "return policy",
  implied_warranty: "implied warranty",
  shipping_rates: "shipping price list",
  responsible_producer: "responsible producer",
  safety_information: "product safety information",
  allegro_connection: "connection to Allegro",
};

export function readinessWords(found) {
  if (!found) return ["-", false];
  if (found.failed) return [found.failed instanceof ApiError ? found.failed.words() : found.failed.message, false];
  const paused = found.paused ? "; publication paused" : "";
  if (found.readiness === "ready") return [`Ready${paused}`, !found.paused];
  if (found.readiness === "unknown") return [`Not checked yet${paused}`, false];
  const missing = found.items.filter((i) => i.status !== "ok").map((i) => READINESS_ITEMS[i.item] || i.item);
  return [`Not ready: ${missing.join(", ") || "see its page"} missing${paused}`, false];
}

// The marketplaces a shop's offers are priced and sold on (offers' account), its base first;
// the base alone until offers knows the shop.
function marketplacesCell(account, found) {
  const base = account.base_marketplace;
  const enabled = found && Array.isArray(found.marketplaces) ? found.marketplaces : [base];
  const others = enabled.filter((m) => m !== base);
  return h("span", { dataset: { marketplaces: enabled.join(" ") } }, [`${base} (base)`, ...others].join(", "));
}

export async function shopsTable(body, line, connectPanel, renderAgain) {
  await loadAccounts();
  const imports = await getAll("orders", "/import/accounts").catch(() => []);
  const caps = {};
  const readiness = {};
  await Promise.all([
    ...state.accounts.map(async (a) => {
      caps[a.id] = await get("catalog", `/accounts/${encodeURIComponent(a.id)}/listing`).catch(() => null);
    }),
    ...state.accounts.map(async (a) => {
      readiness[a.id] = await get("offers", `/accounts/${encodeURIComponent(a.id)}/readiness`).catch((exc) => ({ failed: exc }));
    }),
  ]);
  const rows = table(
    ["Shop", "Status", "Publication", "Allegro seller", "Marketplaces", "Product cap", "Token valid until", "Last connection attempt", "Actions"],
    state.accounts,
    (a) => {
      const importing = imports.find((i) => i.account_id === a.id);
      const [words, good] = statusWords(a, importing);
      const attempt = a.connection
        ? `${a.connection.flow} ${a.connection.status}${a.connection.error ? `: ${a.connection.error}` : ""}`
        : "-";
      const id = encodeURIComponent(a.id);
      return [
        h("span", {}, a.alias, h("br"), h("small", { class: "muted" }, a.id)),
        h("span", { class: good ? "status-connected" : "status-problem", dataset: { status: a.status } }, words),
        publicationCell(a, readiness[a.id]),
        a.allegro_login || "-",
        marketplacesCell(a, readiness[a.id]),
        caps[a.id] ? String(caps[a.id].product_cap) : "-",
        when(a.access_expires_at),
        attempt,
        h(
          "span",
          {},
          action(a.status === "connected" ? "Reconnect at Allegro" : "Connect at Allegro", "operator", () =>
            act(line, async () => {
              const redirect = state.config.oauth_redirect_uri;
              const started = await post(
                "auth",
                `/accounts/${id}/connect/authorization-code`,
                redirect ? { redirect_uri: redirect } : undefined,
              );
              connectPanel.replaceChildren(
                h("p", {}, `To connect ${a.alias}, the seller logs in at Allegro (link valid until ${when(started.expires_at)}):`),
                h("p", {}, h("a", { href: started.authorize_url, id: "authorize-link" }, "Log in at Allegro")),
              );
              return `Connection started for ${a.alias}: open the link below.`;
            }),
          ),
          action("Connect with a code", "operator", () =>
            act(line, async () => {
              const started = await post("auth", `/accounts/${id}/connect/device`);
              const where = started.verification_uri_complete || started.verification_uri;
              connectPanel.replaceChildren(
                h("p", {}, `The seller opens `, h("a", { href: where, target: "_blank", rel: "noopener" }, where)),
                h("p", {}, "and enters the code ", h("strong", {}, started.user_code), `. Valid until ${when(started.expires_at)}.`),
                h("p", { class: "muted" }, "This page checks the shop's status until it is connected."),
              );
              watchConnection(a.id, line);
              return `Device connection started for ${a.alias}.`;
            }),
          ),
          action("Forget tokens", "operator", () => {
            if (!confirm(`Forget ${a.alias}'s Allegro tokens? It must be connected again.`)) return;
            act(line, async () => {
              const after = await post("auth", `/accounts/${id}/reset`);
              await renderAgain();
              return `${after.alias}: tokens forgotten, status ${after.status}.`;
            });
          }),
          action("Delete", "admin", () => {
            if (!confirm(`Delete the shop ${a.alias}?`)) return;
            act(line, async () => {
              await call("auth", "DELETE", `/accounts/${id}`);
              await renderAgain();
              return `${a.alias} deleted.`;
            });
          }, { class: "danger" }),
        ),
      ];
    },
  );
  body.replaceChildren(
    state.accounts.length ? rows : h("p", {}, "No shop yet."),
    h("p", {}, h("button", { type: "button", onclick: () => act(line, async () => { await renderAgain(); return "Shops refreshed."; }) }, "Refresh")),
  );
}

export function watchConnection(accountId, line) {
  const timer = setInterval(async () => {
    if (!document.body.contains(line)) {
      clearInterval(timer); // the operator went to another page
      return;
    }
    try {
      const account = await get("auth", `/accounts/${encodeURIComponent(accountId)}`);
      const attempt = account.connection;
      if (account.status === "connected" || (attempt && attempt.status !== "pending")) {
        clearInterval(timer);
        line.className = account.status === "connected" ? "result ok" : "result error";
        line.textContent =
          account.status === "connected"
            ? `${account.alias} is connected as Allegro seller ${account.allegro_login}.`
            : `${account.alias} was not connected: ${attempt.error || attempt.status}.`;
      }
    } catch (exc) {
      // A refusal ends the watch; a service briefly unavailable does not.
      if (exc instanceof ApiError && [401, 403, 404].includes(exc.status)) clearInterval(timer);
    }
  }, 3000);
}

// --- OAuth callback: Allegro sent the seller back here --------------------------------------

export async function renderCallback() {
  const params = new URLSearchParams(location.search);
  history.replaceState(null, "", "/oauth/callback"); // the code is used once: off the URL
  const line = resultLine();
  view.replaceChildren(h("h1", {}, "Connecting a shop"), line, h("p", {}, h("a", { href: "/#/shops" }, "Back to the shops")));
  await act(line, async () => {
    const account = await call("auth", "GET", "/accounts/oauth/callback", {
      auth: false,
      params: { state: params.get("state"), code: params.get("code"), error: params.get("error") },
    });
    return `Shop ${account.alias} is connected as Allegro seller ${account.allegro_login}.`;
  });
}

function publicationCell(account, found) {
  const [words, good] = readinessWords(found);
  if (!found || found.failed) return h("span", { class: "muted" }, words);
  // The link opens the Publication page of this shop.
  const open = () => {
    sessionStorage.setItem(SHOP, account.id);
    document.getElementById("shop").value = account.id;
  };
  return h("span", {},
    h("span", { class: good ? "status-connected" : "status-problem", dataset: { readiness: found.readiness } }, words),
    h("br"),
    h("a", { href: "#/publication", onclick: open }, "Publication"));
}
