"""Development tools outside the runtime package: the synthetic data generator, the
benchmark and the identity evaluation. The CLI finds their commands (`cdp generate`,
`cdp evaluate`) through the `cdp.commands` entry points; nothing in cdp/ or jobs/ imports
them."""
