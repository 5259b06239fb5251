"""The BigBuy connector: BigBuy's catalogue into the platform, orders out, tracking back."""
