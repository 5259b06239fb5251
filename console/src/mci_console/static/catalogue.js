// Catalogue: imports and their rejected rows, selection, listing settings, what is not
// listable and why, category mapping, coverage.

import { FIXES, COVERAGE_WORDS, h, table, can, shop, when, lines, shopName, ApiError, call, get, post, put, resultLine, act, action, append } from "./lib.js";

// --- Catalogue (catalog) --------------------------------------------------------------------

export async function renderCatalogue(container) {
  // What an import changes (unmapped categories, what is not listable) is drawn again after it.
  const rest = h("div");
  const drawRest = async () => {
    if (!shop()) {
      rest.replaceChildren(h("p", { class: "result error" }, "Add a shop first (Shops page)."));
      return;
    }
    rest.replaceChildren(
      await selectionSection(),
      await listingSection(),
      await notListableSection(),
      await mappingSection(),
      await coverageSection(),
    );
  };
  append(container, await importsSection(drawRest), rest);
  await drawRest();
}

export async function importsSection(afterImport) {
  const section = h("section", { id: "imports" }, h("h2", {}, "Imports"));
  const line = resultLine();
  const errorsBox = h("div", { id: "import-errors" });
  if (can("operator")) {
    const file = h("input", { type: "file", id: "import-file" });
    const format = h("select", { id: "import-format" }, ["jsonl", "csv", "bigbuy"].map((f) => h("option", {}, f)));
    const currency = h("input", { id: "import-currency", value: "EUR", size: 4 });
    append(section,
      h("label", { for: "import-file" }, "File"),
      file,
      h("label", { for: "import-format" }, "Format"),
      format,
      h("label", { for: "import-currency" }, "Currency"),
      currency,
      h("button", {
        type: "button",
        onclick: () =>
          act(line, async () => {
            if (!file.files.length) throw new Error("choose a file first");
            const report = await call("catalog", "POST", "/imports", {
              params: { format: format.value, currency: currency.value.trim() },
              body: file.files[0],
            });
            await refresh();
            await showErrors(report.import_id);
            await afterImport();
            return `Imported ${file.files[0].name}: ${report.valid} valid rows, ${report.invalid} rejected (${report.status}).`;
          }),
      }, "Import"),
    );
  }
  const list = h("div");
  append(section, line, list, errorsBox);

  async function showErrors(importId) {
    const page = await get("catalog", `/imports/${importId}/errors`, { limit: 100 });
    errorsBox.replaceChildren(
      h("h3", {}, `Rejected rows of import ${importId}`),
      page.items.length
        ? table(["Line", "SKU", "Field", "Why"], page.items, (e) => [e.line, e.sku || "-", e.field || "-", `${e.reason} (${e.code})`])
        : h("p", {}, "No row was rejected."),
      page.next !== null ? h("p", { class: "muted" }, "The first 100 are shown; the download has them all.") : null,
    );
  }

  async function refresh() {
    const imports = (await get("catalog", "/imports", { limit: 20 })).items;
    list.replaceChildren(
      imports.length
        ? table(["Started", "Format", "Status", "Rows", "Valid", "Rejected", ""], imports, (i) => [
            when(i.started_at),
            i.format,
            i.status + (i.error ? `: ${i.error}` : ""),
            i.rows,
            i.valid,
            i.invalid,
            i.invalid
              ? h(
                  "span",
                  {},
                  h("button", { type: "button", onclick: () => act(line, async () => { await showErrors(i.id); return `Showing the rejected rows of ${i.id}.`; }) }, "Show errors"),
                  h("button", { type: "button", onclick: () => act(line, () => downloadErrors(i.id)) }, "Download errors (CSV)"),
                )
              : "",
          ])
        : h("p", {}, "No import yet."),
    );
  }
  await refresh();
  return section;
}

export async function downloadErrors(importId) {
  const rows = [["line", "sku", "field", "code", "reason"]];
  let after = null;
  for (;;) {
    const params = after === null ? { limit: 1000 } : { after, limit: 1000 };
    const page = await get("catalog", `/imports/${importId}/errors`, params);
    for (const e of page.items) rows.push([e.line, e.sku, e.field, e.code, e.reason]);
    if (page.next === null || page.next === undefined) break;
    after = page.next;
  }
  const cell = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const csv = rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
  const link = h("a", {
    href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })),
    download: `import-${importId}-errors.csv`,
  });
  append(document.body, link);
  link.click();
  link.remove();
  return `Downloaded ${rows.length - 1} rejected rows as import-${importId}-errors.csv.`;
}

