// Pricing: rules, simulation, a price explained, the circuit breaker's holds, FX rates.

import { h, table, shop, when, shopName, get, post, put, resultLine, act, action, needShop, append } from "./lib.js";
import { pricesView } from "./product.js";

// --- Pricing (pricing) ----------------------------------------------------------------------

export async function renderPricing(container) {
  if (needShop(container)) return;
  const base = `/accounts/${encodeURIComponent(shop())}`;
  const current = await get("pricing", `${base}/rules`);
  const holds = holdsSection(base);
  const line = resultLine();
  const outcome = h("div", { id: "simulation" });
  const editor = h("textarea", { id: "rules", rows: 18, "aria-label": "Rule set (JSON)" }, JSON.stringify(current.rules, null, 2));
  const draft = () => {
    try {
      return JSON.parse(editor.value);
    } catch (exc) {
      throw new Error(`the rule set is not valid JSON: ${exc.message}`);
    }
  };
  append(container,
    h("section", { id: "rules-section" },
      h("h2", {}, `Rules of ${shopName(shop())} (version ${current.version ?? "none"})`),
      current.pending_versions.length ? h("p", { class: "result error" }, `Held by the circuit breaker: versions ${current.pending_versions.join(", ")} (see Holds).`) : null,
      editor,
      action("Simulate", "operator", () => act(line, async () => {
        const result = await post("pricing", `${base}/simulations`, { rules: draft() });
        outcome.replaceChildren(simulationView(result));
        const breaker = result.would_trip_circuit_breaker ? "the circuit breaker WOULD hold this change" : "the circuit breaker would let it through";
        return `Simulated on ${result.products} products: ${result.changed} of ${result.considered} prices would change; ${breaker}. Nothing was saved.`;
      })),
      action("Save rules", "operator", () => act(line, async () => {
        const saved = await put("pricing", `${base}/rules`, draft());
        await holds.redraw();
        return saved.status === "pending"
          ? `Rules saved as version ${saved.version}, held by the circuit breaker: confirm or reject it under Holds.`
          : `Rules saved as version ${saved.version} and applied.`;
      })),
      line,
      outcome,
    ),
  );
  const sku = h("input", { id: "explain-sku" });
  const explainLine = resultLine();
  const explained = h("div");
  append(container,
    h("section", { id: "explain" },
      h("h2", {}, "Explain a price"),
      h("label", { for: "explain-sku" }, "SKU"),
      sku,
      h("button", { type: "button", onclick: () => act(explainLine, async () => {
        explained.replaceChildren(await pricesView(sku.value.trim()));
        return `Prices of ${sku.value.trim()} shown.`;
      }) }, "Show prices"),
      explainLine,
      explained,
    ),
    holds,
    await ratesSection(base),
  );
  await holds.redraw();
}

export function simulationView(result) {
  const { products, would_trip_circuit_breaker: trips, unpriced, below_floor: below, ...stats } = result;
  return h(
    "div",
    {},
    table(["Products", "Circuit breaker", "Not priced (by reason)", "Below floor"], [result], () => [
      products,
      trips ? "would hold" : "would pass",
      Object.entries(unpriced || {}).map(([r, n]) => `${r}: ${n}`).join(", ") || "none",
      Array.isArray(below) ? below.length : JSON.stringify(below),
    ]),
    h("pre", {}, JSON.stringify(stats, null, 2)),
  );
}

// The circuit breaker's pending holds; the result line stays when the list is drawn again.
export function holdsSection(base) {
  const line = resultLine();
  const list = h("div");
  const section = h("section", { id: "holds" }, h("h2", {}, "Holds (circuit breaker)"), list, line);
  const decide = (hold, verdict) =>
    act(line, async () => {
      await post("pricing", `${base}/holds/${hold.id}/${verdict}`);
      await section.redraw();
      return `Hold ${hold.id} ${verdict === "confirm" ? "confirmed: the change is applied" : "rejected: nothing changes"}.`;
    });
  const what = (hold) => {
    const stats = hold.stats || {};
    const change = hold.kind === "rules" ? `rule version ${hold.rule_version}` : `${hold.kind} change`;
    return `${change} by ${hold.created_by || "?"}: ${stats.big_moves ?? "?"} of ${stats.considered ?? "?"} prices would move by more than the limit`;
  };
  section.redraw = async () => {
    const holds = (await get("pricing", `${base}/holds`)).items;
    list.replaceChildren(
      holds.length
        ? table(["Held", "Since", ""], holds, (hold) => [
            what(hold),
            when(hold.created_at),
            h("span", {},
              action("Confirm", "operator", () => decide(hold, "confirm")),
              action("Reject", "operator", () => decide(hold, "reject")),
            ),
          ])
        : h("p", {}, "Nothing held."),
    );
  };
  return section;
}

export async function ratesSection(base) {
  const rates = (await get("pricing", `${base}/fx-rates`)).items;
  return h("section", { id: "fx" }, h("h2", {}, "Exchange rates"),
    rates.length
      ? table(["1 of", "is", "Source", "As of"], rates, (r) => [r.base, `${r.rate} ${r.quote}`, r.source, r.as_of])
      : h("p", {}, "No rate set: products in another currency are not priced."));
}
