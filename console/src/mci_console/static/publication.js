// Publication: per shop, the account's readiness, pause and resume, the progress by state and
// marketplace against Allegro's budget with its ETA (followed live), the offers that cannot be
// published grouped by reason, the drift found between our offers and Allegro's (with a
// reconcile), the offers by state, a dry run and a retry.

import { FIXES, OFFER_FIXES, OFFER_STATES, h, fill, append, table, can, shop, when, shopName, duration, allegroErrors, ApiError, get, getAll, post, resultLine, act, action, needShop } from "./lib.js";

// How often the progress is read again while the page is open.
const FOLLOW_MS = 2000;

const offers = (path) => `/accounts/${encodeURIComponent(shop())}${path}`;

export async function renderPublication(container) {
  if (needShop(container)) return;
  const problems = h("div");
  const drift = h("div");
  const list = h("div");
  // What the publication changes is drawn again when it reaches its end or after a retry.
  const redraw = async () => {
    problems.replaceChildren(await problemsSection());
    list.replaceChildren(await offersSection());
  };
  const [readiness, progress] = await Promise.all([readinessSection(), progressSection(redraw)]);
  append(container, readiness, progress, problems, drift, list, actionsSection(redraw));
  await redraw();
  drift.replaceChildren(await driftSection(redraw));
}

// --- readiness, pause and resume ------------------------------------------------------------

const ITEM_WORDS = {
  return_policy: "Return policy",
  implied_warranty: "Implied warranty",
  shipping_rates: "Shipping price list",
  responsible_producer: "Responsible producer (GPSR)",
  safety_information: "Product safety information (GPSR)",
  allegro_connection: "Connection to Allegro",
};

export async function readinessSection() {
  const section = h("section", { id: "readiness" }, h("h2", {}, `Readiness of ${shopName(shop())}`));
  const body = h("div");
  const line = h("div", { class: "result", hidden: true, id: "readiness-result" });
  const draw = (found) => {
    const missing = found.items.filter((i) => i.status !== "ok");
    const verdict =
      found.readiness === "ready"
        ? "Ready to publish."
        : found.readiness === "unknown"
          ? "Not checked yet: offers has not seen this shop connected."
          : `Not ready to publish: ${missing.map((i) => (ITEM_WORDS[i.item] || i.item).toLowerCase()).join(", ") || "see below"} missing. Nothing is sent until it is.`;
    fill(body,
      h("p", { class: found.readiness === "ready" ? "status-connected" : "status-problem", dataset: { readiness: found.readiness } }, verdict),
      found.items.length
        ? table(["Item", "Status", "On Allegro", "How to fix"], found.items, (i) => [
            ITEM_WORDS[i.item] || i.item,
            i.status === "ok" ? (i.created ? "ok (created now)" : "ok") : i.status,
            i.status === "ok" ? [i.name, i.id].filter(Boolean).join(", ") || "-" : "-",
            i.fix || "",
          ])
        : null,
      h("p", { dataset: { paused: String(found.paused) } },
        found.paused
          ? "Publication is paused: nothing is sent for this shop until it is resumed."
          : "Publication is running.",
        found.checked_at ? ` Readiness checked ${when(found.checked_at)}.` : ""),
    );
  };
  const found = await get("offers", offers("/readiness"));
  draw(found);
  // The safety text and the responsible producer are what an operator gives here; the return
  // policy, warranty and shipping price list are made in the seller's Allegro settings.
  const safety = can("operator") ? h("textarea", { id: "safety-information", rows: 2, maxlength: 5000 }) : null;
  const producerMissing = found.items.some((i) => i.item === "responsible_producer" && i.status !== "ok");
  append(section,
    body,
    safety ? h("label", { for: "safety-information" }, "Product safety information (kept when left empty)") : null,
    safety,
    can("operator") ? producerForm(producerMissing, line, draw) : null,
    action("Check readiness on Allegro now", "operator", () =>
      act(line, async () => {
        const text = safety.value.trim();
        const found = await post("offers", offers("/readiness"), text ? { safety_information: text } : {});
        draw(found);
        return found.readiness === "ready" ? "Checked on Allegro: ready to publish." : "Checked on Allegro: still not ready (the missing items are listed).";
      })),
    action("Pause publication", "operator", () =>
      act(line, async () => {
        draw(await post("offers", offers("/publication/pause")));
        return `Publication of ${shopName(shop())} paused: writes under way finish, nothing more is sent.`;
      })),
    action("Resume publication", "operator", () =>
      act(line, async () => {
        draw(await post("offers", offers("/publication/resume")));
        return `Publication of ${shopName(shop())} resumed.`;
      })),
    line,
  );
  return section;
}