export async function selectionSection() {
  const id = encodeURIComponent(shop());
  const section = h("section", { id: "selection" }, h("h2", {}, `Selection of ${shopName(shop())}`));
  const [saved, listing] = await Promise.all([
    get("catalog", `/accounts/${id}/selection`),
    get("catalog", `/accounts/${id}/listing`),
  ]);
  const sel = saved.selection;
  const area = (name, values) => h("textarea", { id: name, rows: 3, "aria-label": name.replace(/-/g, " ") }, (values || []).join("\n"));
  const fields = {
    include: { categories: area("include-categories", sel.include.categories), brands: area("include-brands", sel.include.brands), skus: area("include-skus", sel.include.skus) },
    exclude: { categories: area("exclude-categories", sel.exclude.categories), brands: area("exclude-brands", sel.exclude.brands), skus: area("exclude-skus", sel.exclude.skus) },
  };
  const draft = () => ({
    include: Object.fromEntries(Object.entries(fields.include).map(([k, el]) => [k, lines(el.value)])),
    exclude: Object.fromEntries(Object.entries(fields.exclude).map(([k, el]) => [k, lines(el.value)])),
  });
  const line = resultLine();
  const preview = h("div", { id: "selection-preview" });
  append(section,
    h("p", {}, `${saved.saved ? "Saved" : "Nothing saved yet"}; ${saved.listed} products listed now; product cap ${listing.product_cap} (kept by ${listing.cap_order}).`),
    h("div", { class: "grid" },
      h("div", {}, h("h3", {}, "Include (one per line)"), "Categories", fields.include.categories, "Brands", fields.include.brands, "SKUs", fields.include.skus),
      h("div", {}, h("h3", {}, "Exclude"), "Categories", fields.exclude.categories, "Brands", fields.exclude.brands, "SKUs", fields.exclude.skus),
    ),
    h("button", {
      type: "button",
      onclick: () =>
        act(line, async () => {
          const result = await post("catalog", `/accounts/${id}/selection/preview`, draft(), { limit: 1 });
          const c = result.counts;
          const cap = result.cap;
          preview.replaceChildren(
            table(["Selected", "Would be listed", "Product cap", "Over the cap", "Entering", "Leaving"], [c], () => [
              c.selected, c.to_list, cap.product_cap, cap.over_cap, c.entering, c.leaving,
            ]),
            reasonsList(result.not_listable_by_reason),
          );
          const within = cap.over_cap
            ? `; the cap (${cap.product_cap}) leaves ${cap.over_cap} of them out`
            : `, within the cap (${cap.product_cap})`;
          return `Preview: ${c.to_list} of ${c.selected} selected products can be listed${within}.`;
        }),
    }, "Preview"),
    action("Save selection", "operator", () =>
      act(line, async () => {
        const result = await put("catalog", `/accounts/${id}/selection`, draft());
        return `Selection saved: ${result.listed} products listed, ${result.emitted_items} sent on.`;
      }),
    ),
    line,
    preview,
  );
  return section;
}

// What the shop may list: its product cap, which products stay within it, and the reasons
// it lists despite (screening and the cap are never waived).
export async function listingSection() {
  const id = encodeURIComponent(shop());
  const listing = await get("catalog", `/accounts/${id}/listing`);
  const section = h("section", { id: "listing" }, h("h2", {}, "Listing settings"));
  const cap = h("input", { id: "product-cap", type: "number", min: 1, value: listing.product_cap });
  const order = h("select", { id: "cap-order" },
    ["margin", "stock", "priority", "sku"].map((o) => h("option", { selected: o === listing.cap_order }, o)));
  const waivable = ["no_image", "no_ean", "no_weight", "missing_gpsr", "no_category"];
  const boxes = waivable.map((reason) =>
    h("input", { type: "checkbox", id: `waive-${reason}`, value: reason, checked: listing.not_blocking.includes(reason) }));
  const line = resultLine();
  append(section,
    h("label", { for: "product-cap" }, "Product cap"), cap,
    h("label", { for: "cap-order" }, "Within the cap, keep first by"), order,
    h("p", {}, "List even with:", boxes.map((box) =>
      h("label", { for: box.id }, box, ` ${box.value.replace(/_/g, " ")}`))),
    action("Save listing settings", "operator", () =>
      act(line, async () => {
        const saved = await put("catalog", `/accounts/${id}/listing`, {
          product_cap: Number(cap.value),
          cap_order: order.value,
          not_blocking: boxes.filter((b) => b.checked).map((b) => b.value),
          priority: listing.priority,
        });
        const waived = saved.not_blocking.map((r) => r.replace(/_/g, " ")).join(", ") || "nothing";
        return `Listing settings saved: cap ${saved.product_cap}, kept by ${saved.cap_order}, listed despite ${waived}; ${saved.emitted_items} products sent on.`;
      }),
    ),
    line,
  );
  return section;
}

