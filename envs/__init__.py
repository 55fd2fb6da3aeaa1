"""The preset catalogue (installed as ``romanus.presets``): one YAML file per named world."""