// The responsible producer's data (GPSR) as Allegro takes it: offers' readiness check creates
// it on Allegro for the shop, and offers use it from then on.
const PRODUCER_FIELDS = [
  ["name", "Name on Allegro (at most 50 characters)", 50],
  ["tradeName", "Trade name", 200],
  ["countryCode", "Country (ISO code, e.g. PL)", 2],
  ["street", "Street and number", 200],
  ["postalCode", "Postal code", 20],
  ["city", "City", 100],
  ["email", "Contact e-mail", 50],
  ["phoneNumber", "Contact phone", 30],
];

function producerForm(open, line, draw) {
  const inputs = {};
  const form = h("form", { id: "producer-form", class: "grid" });
  for (const [name, label, max] of PRODUCER_FIELDS) {
    const id = `producer-${name}`;
    inputs[name] = h("input", { id, name, maxlength: max });
    append(form, h("div", {}, h("label", { for: id }, label), h("br"), inputs[name]));
  }
  append(form, h("div", {}, h("button", { type: "submit" }, "Create the responsible producer on Allegro")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const v = (name) => inputs[name].value.trim() || undefined;
    const producer = {
      name: v("name"),
      producerData: {
        tradeName: v("tradeName"),
        address: { countryCode: (v("countryCode") || "").toUpperCase() || undefined, street: v("street"), postalCode: v("postalCode"), city: v("city") },
        contact: { email: v("email"), phoneNumber: v("phoneNumber") },
      },
    };
    act(line, async () => {
      const found = await post("offers", offers("/readiness"), { responsible_producer: producer, create_missing: true });
      draw(found);
      return found.readiness === "ready"
        ? "The responsible producer is on Allegro: ready to publish."
        : "Checked on Allegro: still not ready (the missing items are listed).";
    });
  });
  return h("details", { open }, h("summary", {}, "Responsible producer (GPSR): give its data"), form);
}

// --- progress, followed live ----------------------------------------------------------------

export async function progressSection(onDone) {
  const section = h("section", { id: "progress" }, h("h2", {}, "Publication progress"));
  const body = h("div");
  append(section, body);
  const draw = (p) => {
    const total = Object.values(p.by_state).reduce((a, b) => a + b, 0);
    const settled = total - p.to_do;
    const done = total > 0 && p.to_do === 0;
    const summary = done
      ? `Done: all ${total} offers are settled (${p.by_state.active} active).`
      : total === 0
        ? "No offer yet: the catalogue has sent nothing for this shop."
        : `${settled} of ${total} offers settled; ${p.to_do} still to publish${p.paused ? " (paused)" : ""}.`;
    const markets = Object.entries(p.by_marketplace);
    fill(body,
      h("p", {},
        h("progress", { max: total || 1, value: settled, "aria-label": "publication progress" }),
        " ", h("span", { id: "progress-summary", dataset: { done: String(done) } }, summary)),
      h("p", { id: "progress-rate" },
        `Rate: ${p.rate_per_minute} offers a minute over the last 5 minutes, against Allegro's budget of ${p.budget_per_minute} a minute. `,
        `ETA to done: ${done ? "now" : duration(p.eta_seconds_at_current_rate, "none at the current rate (nothing published in the last 5 minutes)")} at the current rate, ${duration(p.eta_seconds_at_budget, "-")} at the full budget.`),
      table(["State", "Offers"], Object.entries(p.by_state).filter(([, n]) => n), ([s, n]) => [OFFER_STATES[s] || s, n]),
      markets.length
        ? table(["Marketplace", "States of the published offers there"], markets, ([m, states]) => [
            m, Object.entries(states).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(", "),
          ])
        : h("p", { class: "muted" }, "No offer published on any marketplace yet."),
    );
    return done;
  };
  let wasDone = draw(await get("offers", offers("/publication/progress")));
  // Followed while the page shows it (the page attaches the section once its other parts are
  // read; gone from the page, the following stops); the problems are drawn again at the end.
  const follow = async () => {
    let shown = false;
    for (let waits = 0; ; waits += 1) {
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
      if (!section.isConnected) {
        if (shown || waits > 30) return;
        continue;
      }
      shown = true;
      try {
        const done = draw(await get("offers", offers("/publication/progress")));
        if (done && !wasDone) await onDone();
        wasDone = done;
      } catch (exc) {
        body.prepend(h("p", { class: "result error" }, exc instanceof ApiError ? exc.words() : exc.message));
        return;
      }
    }
  };
  follow();
  return section;
}