export function reasonsList(byReason) {
  const entries = Object.entries(byReason || {});
  if (!entries.length) return h("p", {}, "Every selected product is listable.");
  return h("ul", {}, entries.map(([reason, count]) => h("li", {}, `${count} not listable: ${reason.replace(/_/g, " ")}. ${FIXES[reason] || ""}`)));
}

export async function notListableSection() {
  const id = encodeURIComponent(shop());
  const found = await get("catalog", `/accounts/${id}/not-listable`, { limit: 500 });
  const section = h("section", { id: "not-listable" }, h("h2", {}, `Not listable in ${shopName(shop())}: ${found.total} products`));
  if (!found.total) {
    append(section, h("p", {}, "Every product of the selection can be listed."));
    return section;
  }
  for (const [reason, count] of Object.entries(found.by_reason).sort((a, b) => b[1] - a[1])) {
    const products = found.items.filter((p) => p.reasons.includes(reason));
    const words = products.length ? products[0].in_words[products[0].reasons.indexOf(reason)] : reason;
    append(section,
      h(
        "div",
        { class: "reason", dataset: { reason } },
        h("h3", {}, `${words} - ${count} product${count === 1 ? "" : "s"}`),
        h("p", { class: "fix" }, `How to fix: ${FIXES[reason] || "see the product's data."}`),
        h("ul", {}, products.slice(0, 50).map((p) => h("li", {}, h("a", { href: `#/product?sku=${encodeURIComponent(p.sku)}` }, p.sku), ` ${p.title || ""}`))),
      ),
    );
  }
  return section;
}

export async function mappingSection() {
  const section = h("section", { id: "mapping" }, h("h2", {}, "Category mapping"));
  // Largest first: the first page is the 100 that matter most.
  const unmapped = await get("catalog", "/category-mappings/unmapped", { limit: 100 });
  const line = resultLine();
  append(section,
    unmapped.items.length
      ? table(["Supplier category without an Allegro category", "Products"], unmapped.items, (c) => [c.category_path, c.products])
      : h("p", {}, "Every supplier category is mapped."),
    unmapped.next ? h("p", { class: "muted" }, "The 100 largest unmapped categories are shown.") : null,
  );
  if (can("operator")) {
    const category = h("input", { id: "map-category", size: 40 });
    const allegro = h("input", { id: "map-allegro", size: 10 });
    append(section,
      h("label", { for: "map-category" }, "Supplier category"),
      category,
      h("label", { for: "map-allegro" }, "Allegro category id"),
      allegro,
      h("button", {
        type: "button",
        onclick: () =>
          act(line, async () => {
            const done = await put("catalog", "/category-mappings", { supplier_category: category.value, allegro_category_id: allegro.value.trim() });
            return `Mapped ${done.supplier_category} to Allegro category ${done.allegro_category_id}; ${done.emitted_items} products sent on.`;
          }),
      }, "Map"),
    );
  }
  append(section, line);
  return section;
}

export async function coverageSection() {
  const id = encodeURIComponent(shop());
  const section = h("section", { id: "coverage" }, h("h2", {}, "Coverage in Allegro's catalogue"));
  const line = resultLine();
  const body = h("div");
  const show = (report) => {
    const p = report.progress;
    body.replaceChildren(
      h("p", {}, `Report ${report.report_id}: ${report.status}, started ${when(report.started_at)}. `,
        h("progress", { max: p.total || 1, value: p.processed, "aria-label": "coverage progress" }),
        ` ${p.processed} of ${p.total}`),
      table(["Of the selection", "Products"], Object.entries(report.counts), ([k, n]) => [COVERAGE_WORDS[k] || k, n]),
      report.error ? h("p", { class: "result error" }, report.error) : null,
    );
  };
  const follow = async (reportId) => {
    for (;;) {
      const report = await get("catalog", `/coverage/${reportId}`);
      show(report);
      if (report.status !== "running" || !document.body.contains(body)) return report;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  try {
    show(await get("catalog", `/accounts/${id}/coverage`));
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 404)) throw exc;
    append(body, h("p", {}, "No coverage report yet."));
  }
  append(section,
    body,
    action("Check coverage now", "operator", () =>
      act(line, async () => {
        const started = await post("catalog", `/accounts/${id}/coverage`);
        const report = await follow(started.report_id);
        return `Coverage report ${report.report_id}: ${report.status}.`;
      }),
    ),
    line,
  );
  return section;
}
