"""PEtab-SciML: neural networks from the portable YAML format, their HDF5 arrays, and problems."""
