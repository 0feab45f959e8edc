"""The predict function: its resources (``resources``), the recognition core (``recognise``) and its routes,
one module per resource: predictions, history (records and corrections), status (health, stats,
metrics) and site (the page, its assets, the API document). ``app`` puts them together."""