// --- what cannot be published, by reason ----------------------------------------------------

export async function problemsSection() {
  const section = h("section", { id: "offer-problems" }, h("h2", {}, "Not listable or failed, by reason"));
  const found = [
    ...(await getAll("offers", offers("/offers"), { state: "not_listable" })),
    ...(await getAll("offers", offers("/offers"), { state: "failed" })),
    ...(await getAll("offers", offers("/offers"), { state: "inactive" })),
  ];
  const groups = new Map();
  for (const o of found) {
    const code = (o.reason && o.reason.code) || o.state;
    if (!groups.has(code)) groups.set(code, []);
    groups.get(code).push(o);
  }
  if (!groups.size) append(section, h("p", {}, "No offer is held back by a reason."));
  for (const [code, list] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
    // offers' words for the reason, without the detail one offer added after a colon.
    const words = (list[0].reason && list[0].reason.message ? list[0].reason.message.split(": ")[0] : code.replace(/_/g, " "));
    append(section,
      h("div", { class: "reason", dataset: { reason: code } },
        h("h3", {}, `${words} - ${list.length} offer${list.length === 1 ? "" : "s"}`),
        h("p", { class: "fix" }, `How to fix: ${OFFER_FIXES[code] || "read the offer's history on its product page."}`),
        h("ul", {}, list.slice(0, 50).map((o) => {
          const errors = allegroErrors(o.reason && o.reason.allegro_errors);
          return h("li", {},
            h("a", { href: `#/product?sku=${encodeURIComponent(o.sku)}` }, o.sku),
            ` ${OFFER_STATES[o.state] || o.state}`,
            errors.length ? ` - Allegro: ${errors.join("; ")}` : "");
        }))),
    );
  }
  // Before offers: what the catalogue keeps out of the shop (its own page has the products).
  try {
    const held = await get("catalog", `/accounts/${encodeURIComponent(shop())}/not-listable`, { limit: 1 });
    if (held.total) {
      append(section,
        h("h3", {}, `Kept out by the catalogue before publication: ${held.total} products`),
        h("ul", { id: "catalogue-reasons" }, Object.entries(held.by_reason).map(([reason, count]) =>
          h("li", {}, `${count}: ${reason.replace(/_/g, " ")}. ${FIXES[reason] || ""}`))),
        h("p", {}, h("a", { href: "#/catalogue" }, "See them on the Catalogue page")),
      );
    }
  } catch (exc) {
    append(section, h("p", { class: "result error" }, exc instanceof ApiError ? exc.words() : exc.message));
  }
  return section;
}

// --- drift: what differs between our offers and Allegro's -----------------------------------

// offers' drift kinds and repairs in words.
export const DRIFT_KINDS = {
  price: "price changed on Allegro",
  stock: "stock changed on Allegro",
  ended: "ended on Allegro while we want it live",
  status: "status differs from ours",
  missing_on_allegro: "missing on Allegro",
  unknown_to_us: "on Allegro, unknown to us",
};
const REPAIRS = {
  resend: "our value is sent again",
  reactivate: "reactivated",
  end: "ended, as we want",
  verify: "read back from Allegro",
  recreate: "created again",
  adopt: "adopted as the SKU's offer",
};
const repairWords = (r) => (r ? REPAIRS[r] || r : "reported only (nothing repaired)");

// One side of a difference (offers stores Allegro's and our value as they were) in words.
export function driftValue(value) {
  if (value === null || value === undefined) return "none";
  if (typeof value !== "object") return String(value);
  if ("amount" in value) return `${value.amount} ${value.currency || ""}`.trim();
  if ("offer_id" in value) return `offer ${value.offer_id}${value.status ? ` (${value.status})` : ""}`;
  if ("status" in value) return `${value.status}${value.endedBy ? ` (ended by ${value.endedBy})` : ""}`;
  return JSON.stringify(value);
}

