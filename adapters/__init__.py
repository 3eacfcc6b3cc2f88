"""Engine adapters: one module per engine behind the interface in :mod:`facade.adapters.base`."""
