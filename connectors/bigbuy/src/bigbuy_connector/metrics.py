"""The BigBuy connector's own metrics (prefix `mci_supplier_`, no per-order or per-SKU labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

orders = Counter(
    "mci_supplier_orders_total",
    "Attempts to send an order to the supplier, by the state each left the order in (sent, loss,"
    " out_of_stock, waiting_wallet, ...; retry: BigBuy unavailable or the outcome unknown).",
    ["state"],
)
waiting_wallet = Gauge(
    "mci_supplier_orders_waiting_wallet",
    "Orders the supplier refused for lack of funds, held until the wallet covers them.",
)
wallet_balance = Gauge(
    "mci_supplier_wallet_balance",
    "The supplier wallet's balance as last read, by currency (BigBuy's is EUR).",
    ["currency"],
)