export async function driftSection(afterReconcile) {
  const section = h("section", { id: "drift" }, h("h2", {}, "Drift: where Allegro differs from our offers"));
  const summary = h("div", { id: "drift-summary" });
  const kind = h("select", { id: "drift-kind", "aria-label": "Drift kind" },
    h("option", { value: "" }, "every kind"),
    Object.entries(DRIFT_KINDS).map(([k, words]) => h("option", { value: k }, words)));
  const line = h("div", { class: "result", hidden: true, id: "drift-result" });
  const list = h("div", { id: "drift-list" });
  const drawSummary = async () => {
    const found = await get("offers", offers("/drift/summary"));
    const kinds = Object.entries(found.by_kind).filter(([, n]) => n);
    const last = found.last_reconciliation;
    const events = found.events;
    fill(summary,
      h("p", { id: "drift-total", dataset: { total: String(found.total) } },
        found.total
          ? `${found.total} difference${found.total === 1 ? "" : "s"} found: ${kinds.map(([k, n]) => `${n} ${DRIFT_KINDS[k] || k}`).join(", ")}.`
          : "No drift found: Allegro shows every offer as we hold it."),
      kinds.length
        ? table(["Kind", "Found", "Offers", "Where seen", "Last seen"], found.by_kind_and_source, (r) => [
            DRIFT_KINDS[r.kind] || r.kind, r.count, r.offers,
            r.source === "events" ? "Allegro's offer events" : "a reconcile", when(r.last_seen_at),
          ])
        : null,
      h("p", { id: "drift-reconciled" },
        last
          ? `Last reconcile ${when(last.finished_at)} by ${last.requested_by}: ${last.counts.allegro_offers} offers on Allegro against ${last.counts.our_offers} of ours, ${last.counts.differences} difference${last.counts.differences === 1 ? "" : "s"}.`
          : "Never reconciled in full."),
      h("p", { id: "drift-events" },
        !events
          ? "Allegro's offer events have not been read for this shop yet."
          : events.lost_at
            ? `Allegro's offer events were lost ${when(events.lost_at)} (older than Allegro keeps): run a reconcile.`
            : `Allegro's offer events read ${when(events.read_at)} (${events.events_read} in all${events.lag_seconds ? `, ${duration(events.lag_seconds)} behind` : ""}).`),
    );
  };
  let next = null;
  const rows = [];
  const draw = () => list.replaceChildren(
    rows.length
      ? table(["SKU", "Kind", "Field", "Ours", "Allegro's", "Repair", "Seen", "When"], rows, (d) => [
          d.sku ? h("a", { href: `#/product?sku=${encodeURIComponent(d.sku)}` }, d.sku) : "-",
          DRIFT_KINDS[d.kind] || d.kind,
          d.field,
          driftValue(d.ours),
          driftValue(d.allegro),
          repairWords(d.repair),
          d.source === "events" ? `event ${d.event_type || ""}`.trim() : `reconcile ${d.reconciliation_id}`,
          when(d.seen_at),
        ])
      : h("p", {}, `No difference${kind.value ? ` of kind ${DRIFT_KINDS[kind.value]}` : ""} found.`),
    ...(next ? [h("button", { type: "button", onclick: () => act(line, more) }, "More differences")] : []),
  );
  const more = async () => {
    const page = await get("offers", offers("/drift"), { kind: kind.value, after: next, limit: 100 });
    rows.push(...page.items);
    next = page.next;
    draw();
    return `${rows.length} difference${rows.length === 1 ? "" : "s"}${next ? " so far" : ""}, newest first.`;
  };
  const load = async () => {
    rows.length = 0;
    next = null;
    await drawSummary();
    return more();
  };
  kind.addEventListener("change", () => act(line, load));
  append(section,
    h("p", { class: "muted" }, "Offers compares Allegro's offers with ours as Allegro's offer events arrive; a reconcile compares every offer at once. Each difference is repaired where it can be."),
    summary,
    action("Reconcile now", "operator", () => act(line, async () => {
      const done = await post("offers", offers("/reconcile"));
      await load();
      await afterReconcile();
      const kinds = Object.entries(done.by_kind).filter(([, n]) => n).map(([k, n]) => `${n} ${DRIFT_KINDS[k] || k}`);
      const repaired = Object.entries(done.repairs).filter(([, n]) => n).map(([r, n]) => `${n} ${REPAIRS[r] || r}`);
      return `Reconciled ${done.allegro_offers} offers on Allegro against ${done.our_offers} of ours: `
        + (done.differences
          ? `${done.differences} difference${done.differences === 1 ? "" : "s"} (${kinds.join(", ")}); repairs: ${repaired.join(", ") || "none"}; ${done.reported_only} reported only.`
          : "no difference.");
    })),
    can("operator") ? null : h("p", { class: "muted" }, "An operator can reconcile the shop's offers with Allegro now."),
    h("label", { for: "drift-kind" }, "Kind"), kind,
    h("button", { type: "button", onclick: () => act(line, load) }, "Refresh drift"),
    line, list,
  );
  try {
    await load();
  } catch (exc) {
    list.replaceChildren(h("p", { class: "result error" }, exc instanceof ApiError ? exc.words() : exc.message));
  }
  return section;
}

// --- offers by state ------------------------------------------------------------------------

export async function offersSection() {
  const section = h("section", { id: "offers" }, h("h2", {}, "Offers"));
  const state = h("select", { id: "offers-state", "aria-label": "Offer state" },
    h("option", { value: "" }, "any state"),
    Object.entries(OFFER_STATES).map(([s, words]) => h("option", { value: s }, words)));
  const line = resultLine();
  const list = h("div", { id: "offers-list" });
  let next = null;
  const rows = [];
  const draw = () => list.replaceChildren(
    rows.length
      ? table(["SKU", "State", "Why", "Allegro offer", "Updated"], rows, (o) => [
          h("a", { href: `#/product?sku=${encodeURIComponent(o.sku)}` }, o.sku),
          OFFER_STATES[o.state] || o.state,
          o.reason ? o.reason.message : o.waiting_for.map((w) => w.message).join("; ") || "-",
          o.offer_id ? `${o.offer_id}${o.allegro_status ? ` (${o.allegro_status})` : ""}` : "-",
          when(o.updated_at),
        ])
      : h("p", {}, "No offer in this state."),
    ...(next ? [h("button", { type: "button", onclick: () => act(line, more) }, "More")] : []),
  );
  const more = async () => {
    const page = await get("offers", offers("/offers"), { state: state.value, after: next, limit: 100 });
    rows.push(...page.items);
    next = page.next;
    draw();
    return `${rows.length} offers${next ? " so far" : ""}.`;
  };
  const load = () => act(line, async () => {
    rows.length = 0;
    next = null;
    return more();
  });
  state.addEventListener("change", load);
  append(section,
    h("label", { for: "offers-state" }, "State"), state,
    h("button", { type: "button", onclick: load }, "Refresh"),
    line, list);
  await load();
  return section;
}

// --- dry run and retry (operator) -----------------------------------------------------------

export function actionsSection(afterRetry) {
  const section = h("section", { id: "publication-actions" }, h("h2", {}, "Dry run and retry"));
  if (!can("operator")) {
    append(section, h("p", { class: "muted" }, "An operator can run a dry run and retry offers."));
    return section;
  }
  const line = h("div", { class: "result", hidden: true, id: "publication-result" });
  const out = h("div", { id: "dry-run" });
  const checkProducts = h("input", { type: "checkbox", id: "dry-run-products" });
  append(section,
    h("p", { class: "muted" }, "A dry run says what publishing now would do and which checks would fail; it writes nothing to Allegro."),
    h("label", { for: "dry-run-products" }, checkProducts, " also look each EAN up in Allegro's catalogue"),
    h("button", { type: "button", onclick: () => act(line, async () => {
      const run = await post("offers", offers("/publication/dry-run"), undefined, { check_products: checkProducts.checked });
      out.replaceChildren(dryRunView(run));
      const w = run.would;
      return `Dry run of ${run.examined} offers: would create ${w.create.count}, update ${w.update.count}, end ${w.end.count}, reactivate ${w.activate.count}; ${run.failing_checks.length} would fail a check.`;
    }) }, "Dry run"),
    h("button", { type: "button", onclick: () => act(line, async () => {
      const done = await post("offers", offers("/offers/retry"), {});
      await afterRetry();
      return done.retried
        ? `${done.retried} failed or not-listable offers are checked again.`
        : "Nothing to retry: no offer is failed or not listable.";
    }) }, "Retry failed and not listable"),
    line,
    out,
  );
  return section;
}

export function dryRunView(run) {
  const problems = (f) =>
    f.problems
      ? f.problems.map((p) => `${p.code}: ${p.detail}`).join("; ")
      : `waits for ${(f.waiting_for || []).join(", ")}`;
  return h("div", {},
    run.readiness_missing.length
      ? h("p", { class: "result error" }, `The shop is not ready: ${run.readiness_missing.map((i) => ITEM_WORDS[i.item] || i.item).join(", ")}.`)
      : null,
    table(["Would", "Offers", "SKUs (first 20)"], Object.entries(run.would), ([k, v]) => [k, v.count, v.skus.slice(0, 20).join(", ")]),
    run.failing_checks.length
      ? table(["SKU", "Would fail because"], run.failing_checks, (f) => [f.sku, problems(f)])
      : h("p", {}, "No check would fail."),
  );
}
